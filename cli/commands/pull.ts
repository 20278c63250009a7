// `atomic repo pull REMOTE [REF…]` (also REMOTE:REF), with ostree pull's option
// names; progress as a live terminal line, JSON lines, or nothing.

import type { Command } from 'commander';
import { UpdaterError } from '../../common/errors.ts';
import { pullRemote, renderProgressJson, renderProgressLine, renderPullSummary, type PullProgress } from '../../store/index.ts';
import { collect, DEFAULT_REPO, intOption, openRepo, progress, stdoutLine } from '../output.ts';

/** Splits `REMOTE:REF` and checks that every REMOTE:REF names the same remote. */
export function parsePullArgs(first: string, rest: string[]): { remote: string; refs: string[] } {
  let remote = first;
  const refs: string[] = [];
  const colon = first.indexOf(':');
  if (colon >= 0) {
    remote = first.slice(0, colon);
    refs.push(first.slice(colon + 1));
  }
  for (const r of rest) {
    const i = r.indexOf(':');
    if (i < 0) refs.push(r);
    else if (r.slice(0, i) !== remote) throw new UpdaterError('CLI_USAGE', `refspec '${r}' names another remote than '${remote}'`);
    else refs.push(r.slice(i + 1));
  }
  if (remote === '') throw new UpdaterError('CLI_USAGE', 'the remote name is empty');
  return { remote, refs };
}

export function registerPullCommands(repo: Command): void {
  repo.command('pull')
    .description('Download commits from a remote repository')
    .argument('<REMOTE>', 'remote name, or REMOTE:REF')
    .argument('[REFS...]', 'refs or commit checksums (default: the remote\'s branches, or all with --mirror)')
    .option('--repo <PATH>', `path to the repository (default ${DEFAULT_REPO})`)
    .option('--mirror', 'write refs to refs/heads and fetch all refs if none are given')
    .option('--depth <N>', 'traverse N parents (-1 = all)', intOption('--depth'), 0)
    .option('--commit-metadata-only', 'fetch only the commit objects')
    .option('-L, --localcache-repo <PATH>', 'copy objects from this local repository when it has them (repeatable)', collect)
    .option('--allow-downgrade', 'accept a commit older than the ref\'s current one')
    .option('--disable-static-deltas', 'do not use static deltas')
    .option('--require-static-deltas', 'fail unless static deltas are used')
    .option('--url <URL>', 'pull from this URL instead of the remote\'s')
    .option('--network-retries <N>', 'retries per request on network errors', intOption('--network-retries'))
    .option('--stall-timeout <SECONDS>', 'give up on a request when no data arrives for this long', intOption('--stall-timeout'))
    .option('--progress <MODE>', 'auto (a live line on a terminal), json (one object per line on stdout) or none', 'auto')
    .action(async (first: string, rest: string[], o: {
      repo?: string; mirror?: boolean; depth: number; commitMetadataOnly?: boolean; localcacheRepo?: string[]; allowDowngrade?: boolean;
      disableStaticDeltas?: boolean; requireStaticDeltas?: boolean; url?: string; networkRetries?: number; stallTimeout?: number; progress: string;
    }) => {
      if (!['auto', 'json', 'none'].includes(o.progress)) throw new UpdaterError('CLI_USAGE', `--progress: expected auto, json or none, got '${o.progress}'`);
      if (o.disableStaticDeltas && o.requireStaticDeltas) throw new UpdaterError('CLI_USAGE', '--disable-static-deltas and --require-static-deltas are mutually exclusive');
      const { remote, refs } = parsePullArgs(first, rest);
      const r = await openRepo(o.repo);
      const live = o.progress === 'auto' && process.stderr.isTTY;
      const onProgress = o.progress === 'json'
        ? (p: PullProgress) => stdoutLine(renderProgressJson(p))
        : live ? (p: PullProgress) => progress(renderProgressLine(p)) : undefined;
      try {
        const res = await pullRemote(r, remote, {
          refs, mirror: o.mirror, depth: o.depth, commitMetadataOnly: o.commitMetadataOnly, localCacheRepos: o.localcacheRepo,
          allowDowngrade: o.allowDowngrade, disableStaticDeltas: o.disableStaticDeltas, requireStaticDeltas: o.requireStaticDeltas, url: o.url, networkRetries: o.networkRetries,
          stallTimeoutMs: o.stallTimeout === undefined ? undefined : o.stallTimeout * 1000,
          onProgress,
          onLockWait: () => process.stderr.write('Waiting for the repository lock…\n'),
        });
        if (live) progress(null);
        if (o.progress !== 'json') stdoutLine(renderPullSummary(res.progress));
      } catch (err) {
        if (live) progress(null);
        throw err;
      }
    });
}
