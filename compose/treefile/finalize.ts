// After merging: variable substitution, the checks rpm-ostree makes on the flattened
// treefile, defaults, and the normalised `Treefile` with its kebab-case serialisation.

import { UpdaterError } from '../../common/errors.ts';
import { checkSubstitutionVariables, substituteVariables } from './substitute.ts';
import type { JsonValue, Treefile, TreefileConfig, VarValue } from './types.ts';
import { compareBytes } from './values.ts';

export interface FinalizeInput {
  /** Absolute path of the top-level treefile. */
  path: string;
  directory: string;
  sources: string[];
  basearch: string;
  config: TreefileConfig;
}

/** Substitutes variables in the keys rpm-ostree substitutes (ref, versions, metadata, …). */
export function substituteTreefileConfig(config: TreefileConfig, file: string): TreefileConfig {
  const vars: Record<string, VarValue> = config.variables ?? {};
  const bad = checkSubstitutionVariables(vars);
  if (bad !== undefined) throw new UpdaterError('TREEFILE_INVALID', `${file}: variables.${bad.name}: ${bad.error}`);
  const sub = (s: string): string => substituteVariables(s, vars);
  const subMap = (m: Record<string, JsonValue>): Record<string, JsonValue> =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, typeof v === 'string' ? sub(v) : v]));
  const out: TreefileConfig = { ...config };
  if (out.ref !== undefined) out.ref = sub(out.ref);
  if (out['automatic-version-prefix'] !== undefined) out['automatic-version-prefix'] = sub(out['automatic-version-prefix']);
  if (out['mutate-os-release'] !== undefined) out['mutate-os-release'] = sub(out['mutate-os-release']);
  if (out['platform-module'] !== undefined) out['platform-module'] = sub(out['platform-module']);
  if (out.metadata !== undefined) out.metadata = subMap(out.metadata);
  if (out['add-commit-metadata'] !== undefined) out['add-commit-metadata'] = subMap(out['add-commit-metadata']);
  if (out.rojig !== undefined) {
    const r = out.rojig;
    out.rojig = { ...r, name: sub(r.name), summary: sub(r.summary), ...(r.description === undefined ? {} : { description: sub(r.description) }) };
  }
  return out;
}

/** Checks that need the whole merged treefile. */
function validateMerged(config: TreefileConfig, file: string): void {
  const excluded = new Set(config['exclude-packages'] ?? []);
  const both = (config.packages ?? []).filter((p) => excluded.has(p));
  if (both.length > 0) {
    throw new UpdaterError('TREEFILE_INVALID',
      `${file}: package${both.length > 1 ? 's' : ''} ${both.join(', ')} listed in both packages and exclude-packages`);
  }
  if (config['machineid-compat'] === false && (config.units?.length ?? 0) > 0) {
    throw new UpdaterError('TREEFILE_INVALID', `${file}: 'units' directive is incompatible with machineid-compat = false`,
      { hint: 'enable units with systemd presets instead' });
  }
}

/** The flattened treefile in rpm-ostree's serialisation (variables and repovars are not serialised). */
export function serializeTreefileConfig(config: TreefileConfig): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const key of Object.keys(config).sort(compareBytes)) {
    const v = (config as Record<string, unknown>)[key];
    if (v === undefined || key === 'variables' || key === 'repovars') continue;
    switch (key) {
      case 'add-files':
        out[key] = config['add-files']!.map((f) => [f.name, f.dest]);
        break;
      case 'postprocess-script':
        out[key] = config['postprocess-script']!.name;
        break;
      case 'remove-from-packages':
        out[key] = config['remove-from-packages']!.map((r) => [r.package, ...r.patterns]);
        break;
      case 'check-passwd':
      case 'check-groups': {
        const c = config[key]!;
        out[key] = c.type === 'file' ? { type: 'file', filename: c.filename } : (c as unknown as JsonValue);
        break;
      }
      default:
        out[key] = sortJson(v as JsonValue);
    }
  }
  return out;
}

/** Deep copy with mapping keys sorted (BTreeMap order), so the serialisation is canonical. */
function sortJson(v: JsonValue): JsonValue {
  if (Array.isArray(v)) return v.map(sortJson);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort(compareBytes).map((k) => [k, sortJson(v[k]!)]));
  }
  return v;
}

/** Deprecation notices rpm-ostree prints (print_deprecation_warnings). */
function deprecationWarnings(tf: Treefile): string[] {
  const out: string[] = [];
  if (tf.bootLocation !== 'modules') out.push(`boot-location: "${tf.bootLocation}" is deprecated, use boot-location: modules`);
  if ((tf.initramfsArgs?.length ?? 0) > 0) out.push('initramfs-args is deprecated, use /etc/dracut.conf.d');
  if (tf.cliwrap) out.push('cliwrap is deprecated and slated for removal');
  return out;
}

