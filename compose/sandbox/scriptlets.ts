// RPM scriptlets run the way rpm-ostree runs them (src/libpriv/rpmostree-scripts.cxx,
// rust/src/scripts.rs): only %prein, %post, %posttrans and %transfiletriggerin execute,
// each phase across all packages before the next; a built-in list is skipped; a few Lua or
// broken scripts have shell replacements; other Lua, %triggerprein and %triggerin are errors.
//
// Checklist for a new built-in rule: add it to SKIPPED or REPLACEMENTS with the reason,
// then a case in scriptlets.test.ts.

import { mkdirSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prefixError, UpdaterError } from '../../common/errors.ts';
import { runSandboxed } from './bwrap.ts';
import { resolveInRoot } from './resolve.ts';

/** Script kinds, named as compose/rpm names them (librpm's tag names). */
export type ScriptletKind =
  | 'pretrans' | 'prein' | 'postin' | 'preun' | 'postun' | 'posttrans' | 'verify'
  | 'triggerprein' | 'triggerin' | 'triggerun' | 'triggerpostun'
  | 'filetriggerin' | 'filetriggerun' | 'filetriggerpostun'
  | 'transfiletriggerin' | 'transfiletriggerun' | 'transfiletriggerpostun';

/** One scriptlet of one package. */
export interface Scriptlet {
  /** Package name (the skip and replacement tables are keyed on it). */
  packageName: string;
  /** `name-[epoch:]version-release.arch`, for messages. */
  packageNevra: string;
  /** Package release, for release-specific rules (e.g. `.el7`). */
  release?: string;
  kind: ScriptletKind;
  /** argv of the interpreter, e.g. ['/bin/sh'] or ['<lua>']. */
  interpreter: string[];
  body: string;
  /** RPMSCRIPT flags (1 = macro expansion, 2 = queryformat expansion). */
  flags?: number;
}

/** What rpm-ostree does with a scriptlet. */
export type ScriptletPlan =
  | { action: 'run'; interpreter: string[]; body: string; replaced: boolean }
  | { action: 'skip'; reason: string }
  | { action: 'unsupported'; reason: string };

export interface ScriptletPlanOptions {
  /** Kernel %posttrans runs only with `boot-location: kernel-install`. */
  bootLocation?: string;
  /** `install-langs` (RPM %_install_langs), used by the glibc locale replacement. */
  installLangs?: string[];
}

const FLAG_EXPAND = 1;
const FLAG_QFORMAT = 2;
const LUA = '<lua>';

/** `foo.post`: rpm-ostree's script id (its descriptions are %prein, %post, %posttrans, ...). */
export function scriptletId(packageName: string, kind: ScriptletKind): string {
  return `${packageName}.${kind === 'postin' ? 'post' : kind}`;
}

/** The kind as rpm-ostree names it in messages (`%post`). */
export function scriptletDesc(kind: ScriptletKind): string {
  return `%${kind === 'postin' ? 'post' : kind}`;
}

/** package.script ids never run: rpm-ostree owns what they do, or they are legacy workarounds. */
const SKIPPED = new Set([
  'glibc.prein', 'glibc-headers.prein', 'coreutils.prein', 'ca-certificates.prein', 'libgcc.post',
  'filesystem.posttrans', 'filesystem.transfiletriggerin', 'setup.post', 'pinentry.prein',
  'fedora-release.posttrans', 'vagrant.prein', 'vagrant-libvirt.prein', 'bash.post', 'gdb.prein',
  // daemon-reload and man-db cache rebuilds make no sense offline
  'systemd.transfiletriggerin', 'man-db.transfiletriggerin',
  'nfs-utils.post', 'microcode_ctl.post', 'microcode_ctl.posttrans',
]);

/** Kernel packages whose %posttrans installs to /boot and runs dracut: the compose does that. */
const KERNEL_PACKAGE = /^kernel(-(core|modules|debug|debug-core|debug-modules|rt|rt-core|rt-modules|16k|16k-core|64k|64k-core|automotive|automotive-core|redhat|redhat-core))?$|^kernel-uek|^kernel-(lt|ml)(-|$)/;

const GCONV_CACHE = `for libdir in /usr/lib64 /usr/lib; do
  if [ -d "$libdir/gconv" ]; then exec iconvconfig -o "$libdir/gconv/gconv-modules.cache" --nostdlib "$libdir/gconv"; fi
done
`;
const OS_RELEASE_LINK = (variant: string): string =>
  `set -eu\nln -sf os.release.d/os-release-${variant} /usr/lib/os-release\n`;

