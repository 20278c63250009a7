// Cleanup after a swap, or `atomic host cleanup` (format §9.5): the other bootversion's
// loader and farms, unlisted deployment dirs, unused /boot/ostree/OS-BOOTCSUM dirs,
// the ostree/B/S/I refs of other versions, partial downloads of objects the repo has,
// then a refs-only depth-0 prune of the repo that also keeps every deployed commit.
// Each step is idempotent: rerun after a crash.

import { lstatSync, statSync } from 'node:fs';
import { readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { lockRepo, pruneRepo, type Repo } from '../store/index.ts';
import { bootcsumDirName } from './kernel.ts';
import { crashPoint, phase } from './crash.ts';
import { removeDeploymentDir } from './deploy.ts';
import { deploymentDir, loadSysroot, type Deployment, type Sysroot } from './sysroot.ts';
import { lstatOrNull } from '../common/fs.ts';

/** Present while a cleanup runs, from before its first removal to after its prune (see cleanupSysroot). */
export const CLEANUP_MARKER = 'ostree/.atomic-cleanup-pending';

export interface CleanupOptions {
  /** Skip pruning the repository. */
  noPrune?: boolean;
  log?: (line: string) => void;
  /** The sysroot's repo, already open: the prune then reuses the trees the deploy decoded. */
  repo?: Repo;
}

export interface CleanupResult {
  removedDeployments: string[];
  removedBootDirs: string[];
  prunedObjects: number;
  freedBytes: number;
}

/** Removes every file of the inactive bootversion and the inactive farm of the active one. */
async function cleanupOtherBootversions(s: Sysroot): Promise<void> {
  const B = s.bootversion;
  const other = B === 0 ? 1 : 0;
  const ostree = join(s.path, 'ostree');
  await rm(join(s.path, 'boot', `loader.${other}`), { recursive: true, force: true });
  await rm(join(s.path, 'boot', 'loader.tmp'), { force: true });
  await rm(join(ostree, `boot.${other}`), { force: true });
  for (const sub of [0, 1]) await rm(join(ostree, `boot.${other}.${sub}`), { recursive: true, force: true });
  await rm(join(ostree, `boot.${B}.${s.subbootversion === 0 ? 1 : 0}`), { recursive: true, force: true });
  // Temporary names of interrupted symlink replacements.
  for (const name of await readdir(ostree).catch(() => [] as string[])) {
    if (/^boot\.[01]\.tmp-/.test(name)) await rm(join(ostree, name), { force: true });
  }
}

/**
 * Removes the temporary files a killed ref write leaves under refs/ (a ref is written
 * as `.NAME.tmp-XXXX`, then renamed): the deployment refs ostree/B/S/I the host verbs
 * write, and the remote refs a pull writes at the end of its transaction. Called with
 * the sysroot lock held (no other host verb writes deployment refs), and it takes the
 * repo lock, which every transaction holds while it writes refs: no live write loses
 * its file.
 */
export async function removeStaleRefTemps(repoPath: string): Promise<number> {
  const temps: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(dir, e.name));
      else if (/^\..*\.tmp-[0-9a-f]+$/.test(e.name)) temps.push(join(dir, e.name));
    }
  };
  await walk(join(repoPath, 'refs'));
  if (temps.length === 0) return 0;
  const lock = await lockRepo(repoPath);
  try {
    for (const t of temps) await rm(t, { force: true });
  } finally {
    await lock.release();
  }
  return temps.length;
}

/**
 * Removes the partial downloads (tmp/pull-partial/CSUM.filez.part and its unpacked
 * CSUM.data) of objects the repo now has. A pull killed after staging such an object,
 * before it dropped the download, leaves them, and no later pull looks at them again
 * (it has the object); they would stay until tmp-expiry-secs. Under the repo lock, so
 * no pull is writing them. Downloads of objects still missing stay, to be resumed.
 */
export async function removeFinishedPartials(repo: Repo): Promise<number> {
  const dir = join(repo.path, 'tmp/pull-partial');
  const names = await readdir(dir).catch(() => [] as string[]);
  if (names.length === 0) return 0;
  let removed = 0;
  const lock = await lockRepo(repo.path);
  try {
    for (const name of names) {
      const m = /^([0-9a-f]{64})\.(?:filez\.part|data)$/.exec(name);
      if (m === null || !(await repo.hasObject(m[1]!, 'file'))) continue;
      await rm(join(dir, name), { force: true });
      removed++;
    }
  } finally {
    await lock.release();
  }
  return removed;
}

/** Writes the refs ostree/B/S/I that keep every deployed commit out of prune's reach. */
export async function writeDeploymentRefs(s: Sysroot, bootversion: 0 | 1, subbootversion: 0 | 1, list: readonly Deployment[]): Promise<void> {
  for (let i = 0; i < list.length; i++) await s.repo.writeRef(null, `ostree/${bootversion}/${subbootversion}/${i}`, list[i]!.csum);
}

async function removeEmptyRefDirs(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (entries === null) return;
  for (const e of entries) if (e.isDirectory()) await removeEmptyRefDirs(join(dir, e.name));
  await rmdir(dir).catch(() => {});
}

