// Oracle tests against the Debian ostree 2022.7: for the same repository, `ostree summary -u`
// and ours write the same bytes (given the same clock); ostree reads our summary and
// signatures; `ostree pull` over nginx works from a repo we published and signed.
// (Debian's ostree lacks ed25519, so it cannot check the signatures themselves: the
// vectors in summary.test.ts / sign-repo.test.ts do that.)

import { cpSync, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomic, have, makeTmp, ostree, removeTmp } from '../../test-support/index.ts';
import { NGINX_BIN, startNginx } from '../../test-support/nginx.ts';
import { bswap64, variant } from '../gvariant/index.ts';
import { decodeSummary, encodeSummary, sha256Hex } from '../objects/index.ts';
import { Repo } from '../repo/repo.ts';
import { parsePublicKey } from '../sign/index.ts';
import { PUBLIC, SECRET } from '../sign/test-vectors.ts';
import { parseGVariantText } from './gvariant-text.ts';
import { signCommitInRepo } from './sign-repo.ts';
import { regenerateSummary } from './summary-file.ts';
import { renderSummaryRaw, renderSummaryView } from './summary-view.ts';

const HAVE_OSTREE = have('ostree');

/** Extra metadata: enough keys to make GLib resize the table, of several types. */
const EXTRA = [
  "title='Example OS'", 'n=42', 'big=uint64 1234567890123', 'flag=false', "list=['a', 'b']", 'dbl=2.5',
  "v=<'boxed'>", 'ostree.summary.mode=\'overridden\'', 'k1=1', 'k2=2', 'k3=3', "quote=\"it's\"",
];

