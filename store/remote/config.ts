// Remotes: `[remote "NAME"]` groups in the repo config, written the way
// `ostree remote add` writes them (url first, then the options in the order
// given; booleans as true/false; branches as `a;b;`), so either tool reads the other's.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { UpdaterError } from '../../common/errors.ts';
import { KeyFile } from '../repo/keyfile.ts';
import { lockRepo } from '../repo/lock.ts';
import { validateRemoteName } from '../repo/refs.ts';
import type { Repo } from '../repo/repo.ts';

/** One remote as configured: its URL and every other key of its group, in file order. */
export interface RemoteConfig {
  name: string;
  url: string;
  options: Array<[string, string]>;
}

export interface AddRemoteOptions {
  /** Extra keys written after `url`, in this order (`--set`, sign-verify keys, …). */
  options?: Array<[string, string]>;
  /** `branches=` list (ostree's positional BRANCH… arguments). */
  branches?: string[];
  /** Do nothing when the remote exists (`--if-not-exists`). */
  ifNotExists?: boolean;
  /** Replace an existing remote (`--force`). */
  force?: boolean;
}

/** The key-file group of a remote. */
export function remoteGroup(name: string): string {
  return `remote "${name}"`;
}

const GROUP = /^remote "(.*)"$/;

/** Names of the configured remotes, sorted (as `ostree remote list`). */
export function listRemotes(repo: Repo): string[] {
  return repo.config.groupNames().flatMap((g) => {
    const m = GROUP.exec(g);
    return m ? [m[1]!] : [];
  }).sort();
}

/** A remote's configuration; throws REMOTE_NOT_FOUND naming the repo. */
export function getRemote(repo: Repo, name: string): RemoteConfig {
  const group = remoteGroup(name);
  if (!repo.config.hasGroup(group)) {
    throw new UpdaterError('REMOTE_NOT_FOUND', `remote "${name}" not found in ${join(repo.path, 'config')}`, {
      hint: `add it with \`atomic repo remote add --repo ${repo.path} ${name} URL\``,
    });
  }
  const url = repo.config.get(group, 'url');
  if (url === undefined || url === '') {
    throw new UpdaterError('REMOTE_INVALID', `remote "${name}" in ${join(repo.path, 'config')} has no url`);
  }
  const options: Array<[string, string]> = repo.config.keys(group).filter((k) => k !== 'url').map((k) => [k, repo.config.get(group, k)!]);
  return { name, url, options };
}

/** A string option of a remote (the last value when a key repeats, as GKeyFile). */
export function remoteOption(remote: RemoteConfig, key: string): string | undefined {
  let v: string | undefined;
  for (const [k, val] of remote.options) if (k === key) v = val;
  return v;
}

/** A boolean option, parsed like GKeyFile (true/false/1/0); REMOTE_INVALID otherwise. */
export function remoteBoolean(remote: RemoteConfig, key: string, dflt: boolean): boolean {
  const v = remoteOption(remote, key);
  if (v === undefined) return dflt;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UpdaterError('REMOTE_INVALID', `remote "${remote.name}": ${key}: expected true or false, got '${v}'`);
}

