// Automatic versioning (`automatic-version-prefix` / `-suffix`): the next commit version from
// the prefix and the previous commit's version, exactly as rpm-ostree's util_next_version
// (src/libpriv/rpmostree-util.cxx): `22` → `22`, `22.1`, `22.2`…; a `<date:FORMAT>` tag is
// rendered with the current UTC time and always gets a counter (`40.20240501.dev.0`, `.1`…).

import { UpdaterError } from '../../common/errors.ts';
import { formatGDateTime } from './gdate-format.ts';

export interface NextVersionOptions {
  /** `automatic-version-suffix`: one ASCII character; "" or undefined means ".". */
  suffix?: string;
  /** The time `<date:…>` tags render (UTC); defaults to now. */
  now?: Date;
  /** Called for a tag other than `date` (rpm-ostree prints "ignoring unknown tag"). */
  onWarning?: (message: string) => void;
}

// rpm-ostree's VERSION_TAG_REGEX; `.*` is greedy, so it spans to the last `>`.
const VERSION_TAG = /<([a-zA-Z]+):(.*)?>/;

const U64 = (1n << 64n) - 1n;

/**
 * g_ascii_strtoull(s, NULL, 10): skips ASCII spaces, takes an optional sign and the leading
 * decimal digits (0 when there are none); overflow saturates; a '-' negates modulo 2^64.
 */
function asciiStrtoull(s: string): bigint {
  const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]*)/.exec(s)!;
  if (m[2] === '') return 0n;
  let v = BigInt(m[2]!);
  if (v > U64) v = U64;
  return m[1] === '-' ? (-v) & U64 : v;
}

/** rpm-ostree's increment_version(): `start` is the counter to use when none can be continued. */
function incrementVersion(suffix: string, last: string | undefined, prefix: string, start: string | undefined): string {
  const incremented = `${prefix}${suffix}${start}`;
  if (last === undefined || !last.startsWith(prefix)) return start !== undefined ? incremented : prefix;
  if (last === prefix) return start !== undefined ? incremented : `${prefix}${suffix}1`;
  if (last[prefix.length] !== suffix) return start !== undefined ? incremented : prefix;
  const n = (asciiStrtoull(last.slice(prefix.length + 1)) + 1n) & U64;
  return `${prefix}${suffix}${n}`;
}

/**
 * The version for the next commit. `lastVersion` is the previous commit's `version` metadata
 * (undefined or "" when there is none). Throws TREEFILE_BAD_VERSION_FORMAT when a `<date:…>`
 * format uses a conversion GLib does not support.
 */
export function nextAutomaticVersion(prefix: string, lastVersion: string | undefined, opts: NextVersionOptions = {}): string {
  const suffix = opts.suffix === undefined || opts.suffix === '' ? '.' : opts.suffix;
  if (suffix.length !== 1) {
    throw new UpdaterError('TREEFILE_INVALID', `Invalid automatic-version-suffix, must be exactly one ASCII character: ${suffix}`);
  }
  let rendered = prefix;
  let dateTag = false;
  const m = VERSION_TAG.exec(prefix);
  if (m !== null) {
    if (m[1] === 'date') {
      const fmt = m[2] ?? '';
      const date = formatGDateTime(opts.now ?? new Date(), fmt);
      if (date === undefined) {
        throw new UpdaterError('TREEFILE_BAD_VERSION_FORMAT', `automatic-version-prefix: error in formatting date string (${fmt})`,
          { hint: 'supported conversions are GLib g_date_time_format()\'s, e.g. %Y%m%d' });
      }
      rendered = prefix.slice(0, m.index) + date + prefix.slice(m.index + m[0].length);
      dateTag = true;
    } else {
      opts.onWarning?.(`ignoring unknown tag ${m[1]}`);
    }
  }
  const last = lastVersion === undefined || lastVersion === '' ? undefined : lastVersion;
  return incrementVersion(suffix, last, rendered, dateTag ? '0' : undefined);
}
