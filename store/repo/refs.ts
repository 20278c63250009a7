// Ref names and refspecs (ostree-core.c ostree_validate_rev / parse_refspec).
// A ref is `/`-separated segments of `[\w\d][-._\w\d]*`; a refspec is `[REMOTE:]REF`.

import { UpdaterError } from '../../common/errors.ts';
import { isChecksum } from '../objects/index.ts';

const SEGMENT = /^[\w\d][-._\w\d]*$/;
const REMOTE = /^[\w\d][-._\w\d]*$/;

/** Throws STORE_INVALID_REF unless `ref` is a valid ref name. */
export function validateRef(ref: string): string {
  if (ref === '' || isChecksum(ref) || !ref.split('/').every((s) => SEGMENT.test(s))) {
    throw new UpdaterError('STORE_INVALID_REF', `invalid ref name '${ref}'`, {
      hint: 'ref names are /-separated segments of letters, digits, "-", "." and "_", not starting with "-" or "."',
    });
  }
  return ref;
}

export function validateRemoteName(name: string): string {
  if (!REMOTE.test(name)) throw new UpdaterError('STORE_INVALID_REMOTE', `invalid remote name '${name}'`);
  return name;
}

/** Splits `[REMOTE:]REF`; REF is validated. */
export function parseRefspec(refspec: string): { remote: string | null; ref: string } {
  const i = refspec.indexOf(':');
  if (i < 0) return { remote: null, ref: validateRef(refspec) };
  return { remote: validateRemoteName(refspec.slice(0, i)), ref: validateRef(refspec.slice(i + 1)) };
}

export function formatRefspec(remote: string | null, ref: string): string {
  return remote === null ? ref : `${remote}:${ref}`;
}