// Config changes re-read the file under the repository lock, so two concurrent
// `remote add`s (or a pull writing nothing to config) never lose each other's edits.
async function changeConfig(repo: Repo, fn: (kf: KeyFile) => boolean): Promise<boolean> {
  const lock = await lockRepo(repo.path);
  try {
    const path = join(repo.path, 'config');
    // KeyFile keeps a blank line before a group header as part of the previous group and
    // then adds its own separator; dropping those lines keeps rewrites from growing the file.
    repo.config = KeyFile.parse((await readFile(path, 'utf8')).replace(/\n[ \t]*\n(?=\[)/g, '\n'), path);
    const changed = fn(repo.config);
    if (changed) await repo.saveConfig();
    return changed;
  } finally {
    await lock.release();
  }
}

/**
 * Adds a remote (`ostree remote add`). Returns false when it existed and
 * `ifNotExists` was given; throws REMOTE_EXISTS when it exists otherwise.
 */
export async function addRemote(repo: Repo, name: string, url: string, opts: AddRemoteOptions = {}): Promise<boolean> {
  validateRemoteName(name);
  if (url === '') throw new UpdaterError('REMOTE_INVALID', `remote "${name}": the URL is empty`);
  if (opts.ifNotExists && opts.force) throw new UpdaterError('CLI_USAGE', 'can only specify one of --if-not-exists and --force');
  return changeConfig(repo, (kf) => {
    const group = remoteGroup(name);
    if (kf.hasGroup(group)) {
      if (opts.ifNotExists) return false;
      if (!opts.force) {
        throw new UpdaterError('REMOTE_EXISTS', `remote "${name}" already exists in ${join(repo.path, 'config')}`, {
          hint: 'use --if-not-exists to keep it, or --force to replace it',
        });
      }
      kf.remove(group);
    }
    kf.set(group, 'url', url);
    if (opts.branches && opts.branches.length > 0) kf.set(group, 'branches', opts.branches.map((b) => `${b};`).join(''));
    for (const [k, v] of opts.options ?? []) {
      if (k === '' || /[\s=[\]]/.test(k)) throw new UpdaterError('REMOTE_INVALID', `remote "${name}": invalid option name '${k}'`);
      kf.set(group, k, v);
    }
    return true;
  });
}

/** Deletes a remote; returns false when absent and `ifExists`, else throws REMOTE_NOT_FOUND. */
export async function deleteRemote(repo: Repo, name: string, opts: { ifExists?: boolean } = {}): Promise<boolean> {
  validateRemoteName(name);
  return changeConfig(repo, (kf) => {
    const group = remoteGroup(name);
    if (!kf.hasGroup(group)) {
      if (opts.ifExists) return false;
      throw new UpdaterError('REMOTE_NOT_FOUND', `remote "${name}" not found in ${join(repo.path, 'config')}`);
    }
    kf.remove(group);
    return true;
  });
}

/**
 * Parses one `--sign-verify=KEYTYPE=inline:KEY|file:PATH` value into the config
 * key it sets (`verification-ed25519-key` / `-file`), as ostree's remote add does.
 */
export function parseSignVerifySpec(spec: string): { type: string; key: string; value: string } {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UpdaterError('CLI_USAGE', `--sign-verify: failed to parse KEYTYPE=[inline|file]:DATA in '${spec}'`);
  const type = spec.slice(0, eq);
  if (type !== 'ed25519') throw new UpdaterError('REMOTE_SIGN_TYPE_UNSUPPORTED', `--sign-verify: signature type '${type}' is not implemented`, { hint: 'the supported type is ed25519' });
  const rest = spec.slice(eq + 1);
  const colon = rest.indexOf(':');
  const ref = colon < 0 ? rest : rest.slice(0, colon);
  if (ref !== 'inline' && ref !== 'file') throw new UpdaterError('CLI_USAGE', `--sign-verify: invalid key reference '${ref}', expected inline|file`);
  const value = colon < 0 ? '' : rest.slice(colon + 1);
  if (value === '') throw new UpdaterError('CLI_USAGE', `--sign-verify: no ${ref === 'inline' ? 'key' : 'path'} after '${ref}:' in '${spec}'`);
  return { type, key: `verification-${type}-${ref === 'inline' ? 'key' : 'file'}`, value };
}

/**
 * The remote's signature policy: which sign types must verify commits, and
 * whether `summary.sig` must verify. `sign-verify=true` means every supported
 * type (ed25519); a list (`ed25519`, `ed25519,…`) names them. GPG settings that
 * demand verification are refused, since this implementation has no GPG.
 */
export function signPolicy(remote: RemoteConfig): { commitTypes: string[]; summary: boolean } {
  const raw = remoteOption(remote, 'sign-verify');
  let types: string[] = [];
  if (raw !== undefined) {
    const v = raw.trim().toLowerCase();
    if (v === 'true' || v === '1') types = ['ed25519'];
    else if (v === 'false' || v === '0' || v === '') types = [];
    else types = v.split(/[,;]/).map((s) => s.trim()).filter(Boolean);
  }
  for (const t of types) {
    if (t !== 'ed25519') throw new UpdaterError('REMOTE_SIGN_TYPE_UNSUPPORTED', `remote "${remote.name}": sign-verify names signature type '${t}', which is not implemented`);
  }
  const summary = remoteBoolean(remote, 'sign-verify-summary', false);
  for (const k of ['gpg-verify', 'gpg-verify-summary']) {
    if (remoteOption(remote, k) !== undefined && remoteBoolean(remote, k, false)) {
      throw new UpdaterError('REMOTE_GPG_UNSUPPORTED', `remote "${remote.name}": ${k}=true, but GPG verification is not supported`, {
        hint: `use ed25519 signatures (sign-verify), or set ${k}=false`,
      });
    }
  }
  return { commitTypes: types, summary: summary };
}