/** Shell stand-ins for the Lua scriptlets rpm-ostree also replaces (used only for Lua ones). */
function luaReplacementFor(id: string, opts: ScriptletPlanOptions): { interpreter: string[]; body: string } | undefined {
  const sh = (body: string) => ({ interpreter: ['/usr/bin/sh'], body });
  switch (id) {
    case 'fedora-release.post':
      return sh('set -eu\nif ! test -L /usr/lib/os-release; then ln -s os.release.d/os-release-fedora /usr/lib/os-release; fi\n');
    case 'fedora-release-atomichost.post': return sh(OS_RELEASE_LINK('atomichost'));
    case 'fedora-release-coreos.post': return sh(OS_RELEASE_LINK('coreos'));
    case 'fedora-release-workstation.post': return sh(OS_RELEASE_LINK('workstation'));
    // Rebuild the locale archive for the configured languages from the template.
    case 'glibc-all-langpacks.posttrans':
    case 'glibc-common.post': {
      const langs = (opts.installLangs ?? ['all']).join(':');
      return sh(`set -eu\ntmpl=/usr/lib/locale/locale-archive.tmpl\nif test -s "$tmpl"; then\n  cp -a "$tmpl" "$tmpl.new" && mv "$tmpl.new" "$tmpl"\n  exec /usr/sbin/build-locale-archive --install-langs '${langs}'\nfi\n`);
    }
    case 'glibc-common.transfiletriggerin':
    case 'glibc-common.transfiletriggerpostun':
      return sh('exec /sbin/ldconfig\n');
    // Only the iconv module cache update matters on a freshly assembled tree.
    case 'glibc.post':
    case 'glibc-gconv-extra.post':
      return { interpreter: ['/usr/bin/bash'], body: GCONV_CACHE };
    // The host's FIPS mode says nothing about the tree: bake in the DEFAULT policy.
    case 'crypto-policies.post':
      return {
        interpreter: ['/usr/bin/bash'],
        body: 'cp /usr/share/crypto-policies/default-config /etc/crypto-policies/config\n'
          + 'echo DEFAULT > /etc/crypto-policies/state/current\n'
          + 'for f in /usr/share/crypto-policies/DEFAULT/*; do\n  ln -sf "$f" "/etc/crypto-policies/back-ends/$(basename "$f" .txt).config"\ndone\n',
      };
    case 'authselect-libs.prein':
      return { interpreter: ['/usr/bin/bash'], body: 'touch /var/lib/rpm-state/authselect.force\n' };
    default:
      return undefined;
  }
}

/** Shell scriptlets known to be broken in particular releases: not run. */
function isKnownBroken(id: string, release: string | undefined): boolean {
  if (id === 'pam.post') return release?.endsWith('.el7') ?? false;
  if (id === 'nvme-cli.post') return (release?.endsWith('.el8') || release?.endsWith('.el8_2')) ?? false;
  return false;
}

/** Decides, without running anything, what happens to `s` (pure). */
export function planScriptlet(s: Scriptlet, opts: ScriptletPlanOptions = {}): ScriptletPlan {
  const id = scriptletId(s.packageName, s.kind);
  const desc = scriptletDesc(s.kind);
  switch (s.kind) {
    case 'prein': case 'postin': case 'posttrans': case 'transfiletriggerin':
      break;
    case 'triggerprein': case 'triggerin':
      return { action: 'unsupported', reason: `Package '${s.packageName}' has (currently) unsupported script of type '${desc}'` };
    default:
      // Nothing is ever uninstalled or verified in RPM terms: every compose is a fresh tree.
      return { action: 'skip', reason: `${desc} scripts are not run` };
  }
  if (SKIPPED.has(id)) return { action: 'skip', reason: `${id} is on the built-in skip list` };
  if (s.kind === 'posttrans' && KERNEL_PACKAGE.test(s.packageName) && opts.bootLocation !== 'kernel-install') {
    return { action: 'skip', reason: `${id}: the compose installs the kernel and builds the initramfs itself` };
  }
  if (s.interpreter[0] === LUA) {
    const repl = luaReplacementFor(id, opts);
    if (repl !== undefined) return { action: 'run', interpreter: repl.interpreter, body: repl.body, replaced: true };
    if (s.body.split('\n').slice(0, 10).some((l) => l.includes('-- rpm-ostree-skip'))) {
      return { action: 'skip', reason: `${id} is a Lua script marked "-- rpm-ostree-skip"` };
    }
    return { action: 'unsupported', reason: `Package '${s.packageName}' has (currently) unsupported ${LUA} script in '${desc}'` };
  }
  if (isKnownBroken(id, s.release)) return { action: 'skip', reason: `${id} of release ${s.release} is known to be broken` };
  // rpm-ostree skips scriptlets that have an interpreter but no body (`%post -p /sbin/ldconfig`).
  if (s.body === '') return { action: 'skip', reason: `${id} has no script body` };
  if ((s.flags ?? 0) & (FLAG_EXPAND | FLAG_QFORMAT)) {
    return { action: 'unsupported', reason: `Package '${s.packageName}' ${desc} asks for macro or queryformat expansion (-e/-q), which is not supported` };
  }
  return { action: 'run', interpreter: s.interpreter, body: s.body, replaced: false };
}

