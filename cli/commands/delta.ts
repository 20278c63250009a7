// `atomic repo static-delta …`: generate, list, show, delete, apply-offline,
// indexes and reindex, with `ostree static-delta`'s option names and output.

import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { UpdaterError } from '../../common/errors.ts';
import {
  applyDeltaDirectory, deleteDelta, generateStaticDelta, listDeltaIndexes, listDeltas, readSuperblockFile, reindexDeltas, showDelta,
  verifySuperblockSignature,
} from '../../store/delta/index.ts';
import { formatVerifySuccess, loadVerificationKeys } from '../../store/publish/index.ts';
import { readKeysFile } from '../../store/sign/index.ts';
import { DEFAULT_REPO, openRepo, stdoutLine } from '../output.ts';

interface RepoOpt {
  repo?: string;
}

/** Megabyte options, as ostree's (decimal MB). */
function mbOption(name: string): (v: string) => number {
  return (v: string) => {
    if (!/^\d+$/.test(v)) throw new UpdaterError('CLI_USAGE', `${name}: expected a whole number of megabytes, got '${v}'`);
    return Number(v);
  };
}

export function registerDeltaCommands(repo: Command): void {
  const sd = repo.command('static-delta').description('Generate, inspect and apply static deltas');
  const withRepo = (c: Command): Command => c.option('--repo <PATH>', `path to the repository (default ${DEFAULT_REPO})`);

  withRepo(sd.command('generate'))
    .description('Generate a static delta (FROM defaults to the parent of TO)')
    .argument('[TO]', 'target revision (or use --to)')
    .option('--from <REV>', 'create the delta from revision REV')
    .option('--to <REV>', 'create the delta to revision REV')
    .option('--empty', 'create a from-scratch delta')
    .option('--inline', 'inline the parts into the superblock')
    .option('--disable-bsdiff', 'do not use bsdiff')
    .option('-n, --if-not-exists', 'only generate if the delta does not already exist')
    .option('--min-fallback-size <MB>', 'minimum uncompressed size in megabytes for a separate HTTP request (0 = never)', mbOption('--min-fallback-size'))
    .option('--max-bsdiff-size <MB>', 'maximum size in megabytes of a file pair to bsdiff', mbOption('--max-bsdiff-size'))
    .option('--max-chunk-size <MB>', 'maximum size of a delta part in megabytes', mbOption('--max-chunk-size'))
    .option('--filename <DIR>', 'write the delta into DIR instead of the repository')
    .option('--sign <KEY>', 'sign the superblock with this base64 ed25519 secret key')
    .option('--sign-type <NAME>', 'signature type (only ed25519)', 'ed25519')
    .option('--keys-file <PATH>', 'sign with every secret key in PATH (one base64 key per line)')
    .option('-v, --verbose', 'print the pairing decisions')
    .action(async (toArg: string | undefined, o: RepoOpt & {
      from?: string; to?: string; empty?: boolean; inline?: boolean; disableBsdiff?: boolean; ifNotExists?: boolean;
      minFallbackSize?: number; maxBsdiffSize?: number; maxChunkSize?: number; filename?: string; sign?: string; signType: string;
      keysFile?: string; verbose?: boolean;
    }) => {
      const r = await openRepo(o.repo);
      const toRev = o.to ?? toArg;
      if (!toRev) throw new UpdaterError('CLI_USAGE', '--to=REV is required', { hint: 'atomic repo static-delta generate --repo R --to REV [--from REV | --empty]' });
      if (o.empty && o.from) throw new UpdaterError('CLI_USAGE', '--empty and --from are mutually exclusive');
      if (o.signType !== 'ed25519') throw new UpdaterError('CLI_USAGE', `--sign-type: unsupported signature type '${o.signType}'`, { hint: 'only ed25519 is supported' });
      const to = await r.resolveRev(toRev);
      const from = o.empty ? null : o.from !== undefined ? await r.resolveRev(o.from) : undefined;
      const signKeys: Array<string | Uint8Array> = [];
      if (o.sign) signKeys.push(o.sign);
      if (o.keysFile) signKeys.push(...readKeysFile(await readFile(o.keysFile, 'utf8'), { kind: 'secret', what: o.keysFile }));
      if (o.ifNotExists) {
        const parent = from === undefined ? (await r.loadCommit(to)).parent : from;
        const name = parent === null ? to : `${parent}-${to}`;
        if ((await listDeltas(r)).includes(name)) {
          stdoutLine(`Delta ${name} exists`);
          return;
        }
      }
      const toCommit = await r.loadCommit(to);
      const fromShown = from === undefined ? toCommit.parent : from;
      stdoutLine('Generating static delta:');
      stdoutLine(`  From: ${fromShown ?? 'empty'}`);
      stdoutLine(`  To:   ${to}`);
      const res = await generateStaticDelta(r, {
        from, to, inline: o.inline, disableBsdiff: o.disableBsdiff,
        minFallbackSize: o.minFallbackSize === undefined ? undefined : o.minFallbackSize * 1000 * 1000,
        maxBsdiffSize: o.maxBsdiffSize === undefined ? undefined : o.maxBsdiffSize * 1000 * 1000,
        maxChunkSize: o.maxChunkSize === undefined ? undefined : o.maxChunkSize * 1000 * 1000,
        outDir: o.filename, signKeys,
        onPair: o.verbose ? (t, f, reason, path) => process.stderr.write(`bsdiff ${path} (${reason}): ${f} -> ${t}\n`) : undefined,
      });
      if (o.verbose) process.stderr.write(`parts=${res.parts} bsdiff=${res.bsdiffs} copies=${res.copies} fallbacks=${res.fallbacks} bytes=${res.totalBytes}\n`);
    });

  withRepo(sd.command('list'))
    .description('List static deltas')
    .action(async (o: RepoOpt) => {
      const names = await listDeltas(await openRepo(o.repo));
      stdoutLine(names.length ? names.join('\n') : '(No static deltas)');
    });

  withRepo(sd.command('show'))
    .description('Dump information on a delta')
    .argument('<DELTA>', 'FROM-TO, TO, or a path to a superblock')
    .action(async (delta: string, o: RepoOpt) => {
      process.stdout.write(await showDelta(await openRepo(o.repo), delta));
    });

  withRepo(sd.command('delete'))
    .description('Remove a delta')
    .argument('<DELTA>', 'FROM-TO or TO')
    .action(async (delta: string, o: RepoOpt) => {
      await deleteDelta(await openRepo(o.repo), delta);
    });

  withRepo(sd.command('apply-offline'))
    .description('Apply a static delta directory (or its superblock file) to the repository')
    .argument('<PATH>', 'delta directory or superblock')
    .action(async (path: string, o: RepoOpt) => {
      await applyDeltaDirectory(await openRepo(o.repo), path);
    });

  withRepo(sd.command('verify'))
    .description('Verify the ed25519 signatures of a static delta superblock')
    .argument('<DELTA>', 'FROM-TO, TO, or a path to a superblock or delta directory')
    .argument('[KEYS...]', 'trusted public keys (base64)')
    .option('--sign-type <NAME>', 'signature type (only ed25519)', 'ed25519')
    .option('--keys-file <PATH>', 'read trusted public keys from PATH (one base64 key per line)')
    .option('--keys-dir <DIR>', 'use DIR instead of /etc/ostree and /usr/share/ostree for trusted.ed25519(.d) and revoked.ed25519(.d)')
    .action(async (delta: string, keys: string[], o: RepoOpt & { signType: string; keysFile?: string; keysDir?: string }) => {
      if (o.signType !== 'ed25519') throw new UpdaterError('SIGN_UNSUPPORTED_TYPE', `--sign-type: unsupported signature type '${o.signType}'`, { hint: 'only ed25519 is supported' });
      const { bytes, label } = await readSuperblockFile(await openRepo(o.repo), delta);
      const ring = await loadVerificationKeys({ keys, keysFile: o.keysFile, keysDir: o.keysDir });
      for (const w of ring.warnings) process.stderr.write(`warning: ${w}\n`);
      const res = await verifySuperblockSignature(bytes, ring.trusted, ring.revoked, label);
      stdoutLine(formatVerifySuccess(res));
      stdoutLine('Verification OK');
    });

  withRepo(sd.command('indexes'))
    .description('List static delta indexes')
    .action(async (o: RepoOpt) => {
      const tos = await listDeltaIndexes(await openRepo(o.repo));
      stdoutLine(tos.length ? tos.join('\n') : '(No static deltas indexes)');
    });

  withRepo(sd.command('reindex'))
    .description('Regenerate static delta indexes (delta-indexes/)')
    .option('--to <REV>', 'only the index of this commit')
    .action(async (o: RepoOpt & { to?: string }) => {
      const r = await openRepo(o.repo);
      await reindexDeltas(r, o.to === undefined ? undefined : await r.resolveRev(o.to));
    });
}