async function ok(args: string[]): Promise<string> {
  const r = await ostree(args);
  if (r.code !== 0) throw new Error(`ostree ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Builds a repo with ostree: two branches (one with a version), two deltas, remote and mirror refs. */
async function makeBase(dir: string, collectionId?: string): Promise<string> {
  const repo = join(dir, 'base');
  await mkdir(dir, { recursive: true });
  await ok([`--repo=${repo}`, 'init', '--mode=archive', ...(collectionId ? [`--collection-id=${collectionId}`] : [])]);
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'usr/lib'), { recursive: true });
  await writeFile(join(tree, 'usr/lib/libfoo.so.1'), 'x'.repeat(5000));
  const a = (await ok([`--repo=${repo}`, 'commit', '-b', 'os/main', `--tree=dir=${tree}`, '-s', 'A', '--add-metadata-string=version=1.0', '--timestamp=2021-01-01T00:00:00Z'])).trim();
  await writeFile(join(tree, 'usr/lib/libfoo.so.1'), `${'x'.repeat(4000)}changed`);
  const b = (await ok([`--repo=${repo}`, 'commit', '-b', 'os/main', `--tree=dir=${tree}`, '-s', 'B', '--add-metadata-string=version=2.0', '--timestamp=2021-01-02T00:00:00Z'])).trim();
  await ok([`--repo=${repo}`, 'commit', '-b', 'other', `--tree=dir=${tree}`, '-s', 'other']);
  await ok([`--repo=${repo}`, 'static-delta', 'generate', `--from=${a}`, `--to=${b}`]);
  await ok([`--repo=${repo}`, 'static-delta', 'generate', '--empty', `--to=${a}`]);
  for (const [p, c] of [['refs/remotes/origin/os/main', a], ['refs/mirrors/org.example.Other/x/y', a], ['refs/mirrors/org.example.Aaa/z', b]] as const) {
    await mkdir(join(repo, p, '..'), { recursive: true });
    await writeFile(join(repo, p), `${c}\n`);
  }
  await writeFile(join(repo, 'config'), `${await readFile(join(repo, 'config'), 'utf8')}tombstone-commits=true\n`);
  return repo;
}

function copy(from: string, to: string): string {
  cpSync(from, to, { recursive: true });
  return to;
}

/** Every file under `dir` with its bytes, for comparing two repositories. */
async function files(dir: string, under: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (rel: string): Promise<void> => {
    for (const e of await readdir(join(dir, rel), { withFileTypes: true }).catch(() => [])) {
      const r = join(rel, e.name);
      if (e.isDirectory()) await walk(r);
      else out.set(r, sha256Hex(await readFile(join(dir, r))));
    }
  };
  await walk(under);
  return out;
}

function lastModified(summary: Uint8Array): number {
  const v = decodeSummary(summary).metadata.find(([k]) => k === 'ostree.summary.last-modified')!;
  return Number(bswap64(v[1].value as bigint));
}

const extra = () => EXTRA.map((kv) => [kv.slice(0, kv.indexOf('=')), parseGVariantText(kv.slice(kv.indexOf('=') + 1))] as [string, ReturnType<typeof parseGVariantText>]);

describe.skipIf(!HAVE_OSTREE)('summary -u is byte-identical to ostree 2022.7', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await makeTmp('publish-oracle-');
  });
  afterAll(async () => {
    await removeTmp(tmp);
  });

  it('plain repo: refs, versions, deltas, mirrors, tombstones, extra metadata, delta indexes', async () => {
    const base = await makeBase(join(tmp, 'plain'));
    const theirs = copy(base, join(tmp, 'plain', 'theirs'));
    const ours = copy(base, join(tmp, 'plain', 'ours'));
    await writeFile(join(theirs, 'summary.sig'), 'stale');
    await writeFile(join(ours, 'summary.sig'), 'stale');
    await ok([`--repo=${theirs}`, 'summary', '-u', ...EXTRA.flatMap((kv) => ['-m', kv])]);
    const theirSummary = await readFile(join(theirs, 'summary'));
    const res = await regenerateSummary(ours, { now: lastModified(theirSummary), additionalMetadata: extra() });
    expect(Buffer.from(res.summary).toString('hex')).toBe(theirSummary.toString('hex'));
    expect(await files(ours, 'delta-indexes')).toEqual(await files(theirs, 'delta-indexes'));
    expect(await readFile(join(ours, 'config'), 'utf8')).toBe(await readFile(join(theirs, 'config'), 'utf8'));
    expect(existsSync(join(ours, 'summary.sig'))).toBe(existsSync(join(theirs, 'summary.sig')));
    // Both tools print the same --view and --raw for it.
    expect(renderSummaryView(res.summary)).toBe(await ok([`--repo=${ours}`, 'summary', '--view']));
    expect(renderSummaryRaw(res.summary)).toBe(await ok([`--repo=${ours}`, 'summary', '--raw']));
  });

  it('collection repo: the ostree-metadata commit and the summary match', async () => {
    const base = await makeBase(join(tmp, 'coll'), 'org.example.Os');
    for (let attempt = 0; ; attempt++) {
      const theirs = copy(base, join(tmp, 'coll', `theirs${attempt}`));
      const ours = copy(base, join(tmp, 'coll', `ours${attempt}`));
      await ok([`--repo=${theirs}`, 'summary', '-u', '-m', "title='Example OS'", '-m', 'k1=1']);
      const theirSummary = await readFile(join(theirs, 'summary'));
      const theirMeta = (await readFile(join(theirs, 'refs/heads/ostree-metadata'), 'utf8')).trim();
      const commitTime = (await Repo.open(theirs).then((r) => r.loadCommit(theirMeta))).timestamp;
      const now = lastModified(theirSummary);
      if (commitTime !== now && attempt < 3) continue; // ostree's two clock reads straddled a second
      const res = await regenerateSummary(ours, { now, additionalMetadata: extra().filter(([k]) => k === 'title' || k === 'k1') });
      expect(res.metadataCommit).toBe(theirMeta);
      expect(Buffer.from(res.summary).toString('hex')).toBe(theirSummary.toString('hex'));
      expect(await files(ours, 'objects')).toEqual(await files(theirs, 'objects'));
      await ok([`--repo=${ours}`, 'fsck']);
      break;
    }
  });

  it('the CLI output equals ostree\'s apart from last-modified', async () => {
    const base = await makeBase(join(tmp, 'cli'));
    const theirs = copy(base, join(tmp, 'cli', 'theirs'));
    const ours = copy(base, join(tmp, 'cli', 'ours'));
    await ok([`--repo=${theirs}`, 'summary', '-u', '-m', "title='x'"]);
    const r = await atomic(['repo', 'summary', '--repo', ours, '-u', '--add-metadata', "title='x'"]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const zero = (b: Buffer): string => {
      const s = decodeSummary(b);
      s.metadata = s.metadata.map(([k, v]) => [k, k === 'ostree.summary.last-modified' ? variant('t', 0n) : v]);
      return Buffer.from(encodeSummary(s)).toString('hex');
    };
    expect(zero(await readFile(join(ours, 'summary')))).toBe(zero(await readFile(join(theirs, 'summary'))));
    const view = await atomic(['repo', 'summary', '--repo', ours, '--view']);
    expect(view.stdout).toBe(await ok([`--repo=${ours}`, 'summary', '--view']));
  });
});

describe.skipIf(!HAVE_OSTREE || !NGINX_BIN)('ostree reads what we publish', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await makeTmp('publish-pull-');
  });
  afterAll(async () => {
    await removeTmp(tmp);
  });

  it('ostree shows our signatures and pulls over HTTP from our signed summary', async () => {
    const repo = await makeBase(join(tmp, 'srv'));
    const r = await Repo.open(repo);
    const head = (await r.readRef('os/main'))!;
    // Sign through the CLI: the commit, then the summary.
    const keys = join(tmp, 'keys');
    await writeFile(keys, `${SECRET}\n`);
    const signed = await atomic(['repo', 'sign', '--repo', repo, 'os/main', '--keys-file', keys]);
    expect(signed.code, signed.stderr).toBe(0);
    const verify = await atomic(['repo', 'sign', '--repo', repo, '--verify', 'os/main', PUBLIC]);
    expect(verify.stdout).toBe(`ed25519: Signature verified successfully with key '${Buffer.from(parsePublicKey(PUBLIC)).toString('hex')}'\n`);
    const sum = await atomic(['repo', 'summary', '--repo', repo, '-u', '--sign', SECRET, '--expires', '2030-01-01T00:00:00Z']);
    expect(sum.code, sum.stderr).toBe(0);
    expect(existsSync(join(repo, 'summary.sig'))).toBe(true);

    const shown = await ok([`--repo=${repo}`, 'show', head, '--print-detached-metadata-key=ostree.sign.ed25519']);
    const sigs = (await r.readCommitmeta(head))!;
    expect(shown).toMatch(/^\[\[byte 0x[0-9a-f]{2}(, 0x[0-9a-f]{2}){63}\]\]\n$/);
    expect(sigs.length).toBeGreaterThan(64);
    const view = await ok([`--repo=${repo}`, 'summary', '--view']);
    expect(view).toContain('Expires (ostree.summary.expires): 2030-01-01T00:00:00+00');
    await ok([`--repo=${repo}`, 'fsck']);

    const nginx = await startNginx(repo, join(tmp, 'nginx'));
    try {
      const client = join(tmp, 'client');
      await ok([`--repo=${client}`, 'init', '--mode=archive']);
      await ok([`--repo=${client}`, 'remote', 'add', '--no-gpg-verify', 'origin', nginx.url]);
      await ok([`--repo=${client}`, 'pull', 'origin', 'os/main']);
      expect((await ok([`--repo=${client}`, 'rev-parse', 'origin:os/main'])).trim()).toBe(head);
      await ok([`--repo=${client}`, 'fsck']);
      const paths = (await nginx.accessLog()).map((e) => `${e.path} ${e.status}`);
      expect(paths).toContain('/summary.sig 200');
      expect(paths).toContain('/summary 200');
      // The remote list comes from our summary.
      expect(await ok([`--repo=${client}`, 'remote', 'refs', 'origin'])).toContain('origin:os/main');
    } finally {
      await nginx.stop();
    }
  });

  it('CLI errors: bad key file, missing commit, failed verification, no option', async () => {
    const repo = join(tmp, 'cli-errors');
    await ok([`--repo=${repo}`, 'init', '--mode=archive']);
    const bad = join(tmp, 'bad.keys');
    await writeFile(bad, `${SECRET}\nnot base64!\n`);
    const tree = join(tmp, 'tree-e');
    await mkdir(tree, { recursive: true });
    await writeFile(join(tree, 'f'), 'f');
    const c = (await ok([`--repo=${repo}`, 'commit', '-b', 'main', `--tree=dir=${tree}`])).trim();
    let r = await atomic(['repo', 'sign', '--repo', repo, c, '--keys-file', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: invalid ${bad}:2: ed25519 secret key: not valid base64`);
    r = await atomic(['repo', 'sign', '--repo', repo, 'ab'.repeat(32), SECRET]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${'ab'.repeat(32)}.commit is missing`);
    r = await atomic(['repo', 'sign', '--repo', repo, '--verify', c, PUBLIC]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: Can't verify commit ${c}: no ed25519 signatures found`);
    r = await atomic(['repo', 'sign', '--repo', repo, c, PUBLIC]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('decodes to 32 bytes, expected 64');
    r = await atomic(['repo', 'summary', '--repo', repo]);
    expect(r.code).toBe(2);
    r = await atomic(['repo', 'summary', '--repo', repo, '-u', '-m', 'x=bare words']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--add-metadata x: cannot parse GVariant text');
    r = await atomic(['repo', 'sign', '--repo', repo, c, SECRET, '--sign-type', 'gpg']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("signature type 'gpg' is not supported");
    const gen = await atomic(['repo', 'sign', '--generate-key', '--secret-file', join(tmp, 'g.secret'), '--public-file', join(tmp, 'g.public')]);
    expect(gen.code, gen.stderr).toBe(0);
    expect(gen.stdout).toBe(await readFile(join(tmp, 'g.public'), 'utf8'));
  });
});
