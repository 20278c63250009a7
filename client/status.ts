// `atomic host status`: what rpm-ostree status shows, gathered from the sysroot
// (collectStatus) and rendered as text (renderStatus) or JSON (statusJson).

import { dictGet, type Repo, type GValue, type Variant } from '../store/index.ts';
import { isPinned, originRefspec } from './origin.ts';
import { diffPackages, parsePkglist, summarizePackageDiff, type RpmPackage } from './pkgdiff.ts';
import { commitSignature, formatSignature, type SignatureState } from './signature.ts';
import { pendingAndRollback, sameDeployment, type Deployment, type Sysroot } from './sysroot.ts';

/** One deployment as status shows it. */
export interface DeploymentStatus {
  index: number;
  osname: string;
  checksum: string;
  serial: number;
  booted: boolean;
  pinned: boolean;
  /** Origin refspec, or null when the origin is missing or unreadable. */
  origin: string | null;
  version: string | null;
  /** Commit timestamp, seconds since the epoch. */
  timestamp: number;
  /** Commit metadata, GVariant values converted to JSON. */
  commitMeta: Record<string, unknown>;
  kargs: string;
  /** For a client-layered commit (rpmostree.clientlayer), the base commit (its parent). */
  baseCommit: string | null;
  /** When the origin's remote verifies signatures; null otherwise. */
  signature: SignatureState | null;
  /** The pending deployment's package changes against the booted one (`4 upgraded, 1 added`). */
  diff: string | null;
  /** Packages from rpmostree.rpmdb.pkglist; null when the commit has none. */
  packages: RpmPackage[] | null;
  /** Origin's override-commit (set by `deploy REVISION`). */
  overrideCommit: string | null;
}

/** Boot-counting state read from grubenv (grub2 backend). */
export type BootCountingStatus = { kind: 'inactive' } | { kind: 'trying'; remaining: number } | { kind: 'fell-back' } | { kind: 'invalid'; value: string };

export interface HostStatus {
  deployments: DeploymentStatus[];
  bootCounting: BootCountingStatus;
  multipleStateroots: boolean;
}

/** GVariant value to JSON as rpm-ostree prints it: dicts as objects, ay as number arrays, 64-bit as numbers. */
export function gvariantToJson(v: GValue): unknown {
  if (v === null || typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Uint8Array) return [...v];
  if (Array.isArray(v)) {
    if (v.every((e) => Array.isArray(e) && e.length === 2 && typeof e[0] === 'string')) {
      return Object.fromEntries((v as [string, GValue][]).map(([k, x]) => [k, gvariantToJson(x)]));
    }
    return v.map(gvariantToJson);
  }
  return gvariantToJson((v as Variant).value);
}

async function deploymentStatus(repo: Repo, d: Deployment, index: number, booted: Deployment | null): Promise<DeploymentStatus> {
  const c = await repo.loadCommit(d.csum);
  const version = dictGet(c.metadata, 'version', 's');
  let origin: string | null = null;
  try {
    origin = d.origin === null ? null : originRefspec(d.origin, 'origin');
  } catch {
    origin = null;
  }
  const commitMeta: Record<string, unknown> = {};
  for (const [k, v] of c.metadata) {
    // rpm-ostree leaves out the bulky keys.
    if (k === 'rpmostree.rpmdb.pkglist' || k === 'rpmostree.advisories') continue;
    commitMeta[k] = gvariantToJson(v.value);
  }
  const layered = dictGet(c.metadata, 'rpmostree.clientlayer', 'b') === true;
  return {
    index, osname: d.osname, checksum: d.csum, serial: d.deployserial, booted: sameDeployment(d, booted), pinned: isPinned(d.origin),
    origin, version: typeof version === 'string' ? version : null, timestamp: c.timestamp, commitMeta, kargs: d.kargs,
    baseCommit: layered ? c.parent : null,
    signature: await commitSignature(repo, origin, d.csum),
    diff: null,
    packages: parsePkglist(c.metadata),
    overrideCommit: d.origin?.get('origin', 'override-commit') ?? null,
  };
}

export async function collectStatus(s: Sysroot, bootCounting: BootCountingStatus): Promise<HostStatus> {
  const deployments: DeploymentStatus[] = [];
  for (let i = 0; i < s.deployments.length; i++) deployments.push(await deploymentStatus(s.repo, s.deployments[i]!, i, s.booted));
  // rpm-ostree shows the pending deployment's package changes against the booted one.
  const { pending } = pendingAndRollback(s);
  const booted = deployments.find((d) => d.booted);
  const p = pending === null ? undefined : deployments[s.deployments.findIndex((d) => sameDeployment(d, pending))];
  if (booted?.packages && p?.packages) p.diff = summarizePackageDiff(diffPackages(booted.packages, p.packages)) || null;
  return { deployments, bootCounting, multipleStateroots: new Set(s.deployments.map((d) => d.osname)).size > 1 };
}

