// `atomic repo remote add|list|delete|show-url`, with `ostree remote`'s options
// and output; the config is written exactly as ostree writes it.

import type { Command } from 'commander';
import { UpdaterError } from '../../common/errors.ts';
import { addRemote, deleteRemote, getRemote, listRemotes, parseSignVerifySpec } from '../../store/index.ts';
import { parsePublicKey } from '../../store/sign/index.ts';
import { collect, DEFAULT_REPO, openRepo, stdoutLine } from '../output.ts';

interface RepoOpt {
  repo?: string;
}

function parseKeyValue(kv: string): [string, string] {
  const eq = kv.indexOf('=');
  if (eq <= 0) throw new UpdaterError('CLI_USAGE', `--set: expected KEY=VALUE, got '${kv}'`);
  return [kv.slice(0, eq), kv.slice(eq + 1)];
}

export function registerRemoteCommands(repo: Command): void {
  const remote = repo.command('remote').description('Manage remotes: add, list, delete, show-url');
  const withRepo = (c: Command): Command => c.option('--repo <PATH>', `path to the repository (default ${DEFAULT_REPO})`);

  withRepo(remote.command('add'))
    .description('Add a remote repository')
    .argument('<NAME>')
    .argument('<URL>')
    .argument('[BRANCHES...]', 'branches pulled when none are named')
    .option('--set <KEY=VALUE>', 'set a config option for the remote (repeatable)', collect)
    .option('--no-gpg-verify', 'disable GPG verification')
    .option('--sign-verify <KEYTYPE=inline:KEY|KEYTYPE=file:PATH>', 'verify signatures with this key (repeatable)', collect)
    .option('--no-sign-verify', 'disable signature verification')
    .option('--if-not-exists', 'do nothing if the remote exists')
    .option('--force', 'replace the remote if it exists')
    .option('--contenturl <URL>', 'use URL when fetching content')
    .option('--collection-id <ID>', 'collection id of the remote')
    .action(async (name: string, url: string, branches: string[], o: RepoOpt & {
      set?: string[]; gpgVerify: boolean; signVerify?: string[] | false; ifNotExists?: boolean; force?: boolean; contenturl?: string; collectionId?: string;
    }) => {
      const r = await openRepo(o.repo);
      // Keys in the order ostree's remote add builds them.
      const options: Array<[string, string]> = [];
      if (o.contenturl !== undefined) options.push(['contenturl', o.contenturl]);
      for (const kv of o.set ?? []) options.push(parseKeyValue(kv));
      if (!o.gpgVerify || o.signVerify === false) options.push(['gpg-verify', 'false']);
      if (o.signVerify === false) options.push(['sign-verify', 'false']);
      const types: string[] = [];
      for (const spec of Array.isArray(o.signVerify) ? o.signVerify : []) {
        const s = parseSignVerifySpec(spec);
        if (s.key.endsWith('-key')) parsePublicKey(s.value, '--sign-verify ed25519 public key');
        options.push([s.key, s.value]);
        if (!types.includes(s.type)) types.push(s.type);
      }
      if (types.length > 0) options.push(['sign-verify', types.join(',')]);
      if (o.collectionId !== undefined) options.push(['collection-id', o.collectionId]);
      await addRemote(r, name, url, { options, branches, ifNotExists: o.ifNotExists, force: o.force });
    });

  withRepo(remote.command('list'))
    .description('List remote repository names')
    .option('-u, --show-urls', 'show remote URLs in the list')
    .action(async (o: RepoOpt & { showUrls?: boolean }) => {
      const r = await openRepo(o.repo);
      const names = listRemotes(r);
      const width = Math.max(0, ...names.map((n) => n.length));
      for (const n of names) stdoutLine(o.showUrls ? `${n.padEnd(width)}  ${getRemote(r, n).url}` : n);
    });

  withRepo(remote.command('delete'))
    .description('Delete a remote repository')
    .argument('<NAME>')
    .option('--if-exists', 'do nothing if the remote does not exist')
    .action(async (name: string, o: RepoOpt & { ifExists?: boolean }) => {
      await deleteRemote(await openRepo(o.repo), name, { ifExists: o.ifExists });
    });

  withRepo(remote.command('show-url'))
    .description('Show the URL of a remote repository')
    .argument('<NAME>')
    .action(async (name: string, o: RepoOpt) => {
      stdoutLine(getRemote(await openRepo(o.repo), name).url);
    });
}