/**
 * Fails, before anything runs, when a package has a scriptlet the compose cannot run
 * (rpm-ostree's rpmostree_script_txn_validate, extended to Lua and expansion flags).
 */
export function validateScriptlets(scripts: Scriptlet[], opts: ScriptletPlanOptions = {}): void {
  for (const s of scripts) {
    const plan = planScriptlet(s, opts);
    if (plan.action === 'unsupported') {
      throw new UpdaterError('SCRIPT_UNSUPPORTED', `${s.packageNevra}: ${plan.reason}`, {
        hint: 'see https://github.com/coreos/rpm-ostree/issues/749; a Lua script can opt out with a "-- rpm-ostree-skip" comment in its first 10 lines',
      });
    }
  }
}

export interface RunScriptletOptions extends ScriptletPlanOptions {
  /** The script's $1: "1" for an install (the only action a compose has), "2" for an update. */
  arg?: string;
  /** Host directory bound at /var/lib/rpm-state (shared by the scripts of one transaction). */
  rpmStateDir?: string;
  /** Standard input (file triggers get their matched paths). */
  stdin?: string;
  timeoutMs?: number;
  onOutput?: (line: string) => void;
}

/**
 * Runs one scriptlet in `rootfs` (unless rpm-ostree would skip it): the interpreter gets
 * `/proc/self/fd/5` (the body) and `$1`. Returns whether it ran. Errors name the package and
 * the scriptlet: SCRIPT_UNSUPPORTED, SCRIPT_NO_INTERPRETER, SCRIPT_FAILED, SCRIPT_TIMEOUT.
 */
export async function runScriptlet(rootfs: string, s: Scriptlet, opts: RunScriptletOptions = {}): Promise<{ ran: boolean; output: string }> {
  const plan = planScriptlet(s, opts);
  if (plan.action === 'skip') return { ran: false, output: '' };
  const desc = scriptletDesc(s.kind);
  if (plan.action === 'unsupported') throw new UpdaterError('SCRIPT_UNSUPPORTED', `${s.packageNevra}: ${plan.reason}`);
  const interp = plan.interpreter[0]!;
  if (!interp.startsWith('/') || resolveInRoot(rootfs, interp) === null) {
    throw new UpdaterError('SCRIPT_NO_INTERPRETER', `Running ${desc} for ${s.packageName} (${s.packageNevra}): interpreter ${interp} is not in the tree`, {
      hint: `the package that provides ${interp} must be installed (it is usually a Requires(${s.kind === 'prein' ? 'pre' : 'post'}) of ${s.packageName})`,
    });
  }
  const binds = [];
  if (opts.rpmStateDir !== undefined) {
    // The mount point must exist before /var is bound read-only.
    mkdirSync(join(rootfs, 'var/lib/rpm-state'), { recursive: true });
    binds.push({ src: opts.rpmStateDir, dest: '/var/lib/rpm-state', rw: true });
  }
  const label = scriptletId(s.packageName, s.kind);
  try {
    const r = await runSandboxed(rootfs, {
      argv: [...plan.interpreter, '/proc/self/fd/5', ...(s.kind === 'transfiletriggerin' ? [] : [opts.arg ?? '1'])],
      label,
      mutability: 'mutable',
      var: 'ro',
      maskRpmdb: true,
      ostreeBooted: true,
      binds,
      env: { SYSTEMD_OFFLINE: '1' },
      script: plan.body,
      stdin: opts.stdin,
      timeoutMs: opts.timeoutMs,
      onOutput: opts.onOutput,
    });
    return { ran: true, output: r.output };
  } catch (err) {
    throw prefixError(`Running ${desc} for ${s.packageName} (${s.packageNevra})`, err);
  }
}

