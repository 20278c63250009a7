// `atomic compose tree` and `atomic compose publish`: the compose server's verbs, with
// rpm-ostree's option names (`rpm-ostree compose tree`) and the publishing steps a tree
// stream needs (pull-local, static delta, summary, prune). Each action makes one compose/ call.

import type { Command } from 'commander';
import { UpdaterError } from '../../common/errors.ts';
import { composeTree, parseMetadataString, publishStream } from '../../compose/index.ts';
import { loadKeysFile } from '../../store/index.ts';
import { collect, intOption, progress, stdoutLine } from '../output.ts';

/**
 * The compose's output: its lines on stdout, and on a terminal a live line on stderr for the
 * long steps (`Importing packages... 120/300`), cleared before each line and when a step ends.
 */
function composeOutput(): { log: (l: string) => void; warn: (l: string) => void; progress: (what: string, done: number, total: number) => void } {
  let shown = false;
  let last = 0;
  const clear = (): void => {
    if (shown) progress(null);
    shown = false;
  };
  return {
    log: (l) => {
      clear();
      stdoutLine(l);
    },
    warn: (l) => {
      clear();
      process.stderr.write(`warning: ${l}\n`);
    },
    progress: (what, done, total) => {
      if (done >= total && total > 1) return clear();
      const now = Date.now();
      if (shown && now - last < 100) return;
      last = now;
      progress(total > 1 ? `${what}... ${done}/${total}` : `${what}...`);
      shown = true;
    },
  };
}

export function registerComposeCommands(program: Command): void {
  const compose = program.command('compose').description('Compose OS trees from rpm-md repositories and publish them (rpm-ostree compose)');

  compose.command('tree')
    .description('Compose a treefile into a new commit on its ref')
    .argument('<TREEFILE>', 'treefile (YAML or JSON)')
    .requiredOption('-r, --repo <REPO>', 'target OSTree repository')
    .option('--cachedir <DIR>', 'keep rpm-md metadata and downloaded packages here between composes')
    .option('-C, --cache-only', 'do not refresh rpm-md metadata; use the cache as it is')
    .option('--force-nocache', 'commit even when the inputs are unchanged')
    .option('--dry-run', 'print the package set and stop')
    .option('--workdir <DIR>', 'build the tree here (default: under the cachedir)')
    .option('--add-metadata-string <KEY=VALUE>', 'add string metadata to the commit (repeatable; version=… overrides the automatic version)', collect)
    .option('--parent <REV>', 'use this commit as the parent (and the previous commit)')
    .option('--no-parent', 'commit without a parent')
    .option('--write-commitid-to <FILE>', 'write the commit checksum to FILE instead of updating the ref')
    .option('--write-composejson-to <FILE>', 'write a JSON summary of the compose to FILE')
    .option('--unified-core', 'accepted for compatibility (always on: packages are imported once into CACHEDIR/pkgcache-repo)')
    .option('--ex-unified-core', 'accepted for compatibility')
    .action(async (treefile: string, o: {
      repo: string; cachedir?: string; cacheOnly?: boolean; forceNocache?: boolean; dryRun?: boolean; workdir?: string;
      addMetadataString?: string[]; parent?: string | boolean; writeCommitidTo?: string; writeComposejsonTo?: string;
    }) => {
      // commander: --no-parent sets parent=false; --parent REV a string; neither leaves true.
      const parent = o.parent === false ? null : typeof o.parent === 'string' ? o.parent : undefined;
      const out = composeOutput();
      await composeTree({
        repo: o.repo, treefile, cachedir: o.cachedir, cacheOnly: o.cacheOnly, forceNocache: o.forceNocache, dryRun: o.dryRun, workdir: o.workdir,
        addMetadata: (o.addMetadataString ?? []).map(parseMetadataString), parent,
        writeCommitidTo: o.writeCommitidTo, writeComposejsonTo: o.writeComposejsonTo,
        ...out,
      });
    });

  compose.command('publish')
    .description('Publish refs of a compose repo into an archive repo for HTTP serving: objects, signatures, static deltas, refs, then the summary')
    .argument('[REFS...]', 'refs to publish (default: every ref of --repo)')
    .requiredOption('-r, --repo <REPO>', 'the compose repository')
    .requiredOption('--to <ARCHIVE_REPO>', 'the published repository (created as an archive repo when missing)')
    .option('--sign <KEY>', 'sign new commits and the summary with this ed25519 secret key, base64 (repeatable)', collect)
    .option('--keys-file <FILE>', 'sign with every ed25519 secret key in FILE')
    .option('--no-deltas', 'do not generate static deltas')
    .option('--prune-depth <N>', 'then prune the published repo to N ancestors per ref (ostree prune --refs-only --depth=N)', intOption('--prune-depth'))
    .option('--keep <N>', 'keep the newest N versions of each ref (same as --prune-depth N-1)', intOption('--keep'))
    .action(async (refs: string[], o: { repo: string; to: string; sign?: string[]; keysFile?: string; deltas: boolean; pruneDepth?: number; keep?: number }) => {
      if (o.keep !== undefined && o.pruneDepth !== undefined) throw new UpdaterError('CLI_USAGE', '--keep and --prune-depth are two spellings of one setting; give one');
      if (o.keep !== undefined && o.keep < 1) throw new UpdaterError('CLI_USAGE', '--keep: must be at least 1');
      if (o.pruneDepth !== undefined && o.pruneDepth < 0) throw new UpdaterError('CLI_USAGE', '--prune-depth: must be 0 or more');
      const keys: (string | Uint8Array)[] = [...(o.sign ?? [])];
      if (o.keysFile !== undefined) keys.push(...(await loadKeysFile(o.keysFile, 'secret')));
      await publishStream({
        from: o.repo, to: o.to, refs, signKeys: keys, deltas: o.deltas,
        pruneDepth: o.keep !== undefined ? o.keep - 1 : o.pruneDepth,
        log: stdoutLine,
      });
    });
}
