// A commit's tree read straight from the repo, without checking it out: what the
// pre-flight checks of a deploy look at (kernel, /usr/etc, sizes) before any write.
// Directories are loaded on demand and cached; `view()` answers from loaded ones.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { UpdaterError } from '../common/errors.ts';
import type { DirTree, Repo } from '../store/index.ts';
import type { TreeView } from './kernel.ts';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** A file of the tree: its content checksum, size and whether it is a regular file. */
export interface CommitFile {
  checksum: string;
  size: number;
  regular: boolean;
}

export class CommitTree {
  readonly repo: Repo;
  readonly csum: string;
  private readonly dirs = new Map<string, DirTree | null>();
  private readonly files = new Map<string, CommitFile>();

  private constructor(repo: Repo, csum: string) {
    this.repo = repo;
    this.csum = csum;
  }

  static async open(repo: Repo, csum: string): Promise<CommitTree> {
    const t = new CommitTree(repo, csum);
    const c = await repo.loadCommit(csum);
    t.dirs.set('', await repo.loadDirtree(c.rootTree));
    return t;
  }

  /** The dirtree at `rel` (no leading slash), or null when it is not a directory of the tree. */
  async dir(rel: string): Promise<DirTree | null> {
    const key = rel.replace(/^\/+|\/+$/g, '');
    if (this.dirs.has(key)) return this.dirs.get(key)!;
    const slash = key.lastIndexOf('/');
    const parent = await this.dir(slash < 0 ? '' : key.slice(0, slash));
    const name = key.slice(slash + 1);
    const d = parent?.dirs.find((x) => x.name === name);
    const tree = d === undefined ? null : await this.repo.loadDirtree(d.treeChecksum);
    this.dirs.set(key, tree);
    return tree;
  }

  /** A file's checksum, size and type; null when `rel` is not a file of a loaded directory. */
  file(rel: string): CommitFile | null {
    const cached = this.files.get(rel);
    if (cached !== undefined) return cached;
    const slash = rel.lastIndexOf('/');
    const parent = this.dirs.get(slash < 0 ? '' : rel.slice(0, slash));
    const f = parent?.files.find((x) => x.name === rel.slice(slash + 1));
    if (f === undefined) return null;
    const info = this.repo.readContentInfoSync(f.checksum);
    const out = { checksum: f.checksum, size: info.size, regular: info.header.symlinkTarget === '' && (info.header.mode & S_IFMT) === S_IFREG };
    this.files.set(rel, out);
    return out;
  }

  /** Loads `rel` and its subdirectories (depth levels below it; -1 = all). */
  async preload(rel: string, depth = 0): Promise<void> {
    const d = await this.dir(rel);
    if (d === null || depth === 0) return;
    for (const sub of d.dirs) await this.preload(rel === '' ? sub.name : `${rel}/${sub.name}`, depth - 1);
  }

  /** A synchronous view over the loaded directories (unloaded ones list as empty). */
  view(): TreeView {
    return {
      list: (rel) => {
        const d = this.dirs.get(rel);
        return d ? [...d.dirs.map((x) => x.name), ...d.files.map((x) => x.name)].sort() : [];
      },
      isFile: (rel) => this.file(rel)?.regular ?? false,
    };
  }

  /** Walks `rel` recursively: `onDir` for each directory (itself included), `onFile` for each file */
  async walk(rel: string, onDir: (rel: string) => void, onFile: (rel: string, checksum: string) => void): Promise<void> {
    const d = await this.dir(rel);
    if (d === null) return;
    onDir(rel);
    for (const f of d.files) onFile(rel === '' ? f.name : `${rel}/${f.name}`, f.checksum);
    for (const sub of d.dirs) await this.walk(rel === '' ? sub.name : `${rel}/${sub.name}`, onDir, onFile);
  }

  /** sha256 over the files' data, in order (the bootcsum of kernel ‖ initramfs ‖ devicetree). */
  async hashFiles(rels: string[]): Promise<string> {
    const h = createHash('sha256');
    for (const rel of rels) {
      const f = this.file(rel);
      if (f === null) throw new UpdaterError('STORE_PATH_NOT_FOUND', `commit ${this.csum}: no file ${rel}`);
      const info = this.repo.readContentInfoSync(f.checksum);
      if (this.repo.mode === 'archive') h.update(await this.repo.readContentData(info));
      else for await (const chunk of createReadStream(info.path)) h.update(chunk as Buffer);
    }
    return h.digest('hex');
  }
}