function rootDevIno(): string {
  const st = statSync('/');
  return `${st.dev}:${st.ino}`;
}

/**
 * True when an interrupted transaction left something a cleanup removes: the other
 * bootversion's loader or links, an unlisted deployment directory, a temporary link,
 * or an interrupted cleanup (its marker: it may have gone as far as removing all of
 * those, and still have stale refs, kernels or unpruned objects behind).
 */
export async function needsCleanup(s: Sysroot): Promise<boolean> {
  if (!s.hasLoader) return false;
  if ((await removeStaleRefTemps(s.repo.path)) > 0) return true;
  if (lstatOrNull(join(s.path, CLEANUP_MARKER)) !== null) return true;
  const other = s.bootversion === 0 ? 1 : 0;
  const ostree = join(s.path, 'ostree');
  const leftovers = [join(s.path, 'boot', `loader.${other}`), join(s.path, 'boot/loader.tmp'), join(ostree, `boot.${other}`),
    join(ostree, `boot.${s.bootversion}.${s.subbootversion === 0 ? 1 : 0}`)];
  if (leftovers.some((p) => lstatOrNull(p) !== null)) return true;
  const listed = new Set(s.deployments.map((d) => `${d.osname}/${d.csum}.${d.deployserial}`));
  for (const os of await readdir(join(ostree, 'deploy')).catch(() => [] as string[])) {
    for (const name of await readdir(join(ostree, 'deploy', os, 'deploy')).catch(() => [] as string[])) {
      if (!listed.has(`${os}/${name.replace(/\.origin$/, '')}`)) return true;
    }
  }
  return false;
}

/** Loads the sysroot and cleans it; see the file comment for the steps. */
export async function cleanupSysroot(sysroot: string, opts: CleanupOptions = {}): Promise<CleanupResult> {
  phase('cleanup');
  const s = await loadSysroot(sysroot, { repo: opts.repo });
  const result: CleanupResult = { removedDeployments: [], removedBootDirs: [], prunedObjects: 0, freedBytes: 0 };
  if (!s.hasLoader) return result;
  // Killed anywhere from here on, what is left can no longer be seen from the outside
  // (the other loader and unlisted deployments may be gone, stale refs and kernels and
  // unpruned objects not): the marker makes the next run clean up again. Prune deletes
  // objects in no particular order, so half a prune can also leave objects behind.
  const marker = join(s.path, CLEANUP_MARKER);
  await writeFile(marker, `${process.pid}\n`); // only its existence matters: no temporary name to leave behind
  await removeStaleRefTemps(s.repo.path);
  await cleanupOtherBootversions(s);

  // Deployment directories no entry refers to (never the one mounted as /).
  const listed = new Set(s.deployments.map((d) => deploymentDir(s.path, d)));
  const root = rootDevIno();
  const deployBase = join(s.path, 'ostree/deploy');
  for (const os of await readdir(deployBase).catch(() => [] as string[])) {
    const dir = join(deployBase, os, 'deploy');
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const p = join(dir, name);
      if (name.endsWith('.origin')) {
        if (!listed.has(p.slice(0, -'.origin'.length))) await rm(p, { force: true });
        continue;
      }
      if (listed.has(p)) continue;
      const st = lstatSync(p);
      if (`${st.dev}:${st.ino}` === root) continue;
      await removeDeploymentDir(p);
      result.removedDeployments.push(`${os}/${name}`);
      crashPoint('during-cleanup');
    }
  }

  // Kernel directories no deployment uses.
  const used = new Set(s.deployments.map((d) => bootcsumDirName(d.osname, d.bootcsum).slice('ostree/'.length)));
  const bootOstree = join(s.path, 'boot/ostree');
  for (const name of await readdir(bootOstree).catch(() => [] as string[])) {
    if (used.has(name) || !/-[0-9a-f]{64}$/.test(name)) continue;
    await rm(join(bootOstree, name), { recursive: true, force: true });
    result.removedBootDirs.push(name);
  }

  // Refs: exactly ostree/B/S/I for the live list (written before the others go).
  await writeDeploymentRefs(s, s.bootversion, s.subbootversion, s.deployments);
  const keep = new Set(s.deployments.map((_, i) => `ostree/${s.bootversion}/${s.subbootversion}/${i}`));
  for (const name of (await s.repo.listRefs({ remotes: false })).keys()) {
    if (name.startsWith('ostree/') && !keep.has(name)) await s.repo.writeRef(null, name, null);
  }
  await removeEmptyRefDirs(join(s.repo.path, 'refs/heads/ostree'));
  await removeFinishedPartials(s.repo);

  if (!opts.noPrune) {
    phase('prune');
    const pr = await pruneRepo(s.repo, { refsOnly: true, depth: 0, extraRoots: s.deployments.map((d) => d.csum) });
    result.prunedObjects = pr.deleted;
    result.freedBytes = pr.freedBytes;
  }
  await rm(marker, { force: true });
  return result;
}