/** A package's scriptlets and file triggers, as the phase runner needs them. */
export interface ScriptletPackage {
  name: string;
  nevra: string;
  release?: string;
  scripts: Array<{ kind: ScriptletKind; interpreter: string[]; body: string; flags?: number }>;
  /** %transfiletriggerin and friends: `prefixes` are the path conditions. */
  fileTriggers?: Array<{ kind: ScriptletKind; interpreter: string[]; body: string; flags?: number; prefixes: string[] }>;
}

export interface ScriptletPhaseOptions extends Omit<RunScriptletOptions, 'rpmStateDir' | 'stdin' | 'arg'> {
  /** Called between %pre and %post: rpm-ostree applies header ownership here (users now exist). */
  afterPre?: () => Promise<void>;
  /** Progress: `Running pre scripts... N done`. */
  onPhase?: (phase: 'pre' | 'post' | 'posttrans' | 'transfiletriggerin', ran: number) => void;
}

/** Lists regular files under a usr/ prefix (not usr/local) as absolute paths, sorted. */
async function matchTriggerPrefix(rootfs: string, prefix: string): Promise<string[]> {
  const rel = prefix.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!rel.startsWith('usr/') || rel.startsWith('usr/local')) return [];
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let ents;
    try {
      ents = await readdir(join(rootfs, dir), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) await walk(p);
      else out.push(`/${p}`);
    }
  };
  await walk(rel);
  return out.sort();
}

/**
 * Runs every package's scriptlets in rpm-ostree's phase order: all %pre, then `afterPre`,
 * all %post, all %posttrans, then %transfiletriggerin (matched paths on stdin), each phase
 * in the given (RPM transaction) order. Unsupported scriptlets fail before any runs.
 */
export async function runScriptletPhases(rootfs: string, packages: ScriptletPackage[], opts: ScriptletPhaseOptions = {}): Promise<Record<'pre' | 'post' | 'posttrans' | 'transfiletriggerin', number>> {
  const toScriptlet = (p: ScriptletPackage, sc: ScriptletPackage['scripts'][number]): Scriptlet =>
    ({ packageName: p.name, packageNevra: p.nevra, release: p.release, kind: sc.kind, interpreter: sc.interpreter, body: sc.body, flags: sc.flags });
  validateScriptlets(packages.flatMap((p) => [...p.scripts, ...(p.fileTriggers ?? [])].map((sc) => toScriptlet(p, sc))), opts);
  const counts = { pre: 0, post: 0, posttrans: 0, transfiletriggerin: 0 };
  const stateDir = await mkdtemp(join(tmpdir(), 'atomic-rpm-state-'));
  try {
    const phase = async (name: 'pre' | 'post' | 'posttrans', kind: ScriptletKind): Promise<void> => {
      for (const p of packages) {
        for (const sc of p.scripts.filter((x) => x.kind === kind)) {
          if ((await runScriptlet(rootfs, toScriptlet(p, sc), { ...opts, rpmStateDir: stateDir, arg: '1' })).ran) counts[name]++;
        }
      }
      opts.onPhase?.(name, counts[name]);
    };
    await phase('pre', 'prein');
    await opts.afterPre?.();
    await phase('post', 'postin');
    await phase('posttrans', 'posttrans');
    for (const p of packages) {
      for (const t of (p.fileTriggers ?? []).filter((x) => x.kind === 'transfiletriggerin')) {
        const files = (await Promise.all(t.prefixes.map((pre) => matchTriggerPrefix(rootfs, pre)))).flat();
        if (files.length === 0) continue;
        const r = await runScriptlet(rootfs, toScriptlet(p, t), { ...opts, rpmStateDir: stateDir, stdin: files.join('\n') + '\n' });
        if (r.ran) counts.transfiletriggerin++;
      }
    }
    opts.onPhase?.('transfiletriggerin', counts.transfiletriggerin);
    return counts;
  } finally {
    await rm(stateDir, { recursive: true, force: true });
  }
}