/** Substitutes, validates and normalises a merged configuration. */
export function finalizeTreefile(input: FinalizeInput): Treefile {
  const c = substituteTreefileConfig(input.config, input.path);
  validateMerged(c, input.path);
  const tf: Treefile = {
    path: input.path,
    directory: input.directory,
    sources: input.sources,
    basearch: input.basearch,
    ...(c.ref === undefined ? {} : { ref: c.ref }),
    edition: c.edition ?? '2014',
    ...(c.releasever === undefined ? {} : { releasever: String(c.releasever) }),
    variables: c.variables ?? {},
    repovars: c.repovars ?? {},
    ...(c['automatic-version-prefix'] === undefined ? {} : { automaticVersionPrefix: c['automatic-version-prefix'] }),
    automaticVersionSuffix: c['automatic-version-suffix'] ?? '.',
    ...(c['mutate-os-release'] === undefined ? {} : { mutateOsRelease: c['mutate-os-release'] }),
    addCommitMetadata: c['add-commit-metadata'] ?? {},
    metadata: c.metadata ?? {},
    ...(c['gpg-key'] === undefined ? {} : { gpgKey: c['gpg-key'] }),
    ...(c.rojig === undefined ? {} : { rojig: c.rojig }),
    ...(c.repos === undefined ? {} : { repos: c.repos }),
    lockfileRepos: c['lockfile-repos'] ?? [],
    repoPackages: c['repo-packages'] ?? [],
    packages: c.packages ?? [],
    excludePackages: c['exclude-packages'] ?? [],
    recommends: c.recommends ?? true,
    documentation: c.documentation ?? true,
    ...(c['install-langs'] === undefined ? {} : { installLangs: c['install-langs'] }),
    ...(c['platform-module'] === undefined ? {} : { platformModule: c['platform-module'] }),
    selinux: c.selinux ?? true,
    selinuxLabelVersion: c['selinux-label-version'] ?? 0,
    ignoreDevices: c['ignore-devices'] ?? true,
    ima: c.ima ?? false,
    bootLocation: c['boot-location'] ?? 'new',
    tmpIsDir: c['tmp-is-dir'] ?? false,
    optUsrlocal: c['opt-usrlocal'] ?? 'var',
    machineidCompat: c['machineid-compat'] ?? true,
    readonlyExecutables: c['readonly-executables'] ?? false,
    container: c.container ?? false,
    noInitramfs: c['no-initramfs'] ?? false,
    ...(c['initramfs-args'] === undefined ? {} : { initramfsArgs: c['initramfs-args'] }),
    units: c.units ?? [],
    ...(c['default-target'] === undefined ? {} : { defaultTarget: c['default-target'] }),
    removeFiles: c['remove-files'] ?? [],
    removeFromPackages: c['remove-from-packages'] ?? [],
    addFiles: c['add-files'] ?? [],
    ostreeLayers: c['ostree-layers'] ?? [],
    ostreeOverrideLayers: c['ostree-override-layers'] ?? [],
    // bdb/ndb/sqlite are legacy spellings that rpm-ostree treats as `target`; only `host` differs.
    rpmdb: c.rpmdb ?? 'target',
    rpmdbNormalize: c['rpmdb-normalize'] ?? false,
    cliwrap: c.cliwrap ?? false,
    cliwrapBinaries: c['cliwrap-binaries'] ?? [],
    ...(c['container-cmd'] === undefined ? {} : { containerCmd: c['container-cmd'] }),
    repoMetadata: c['repo-metadata'] ?? 'inline',
    advisoriesMetadata: c['advisories-metadata'] ?? 'inline',
    sysusers: c.sysusers ?? 'compose-auto',
    etcGroupMembers: c['etc-group-members'] ?? [],
    preservePasswd: c['preserve-passwd'] ?? true,
    checkPasswd: c['check-passwd'] ?? { type: 'previous' },
    checkGroups: c['check-groups'] ?? { type: 'previous' },
    ignoreRemovedUsers: c['ignore-removed-users'] ?? [],
    ignoreRemovedGroups: c['ignore-removed-groups'] ?? [],
    postprocess: c.postprocess ?? [],
    ...(c['postprocess-script'] === undefined ? {} : { postprocessScript: c['postprocess-script'] }),
    flattened: serializeTreefileConfig(c),
    warnings: [],
  };
  tf.warnings = deprecationWarnings(tf);
  return tf;
}
