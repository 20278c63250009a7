// `atomic repo summary` and `atomic repo sign`: publishing a repository for static HTTP
// serving, with ostree's option names (`ostree summary`, `ostree sign`). Each action parses
// its options and makes one library call; printing happens here.

import type { Command } from 'commander';
import { isUpdaterError, UpdaterError } from '../../common/errors.ts';
import {
  formatVerifySuccess, generateKeyFiles, loadKeysFile, parseGVariantText, readSummaryFiles, regenerateSummary, renderSummaryRaw,
  renderSummaryView, signCommitInRepo, verifyCommitInRepo, type VarDict,
} from '../../store/index.ts';
import { collect, DEFAULT_REPO, openRepo, parseTimestamp, stdoutLine } from '../output.ts';

const onLockWait = (): void => {
  process.stderr.write('Waiting for the repository lock…\n');
};

function checkSignType(type: string): void {
  if (type !== 'ed25519') {
    throw new UpdaterError('SIGN_UNSUPPORTED_TYPE', `signature type '${type}' is not supported`, { hint: 'use --sign-type=ed25519' });
  }
}

/** `-m KEY=VALUE`, VALUE in GVariant text format, as `ostree summary -m` takes it. */
function parseAddMetadata(items: string[]): VarDict {
  return items.map((kv) => {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new UpdaterError('CLI_USAGE', `--add-metadata: expected KEY=VALUE, got '${kv}'`);
    const key = kv.slice(0, eq);
    try {
      return [key, parseGVariantText(kv.slice(eq + 1))];
    } catch (err) {
      if (!isUpdaterError(err, 'GVARIANT_PARSE')) throw err;
      throw new UpdaterError('CLI_USAGE', `--add-metadata ${key}: ${err.message}`, {
        hint: "values are GVariant text: 'a string', true, 42, uint64 42, ['a', 'b']",
      });
    }
  });
}

/** Secret keys from `--sign KEY` (base64 on the command line) and `--keys-file F`. */
async function secretKeys(inline: string[], keysFile: string | undefined): Promise<(string | Uint8Array)[]> {
  const keys: (string | Uint8Array)[] = [...inline];
  if (keysFile !== undefined) keys.push(...(await loadKeysFile(keysFile, 'secret')));
  return keys;
}

export function registerPublishCommands(repo: Command, withRepo: (c: Command) => Command): void {
  withRepo(repo.command('summary'))
    .description('Update (-u) or show (--view, --raw) the summary file that pullers read')
    .option('-u, --update', 'regenerate the summary (and summary.sig when signing)')
    .option('-v, --view', 'print the summary file')
    .option('--raw', 'print the summary as a GVariant')
    .option('-m, --add-metadata <KEY=VALUE>', 'additional metadata, VALUE in GVariant text format (repeatable)', collect)
    .option('--expires <DATE>', 'add ostree.summary.expires (ISO 8601 or seconds since the epoch)')
    .option('--sign <KEY-ID>', 'sign the summary with this ed25519 secret key, base64 (repeatable)', collect)
    .option('--keys-file <FILE>', 'sign with every ed25519 secret key in FILE (one base64 key per line)')
    .option('--sign-type <NAME>', 'signature type', 'ed25519')
    .action(async (o: {
      repo?: string; update?: boolean; view?: boolean; raw?: boolean; addMetadata?: string[]; expires?: string;
      sign?: string[]; keysFile?: string; signType: string;
    }) => {
      const path = o.repo ?? DEFAULT_REPO;
      if (!o.update && !o.view && !o.raw) {
        throw new UpdaterError('CLI_USAGE', 'no option given', { hint: 'use -u to update the summary, --view or --raw to print it' });
      }
      if (o.update) {
        checkSignType(o.signType);
        const additionalMetadata = parseAddMetadata(o.addMetadata ?? []);
        const signingKeys = await secretKeys(o.sign ?? [], o.keysFile);
        await openRepo(path);
        await regenerateSummary(path, {
          additionalMetadata, signingKeys, onLockWait,
          expires: o.expires === undefined ? undefined : parseTimestamp(o.expires, '--expires'),
        });
      } else if (o.addMetadata || o.expires || o.sign || o.keysFile) {
        throw new UpdaterError('CLI_USAGE', '--add-metadata, --expires, --sign and --keys-file need -u');
      }
      if (o.view || o.raw) {
        const { summary } = await readSummaryFiles(path);
        process.stdout.write(o.raw ? renderSummaryRaw(summary) : renderSummaryView(summary));
      }
    });

  withRepo(repo.command('sign'))
    .description('Sign a commit with ed25519 keys, verify its signatures (--verify), or make a key pair (--generate-key)')
    .argument('[COMMIT]', 'commit checksum or ref')
    .argument('[KEY-ID...]', 'secret keys (base64) to sign with; with --verify, public keys (base64)')
    .option('--verify', 'verify the commit\'s signatures instead of signing')
    .option('-s, --sign-type <NAME>', 'signature type', 'ed25519')
    .option('--keys-file <FILE>', 'keys file: secret keys to sign with, or public keys to verify with (one base64 key per line)')
    .option('--keys-dir <DIR>', 'with --verify: read trusted.ed25519(.d) and revoked.ed25519(.d) here instead of /etc/ostree and /usr/share/ostree')
    .option('--generate-key', 'generate a new ed25519 key pair')
    .option('--secret-file <FILE>', 'with --generate-key: write the secret key (base64, mode 0600) here')
    .option('--public-file <FILE>', 'with --generate-key: write the public key (base64) here')
    .action(async (commit: string | undefined, keyIds: string[], o: {
      repo?: string; verify?: boolean; signType: string; keysFile?: string; keysDir?: string;
      generateKey?: boolean; secretFile?: string; publicFile?: string;
    }) => {
      checkSignType(o.signType);
      if (o.generateKey) {
        if (commit !== undefined) throw new UpdaterError('CLI_USAGE', '--generate-key takes no COMMIT');
        if (o.secretFile === undefined) {
          throw new UpdaterError('CLI_USAGE', '--generate-key needs --secret-file', { hint: 'atomic repo sign --generate-key --secret-file KEY.secret --public-file KEY.public' });
        }
        const pair = await generateKeyFiles(o.secretFile, o.publicFile);
        stdoutLine(pair.publicKey);
        return;
      }
      if (commit === undefined) throw new UpdaterError('CLI_USAGE', 'a COMMIT is required', { hint: 'atomic repo sign --repo R COMMIT KEY-ID… or --keys-file FILE' });
      const r = await openRepo(o.repo);
      const checksum = await r.resolveRev(commit);
      if (o.verify) {
        const res = await verifyCommitInRepo(r, checksum, { keys: keyIds, keysFile: o.keysFile, keysDir: o.keysDir });
        for (const w of res.warnings) process.stderr.write(`warning: ${w}\n`);
        stdoutLine(formatVerifySuccess(res));
        return;
      }
      if (o.keysDir !== undefined) throw new UpdaterError('CLI_USAGE', '--keys-dir is only used with --verify');
      const keys = await secretKeys(keyIds, o.keysFile);
      if (keys.length === 0) throw new UpdaterError('CLI_USAGE', `no key given to sign commit ${checksum}`, { hint: 'pass a base64 secret key or --keys-file FILE' });
      const res = await signCommitInRepo(r, checksum, keys, { onLockWait });
      if (res.added < keys.length) process.stderr.write(`commit ${checksum} already carries ${keys.length - res.added} of these signatures\n`);
    });
}
