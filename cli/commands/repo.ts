// `atomic repo …`: the object-store verbs, with ostree's option names. Each
// action parses its options and makes one library call; printing happens here.

import type { Command } from 'commander';
import { UpdaterError } from '../../common/errors.ts';
import {
  checkoutCommit, commitDirectory, diffCommits, formatCommitLog, formatLsEntry, fsckRepo, listTree, printGVariant, pruneRepo,
  repairRepo, Repo, resolvePath, variant, type FsckResult, type RepoMode, type VarDict,
} from '../../store/index.ts';
import { registerDeltaCommands } from './delta.ts';
import { collect, DEFAULT_REPO, formatSize, intOption, openRepo, parseTimestamp, progress, stdoutLine } from '../output.ts';
import { registerPullCommands } from './pull.ts';
import { registerRemoteCommands } from './remote.ts';
import { registerPublishCommands } from './publish.ts';

interface RepoOpt {
  repo?: string;
}

export function registerRepoCommands(program: Command): void {
  const repo = program.command('repo').description('Manage OSTree repositories (init, commit, checkout, fsck, prune, …)');
  const withRepo = (c: Command): Command => c.option('--repo <PATH>', `path to the repository (default ${DEFAULT_REPO})`);

  withRepo(repo.command('init'))
    .description('Create a new repository')
    .option('--mode <MODE>', 'bare, bare-user, bare-user-only or archive (archive-z2)', 'bare')
    .option('--collection-id <ID>', 'collection id of the repository')
    .action(async (o: RepoOpt & { mode: string; collectionId?: string }) => {
      const mode = (o.mode === 'archive-z2' ? 'archive' : o.mode) as RepoMode;
      await Repo.init(o.repo ?? DEFAULT_REPO, mode, { collectionId: o.collectionId });
    });

  withRepo(repo.command('commit'))
    .description('Commit a directory to a branch; prints the new commit checksum')
    .argument('<DIR>', 'directory to commit')
    .option('-b, --branch <BRANCH>', 'branch (ref) to commit to')
    .option('-s, --subject <SUBJECT>', 'one-line subject')
    .option('-m, --body <BODY>', 'full description')
    .option('--timestamp <TIMESTAMP>', 'commit timestamp (ISO 8601 or seconds since the epoch)')
    .option('--add-metadata-string <KEY=VALUE>', 'add a string metadata key (repeatable)', collect)
    .option('--parent <COMMIT>', 'parent commit checksum, or "none"')
    .option('--orphan', 'commit with no parent')
    .option('--owner-uid <UID>', 'set the owner of every file', intOption('--owner-uid'))
    .option('--owner-gid <GID>', 'set the group of every file', intOption('--owner-gid'))
    .option('--skip-if-unchanged', 'do not commit if the tree equals the parent commit\'s')
    .option('--no-bindings', 'do not add the ostree.ref-binding metadata')
    .action(async (dir: string, o: RepoOpt & {
      branch?: string; subject?: string; body?: string; timestamp?: string; addMetadataString?: string[]; parent?: string;
      orphan?: boolean; ownerUid?: number; ownerGid?: number; skipIfUnchanged?: boolean; bindings: boolean;
    }) => {
      const r = await openRepo(o.repo);
      if (!o.branch && !o.orphan && o.parent === undefined) {
        throw new UpdaterError('CLI_USAGE', 'a branch is required (--branch), or --orphan', { hint: 'atomic repo commit --repo R --branch BRANCH DIR' });
      }
      const metadata: VarDict = (o.addMetadataString ?? []).map((kv) => {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UpdaterError('CLI_USAGE', `--add-metadata-string: expected KEY=VALUE, got '${kv}'`);
        return [kv.slice(0, eq), variant('s', kv.slice(eq + 1))];
      });
      let parent: string | null | undefined = undefined;
      if (o.orphan || o.parent === 'none') parent = null;
      else if (o.parent !== undefined) parent = await r.resolveRev(o.parent);
      const res = await commitDirectory(r, dir, {
        branch: o.branch, subject: o.subject, body: o.body,
        timestamp: o.timestamp === undefined ? undefined : parseTimestamp(o.timestamp),
        metadata, parent, ownerUid: o.ownerUid, ownerGid: o.ownerGid, skipIfUnchanged: o.skipIfUnchanged, noBindings: !o.bindings,
        onLockWait: () => process.stderr.write('Waiting for the repository lock…\n'),
      });
      stdoutLine(res.checksum);
    });

  withRepo(repo.command('checkout'))
    .description('Check out a commit into a directory (hardlinks where the repo mode allows)')
    .argument('<REF>', 'ref or commit checksum')
    .argument('[DEST]', 'destination directory (default: the ref name)')
    .option('-H, --require-hardlinks', 'fail instead of copying when hardlinking is impossible')
    .option('-C, --force-copy', 'copy files instead of hardlinking')
    .option('--union', 'write into an existing directory, replacing files')
    .option('--subpath <PATH>', 'check out only this path of the tree')
    .option('-U, --user-mode', 'do not set ownership or xattrs (for unprivileged use)')
    .action(async (ref: string, dest: string | undefined, o: RepoOpt & { requireHardlinks?: boolean; forceCopy?: boolean; union?: boolean; subpath?: string; userMode?: boolean }) => {
      const r = await openRepo(o.repo);
      const csum = await r.resolveRev(ref);
      await checkoutCommit(r, csum, dest ?? ref, {
        requireHardlinks: o.requireHardlinks, forceCopy: o.forceCopy, union: o.union, subpath: o.subpath, userMode: o.userMode,
      });
    });

  withRepo(repo.command('ls'))
    .description('List a path of a commit')
    .argument('<REV>')
    .argument('[PATHS...]')
    .option('-R, --recursive', 'list recursively')
    .option('-C, --checksum', 'print checksums')
    .action(async (rev: string, paths: string[], o: RepoOpt & { recursive?: boolean; checksum?: boolean }) => {
      const r = await openRepo(o.repo);
      const csum = await r.resolveRev(rev);
      for (const p of paths.length ? paths : ['/']) {
        for await (const e of listTree(r, csum, p, o.recursive)) stdoutLine(formatLsEntry(e, !!o.checksum));
      }
    });

  withRepo(repo.command('cat'))
    .description('Print the contents of a file in a commit')
    .argument('<REV>')
    .argument('<PATHS...>')
    .action(async (rev: string, paths: string[], o: RepoOpt) => {
      const r = await openRepo(o.repo);
      const c = await r.loadCommit(await r.resolveRev(rev));
      for (const p of paths) {
        const at = await resolvePath(r, c, p);
        if (!('file' in at)) throw new UpdaterError('STORE_PATH_NOT_FOUND', `${p} is a directory`);
        const info = await r.readContentInfo(at.file);
        if (info.header.symlinkTarget) throw new UpdaterError('STORE_PATH_NOT_FOUND', `${p} is a symlink to ${info.header.symlinkTarget}`);
        process.stdout.write(await r.readContentData(info));
      }
    });

  withRepo(repo.command('log'))
    .description('Show the history of a ref')
    .argument('<REF>')
    .action(async (ref: string, o: RepoOpt) => {
      const r = await openRepo(o.repo);
      let csum: string | null = await r.resolveRev(ref);
      const out: string[] = [];
      while (csum !== null && (await r.hasObject(csum, 'commit'))) {
        const c = await r.loadCommit(csum);
        out.push(formatCommitLog(csum, c));
        csum = c.parent;
      }
      if (csum !== null) out.push(`<< History beyond this commit not fetched >>\n`);
      process.stdout.write(out.join(''));
    });

  withRepo(repo.command('show'))
    .description('Show a commit and its metadata')
    .argument('<REV>')
    .option('--print-metadata-key <KEY>', 'print only the value of one metadata key')
    .option('--raw', 'print the commit as a GVariant')
    .action(async (rev: string, o: RepoOpt & { printMetadataKey?: string; raw?: boolean }) => {
      const r = await openRepo(o.repo);
      const csum = await r.resolveRev(rev);
      const c = await r.loadCommit(csum);
      if (o.printMetadataKey !== undefined) {
        const hit = c.metadata.find(([k]) => k === o.printMetadataKey);
        if (!hit) throw new UpdaterError('STORE_METADATA_MISSING', `no such metadata key '${o.printMetadataKey}' in commit ${csum}`);
        stdoutLine(printGVariant(hit[1].type, hit[1].value));
        return;
      }
      let text = formatCommitLog(csum, c);
      if (c.metadata.length > 0) {
        text += 'Metadata:\n' + c.metadata.map(([k, v]) => `  ${k}: ${printGVariant(v.type, v.value)}`).join('\n') + '\n';
      }
      const meta = await r.readCommitmeta(csum);
      if (meta) text += `Detached metadata: ${meta.length} bytes\n`;
      process.stdout.write(text);
    });

  withRepo(repo.command('refs'))
    .description('List refs')
    .argument('[PREFIX]')
    .option('--list', 'print full ref names (the default)')
    .option('--delete', 'delete the refs matching PREFIX')
    .option('--create <NAME>', 'create a ref pointing at the commit given as PREFIX')
    .action(async (prefix: string | undefined, o: RepoOpt & { delete?: boolean; create?: string }) => {
      const r = await openRepo(o.repo);
      if (o.create !== undefined) {
        if (!prefix) throw new UpdaterError('CLI_USAGE', '--create needs the target commit as argument');
        await r.writeRef(null, o.create, await r.resolveRev(prefix));
        return;
      }
      const refs = await r.listRefs();
      for (const [name] of refs) {
        if (prefix && !name.startsWith(prefix)) continue;
        if (o.delete) {
          const i = name.indexOf(':');
          await r.writeRef(i < 0 ? null : name.slice(0, i), i < 0 ? name : name.slice(i + 1), null);
        } else stdoutLine(name);
      }
    });

  withRepo(repo.command('rev-parse'))
    .description('Print the commit checksum a revision resolves to')
    .argument('<REV>')
    .action(async (rev: string, o: RepoOpt) => {
      const r = await openRepo(o.repo);
      stdoutLine(await r.resolveRev(rev));
    });

  withRepo(repo.command('diff'))
    .description('Paths added (A), modified (M) and removed (D) between two commits')
    .argument('<FROM>')
    .argument('[TO]')
    .action(async (from: string, to: string | undefined, o: RepoOpt) => {
      const r = await openRepo(o.repo);
      let a: string;
      let b: string;
      if (to === undefined) {
        b = await r.resolveRev(from);
        a = await r.resolveRev(`${from}^`);
      } else {
        a = await r.resolveRev(from);
        b = await r.resolveRev(to);
      }
      const d = await diffCommits(r, a, b);
      const lines = [...d.modified.map((p) => `M    ${p}`), ...d.removed.map((p) => `D    ${p}`), ...d.added.map((p) => `A    ${p}`)];
      if (lines.length) stdoutLine(lines.join('\n'));
    });

  withRepo(repo.command('fsck'))
    .description('Verify every reachable object of every commit')
    .option('--delete', 'remove corrupt objects and mark their commits partial')
    .option('--repair', 'delete corrupt objects and fetch them and missing ones again from the remote of each affected commit')
    .option('-q, --quiet', 'print only errors')
    .action(async (o: RepoOpt & { delete?: boolean; repair?: boolean; quiet?: boolean }) => {
      const r = await openRepo(o.repo);
      const say = (s: string): void => {
        if (!o.quiet) stdoutLine(s);
      };
      say('Validating refs...');
      const printProblems = (res: FsckResult): void => {
        for (const p of res.problems) {
          const where = p.commits.length ? ` (in commits ${p.commits.join(', ')})` : '';
          process.stderr.write(`error: ${p.problem === 'missing' ? 'missing' : 'corrupt'} ${p.kind === 'ref' ? 'ref' : 'object'} ${p.kind === 'ref' ? p.object : `${p.object}.${p.kind}`}: ${p.message}${where}\n`);
        }
      };
      if (o.repair) {
        const rep = await repairRepo(r, { onLockWait: () => process.stderr.write('Waiting for the repository lock…\n') });
        say(`Verified ${rep.before.objectsChecked} objects of ${rep.before.commits - rep.before.partialCommits} commits`);
        printProblems(rep.before);
        for (const c of rep.commits) {
          if (c.repaired) say(`Repaired commit ${c.commit} from remote "${c.remote}"`);
          else process.stderr.write(`error: cannot repair commit ${c.commit}${c.remote ? ` from remote "${c.remote}"` : ''}: ${c.error}\n`);
        }
        if (rep.before.problems.length === 0) say('No problems found');
        else say(`Commits affected: ${rep.commits.length}${rep.commits.length ? ` (${rep.commits.map((c) => c.commit).join(', ')})` : ''}`);
        if (rep.after.problems.length > 0) {
          printProblems(rep.after);
          throw new UpdaterError('STORE_FSCK_FAILED', `${rep.after.problems.length} problems remain in ${r.path} after the repair`, {
            hint: 'pull the affected commits again, or check the remote',
          });
        }
        return;
      }
      const res = await fsckRepo(r, { delete: o.delete, onProgress: (n) => progress(`fsck objects: ${n} checked`) });
      progress(null);
      say(`Verified ${res.objectsChecked} objects of ${res.commits - res.partialCommits} commits`);
      if (res.partialCommits > 0) say(`${res.partialCommits} partial commits not verified`);
      printProblems(res);
      if (res.deleted > 0) say(`Deleted ${res.deleted} corrupt objects`);
      if (res.problems.length > 0) {
        throw new UpdaterError('STORE_FSCK_FAILED', `${res.problems.length} problems found in ${r.path}`, {
          hint: o.delete ? 'pull or commit the affected commits again' : 'run with --repair to fetch them again from the remote, or --delete to remove corrupt objects',
        });
      }
    });

  withRepo(repo.command('prune'))
    .description('Delete objects unreachable from refs or commits')
    .option('--refs-only', 'only keep objects reachable from refs')
    .option('--depth <N>', 'ancestors to keep per root (-1 = all)', intOption('--depth'), -1)
    .option('--keep-younger-than <DATE>', 'prune commits older than DATE (implies --refs-only)')
    .option('--no-prune', 'only report what would be deleted')
    .action(async (o: RepoOpt & { refsOnly?: boolean; depth: number; keepYoungerThan?: string; prune: boolean }) => {
      const r = await openRepo(o.repo);
      const res = await pruneRepo(r, {
        refsOnly: o.refsOnly, depth: o.depth, dryRun: !o.prune,
        keepYoungerThan: o.keepYoungerThan === undefined ? undefined : parseTimestamp(o.keepYoungerThan, '--keep-younger-than'),
        onLockWait: () => process.stderr.write('Waiting for the repository lock…\n'),
      });
      stdoutLine(`Total objects: ${res.total}`);
      if (res.deleted === 0) stdoutLine('No unreachable objects');
      else stdoutLine(`${o.prune ? 'Deleted' : 'Would delete'} ${res.deleted} objects, ${formatSize(res.freedBytes)} freed`);
    });

  registerRemoteCommands(repo);
  registerPullCommands(repo);
  registerPublishCommands(repo, withRepo);
  registerDeltaCommands(repo);
}
