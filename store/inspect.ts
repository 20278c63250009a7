// Reading trees for people: `ls` entries, `diff` between two commits, and the
// text of `log`/`show` as ostree prints them.

import { UpdaterError } from '../common/errors.ts';
import { dictGet } from './gvariant/index.ts';
import { contentChecksum, type Commit, type DirTree } from './objects/index.ts';
import type { Repo } from './repo/repo.ts';

export interface TreeEntry {
  path: string;
  type: 'd' | '-' | 'l';
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Content checksum, or for directories the dirtree checksum. */
  checksum: string;
  metaChecksum?: string;
  target?: string;
}

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** Finds the dirtree/dirmeta (or file checksum) at `path` inside a commit. */
export async function resolvePath(repo: Repo, c: Commit, path: string): Promise<{ tree: string; meta: string } | { file: string }> {
  let tree = c.rootTree;
  let meta = c.rootMeta;
  const parts = path.split('/').filter((p) => p !== '');
  for (let i = 0; i < parts.length; i++) {
    const dt = await repo.loadDirtree(tree);
    const d = dt.dirs.find((x) => x.name === parts[i]);
    if (d) {
      tree = d.treeChecksum;
      meta = d.metaChecksum;
      continue;
    }
    const f = dt.files.find((x) => x.name === parts[i]);
    if (f && i === parts.length - 1) return { file: f.checksum };
    throw new UpdaterError('STORE_PATH_NOT_FOUND', `no such file or directory: ${path}`);
  }
  return { tree, meta };
}

async function fileEntry(repo: Repo, path: string, csum: string): Promise<TreeEntry> {
  const info = await repo.readContentInfo(csum);
  const h = info.header;
  const isLink = h.symlinkTarget !== '';
  return { path, type: isLink ? 'l' : '-', mode: h.mode, uid: h.uid, gid: h.gid, size: info.size, checksum: csum, ...(isLink ? { target: h.symlinkTarget } : {}) };
}

/** Lists `path` in a commit: the entry itself, then its children (recursively with `recursive`). */
export async function* listTree(repo: Repo, commit: string, path = '/', recursive = false): AsyncGenerator<TreeEntry> {
  const c = await repo.loadCommit(commit);
  const norm = '/' + path.split('/').filter((p) => p !== '').join('/');
  const at = await resolvePath(repo, c, norm);
  if ('file' in at) {
    yield await fileEntry(repo, norm, at.file);
    return;
  }
  const dirEntry = async (p: string, tree: string, meta: string): Promise<TreeEntry> => {
    const m = await repo.loadDirmeta(meta);
    return { path: p, type: 'd', mode: m.mode, uid: m.uid, gid: m.gid, size: 0, checksum: tree, metaChecksum: meta };
  };
  yield await dirEntry(norm, at.tree, at.meta);
  async function* children(dir: string, tree: string): AsyncGenerator<TreeEntry> {
    const dt = await repo.loadDirtree(tree);
    // ostree ls lists a directory's files first, then its subdirectories, each in name order.
    const all = [...dt.files.map((f) => ({ name: f.name, f })), ...dt.dirs.map((d) => ({ name: d.name, d }))];
    for (const e of all) {
      const p = join(dir, e.name);
      if ('f' in e) yield await fileEntry(repo, p, e.f.checksum);
      else {
        yield await dirEntry(p, e.d.treeChecksum, e.d.metaChecksum);
        if (recursive) yield* children(p, e.d.treeChecksum);
      }
    }
  }
  yield* children(norm, at.tree);
}

/** One line of `ostree ls` output: `-00644 1000 1001     12 [checksum] /path[ -> target]`. */
export function formatLsEntry(e: TreeEntry, withChecksum: boolean): string {
  const perms = (e.mode & 0o7777).toString(8).padStart(5, '0');
  let line = `${e.type}${perms} ${e.uid} ${e.gid} ${String(e.size).padStart(6)} `;
  if (withChecksum) line += e.type === 'd' ? `${e.checksum} ${e.metaChecksum} ` : `${e.checksum} `;
  line += e.path;
  if (e.target !== undefined) line += ` -> ${e.target}`;
  return line;
}

export interface TreeDiff {
  added: string[];
  modified: string[];
  removed: string[];
}

/** Paths added, modified and removed from commit `a` to commit `b` (`ostree diff`). */
export async function diffCommits(repo: Repo, a: string, b: string): Promise<TreeDiff> {
  const [ca, cb] = await Promise.all([repo.loadCommit(a), repo.loadCommit(b)]);
  const out: TreeDiff = { added: [], modified: [], removed: [] };
  const addAll = async (dir: string, tree: string, list: string[]): Promise<void> => {
    const dt = await repo.loadDirtree(tree);
    for (const f of dt.files) list.push(join(dir, f.name));
    for (const d of dt.dirs) {
      list.push(join(dir, d.name));
      await addAll(join(dir, d.name), d.treeChecksum, list);
    }
  };
  const walk = async (dir: string, ta: string, tb: string): Promise<void> => {
    if (ta === tb) return;
    const [da, db]: DirTree[] = await Promise.all([repo.loadDirtree(ta), repo.loadDirtree(tb)]);
    const fb = new Map(db.files.map((f) => [f.name, f.checksum]));
    const dB = new Map(db.dirs.map((d) => [d.name, d]));
    const dA = new Map(da.dirs.map((d) => [d.name, d]));
    for (const f of da.files) {
      const p = join(dir, f.name);
      const other = fb.get(f.name);
      if (other === undefined) {
        if (dB.has(f.name)) out.modified.push(p);
        else out.removed.push(p);
      } else if (other !== f.checksum) out.modified.push(p);
    }
    const fa = new Set(da.files.map((f) => f.name));
    for (const f of db.files) if (!fa.has(f.name) && !dA.has(f.name)) out.added.push(join(dir, f.name));
    for (const d of da.dirs) {
      const p = join(dir, d.name);
      const other = dB.get(d.name);
      if (!other) {
        if (fb.has(d.name)) out.modified.push(p);
        else {
          out.removed.push(p);
          await addAll(p, d.treeChecksum, out.removed);
        }
      } else {
        if (other.metaChecksum !== d.metaChecksum) out.modified.push(p);
        await walk(p, d.treeChecksum, other.treeChecksum);
      }
    }
    for (const d of db.dirs) {
      if (!dA.has(d.name) && !fa.has(d.name)) {
        const p = join(dir, d.name);
        out.added.push(p);
        await addAll(p, d.treeChecksum, out.added);
      }
    }
  };
  await walk('/', ca.rootTree, cb.rootTree);
  if (ca.rootMeta !== cb.rootMeta) out.modified.unshift('/');
  return out;
}

/** `ostree log`-style text for one commit. */
export function formatCommitLog(csum: string, c: Commit): string {
  const lines = [`commit ${csum}`];
  if (c.parent) lines.push(`Parent:  ${c.parent}`);
  lines.push(`ContentChecksum:  ${contentChecksum(c)}`);
  const d = new Date(c.timestamp * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000');
  lines.push(`Date:  ${d}`);
  const version = dictGet(c.metadata, 'version', 's');
  if (typeof version === 'string') lines.push(`Version: ${version}`);
  // As ostree: an empty subject prints "(no subject)" right under the header.
  if (c.subject) lines.push('', `    ${c.subject}`, '');
  else lines.push('(no subject)', '');
  if (c.body) lines.push(...c.body.split('\n').map((l) => `    ${l}`), '');
  return lines.join('\n') + '\n';
}