/** UTC ISO-8601 without fractions, as rpm-ostree prints it. */
export function formatTimestamp(ts: number): string {
  return new Date(ts * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const KEY_WIDTH = 23; // length of rpm-ostree's longest key, InactiveRemoteOverrides

function kv(key: string, value: string): string {
  return `  ${key.padStart(KEY_WIDTH)}: ${value}`;
}

/** The rpm-ostree status text: `State: idle`, `Deployments:`, one block per deployment, ● on the booted one. */
export function renderStatus(st: HostStatus, opts: { verbose?: boolean } = {}): string {
  const lines: string[] = ['State: idle'];
  if (st.bootCounting.kind === 'fell-back') {
    lines.push('Warning: the default deployment ran out of boot attempts; the bootloader booted the previous one');
    lines.push('  run `atomic host boot-complete` from the running system to make it the default again');
  }
  lines.push('Deployments:');
  st.deployments.forEach((d, i) => {
    if (i > 0) lines.push('');
    const title = (d.origin ?? `${d.checksum} (no origin)`) + (opts.verbose ? ` (index: ${d.index})` : '');
    lines.push(`${d.booted ? '●' : ' '} ${title}`);
    lines.push(d.version !== null ? kv('Version', `${d.version} (${formatTimestamp(d.timestamp)})`) : kv('Timestamp', formatTimestamp(d.timestamp)));
    if (d.baseCommit !== null) {
      lines.push(kv('BaseCommit', d.baseCommit));
      if (opts.verbose) lines.push(kv('Commit', d.checksum));
    } else lines.push(kv('Commit', d.checksum));
    if (d.signature !== null) lines.push(kv('Signature', formatSignature(d.signature)));
    if (d.diff !== null) lines.push(kv('Diff', d.diff));
    if (opts.verbose || st.multipleStateroots) lines.push(kv('StateRoot', d.osname));
    if (opts.verbose) {
      lines.push(kv('Serial', String(d.serial)));
      lines.push(kv('Staged', 'no'));
      lines.push(kv('Kargs', d.kargs));
    }
    if (d.pinned) lines.push(kv('Pinned', 'yes'));
    if (i === 0 && st.bootCounting.kind === 'trying') lines.push(kv('BootAttempts', `${st.bootCounting.remaining} left until boot-complete`));
  });
  return lines.join('\n') + '\n';
}

/**
 * The column table of `atomic host status` (rpm-ostree's original layout, which
 * `atomic host status` printed): TIMESTAMP (UTC), VERSION, ID (10 hex), OSNAME,
 * REFSPEC; `*` marks the booted deployment; columns padded to their widest cell
 * plus five spaces. Boot-counting warnings and signature lines follow the table.
 */
export function renderStatusTable(st: HostStatus): string {
  const head = ['TIMESTAMP (UTC)', 'VERSION', 'ID', 'OSNAME', 'REFSPEC'];
  const rows = st.deployments.map((d) => [
    new Date(d.timestamp * 1000).toISOString().slice(0, 19).replace('T', ' '),
    d.version ?? '',
    d.checksum.slice(0, 10),
    d.osname,
    d.origin ?? '',
  ]);
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)) + 5);
  const line = (mark: string, cells: string[]): string => `${mark} ${cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(width[i]!) : c)).join('')}`.trimEnd();
  const out = [line(' ', head), ...rows.map((r, i) => line(st.deployments[i]!.booted ? '*' : ' ', r))];
  if (st.bootCounting.kind === 'fell-back') {
    out.push('Warning: the default deployment ran out of boot attempts; the bootloader booted the previous one');
  } else if (st.bootCounting.kind === 'trying') {
    out.push(`BootAttempts: ${st.bootCounting.remaining} left until boot-complete`);
  }
  const booted = st.deployments.find((d) => d.booted);
  if (booted?.signature) out.push(`Signature of the booted deployment (*): ${formatSignature(booted.signature)}`);
  return out.join('\n') + '\n';
}

/** `status --json`: rpm-ostree's top-level keys and per-deployment fields that apply here. */
export function statusJson(st: HostStatus): unknown {
  return {
    deployments: st.deployments.map((d) => ({
      id: `${d.osname}-${d.checksum}.${d.serial}`,
      osname: d.osname,
      serial: d.serial,
      checksum: d.checksum,
      version: d.version,
      timestamp: d.timestamp,
      origin: d.origin,
      booted: d.booted,
      staged: false,
      pinned: d.pinned,
      unlocked: 'none',
      'finalization-locked': false,
      'base-commit-meta': d.commitMeta,
      'requested-packages': [],
      'requested-local-packages': [],
      'requested-base-removals': [],
      'requested-base-local-replacements': [],
      packages: [],
      'base-removals': [],
      'base-local-replacements': [],
      'regenerate-initramfs': false,
      'gpg-enabled': false,
      'sign-enabled': d.signature !== null,
      signatures: d.signature === null ? null : [d.signature.kind === 'valid' ? { type: d.signature.type, valid: true, key: d.signature.key } : { valid: false, state: d.signature.kind, ...(d.signature.kind === 'invalid' ? { message: d.signature.message } : {}) }],
      ...(d.baseCommit !== null ? { 'base-checksum': d.baseCommit } : {}),
      ...(d.overrideCommit !== null ? { 'override-commit': d.overrideCommit } : {}),
      kargs: d.kargs,
    })),
    transaction: null,
    'cached-update': null,
    'update-driver': null,
    'boot-counting': st.bootCounting,
  };
}
