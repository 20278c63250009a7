// Summary generation against the ostree 2022.7 vectors: the vector repository's summary,
// delta indexes and summary.sig are rebuilt byte for byte; GLib hash order; --view/--raw
// text; the GVariant text subset of --add-metadata; bad input.

import { readFileSync } from 'node:fs';
import { readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { lockRepo } from '../repo/lock.ts';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTmp, removeTmp } from '../../test-support/index.ts';
import { decodeSummary, decodeVarDict } from '../objects/index.ts';
import { ARCHIVE, ED, SECRET, SUMMARY, SUMMARY_SIG, VEC } from '../sign/test-vectors.ts';
import { copyVectorRepo } from './test-helpers.ts';
import { GHashOrder, gStrHash } from '../gvariant/index.ts';
import { parseGVariantText } from './gvariant-text.ts';
import { listDeltaDigests } from '../delta/index.ts';
import { Repo } from '../repo/repo.ts';
import { readSummaryFiles, regenerateSummary } from './summary-file.ts';
import { renderSummaryRaw, renderSummaryView } from './summary-view.ts';

process.env.TZ = 'UTC';

/** The vector's last-modified (summary.decoded.txt). */
const VECTOR_NOW = 1795318777;

let tmp: string;
beforeEach(async () => {
  tmp = await makeTmp('publish-summary-');
});
afterEach(async () => {
  await removeTmp(tmp);
});

describe('GLib hash-table order', () => {
  it('g_str_hash is djb2 over signed chars', () => {
    expect(gStrHash('')).toBe(5381);
    expect(gStrHash('a')).toBe((5381 * 33 + 97) >>> 0);
    // a byte >= 0x80 is sign-extended: 'é' is c3 a9
    expect(gStrHash('é')).toBe((((5381 * 33 + (0xc3 - 256)) >>> 0) * 33 + (0xa9 - 256)) >>> 0);
  });

  it('reproduces the key order of the vector summary', () => {
    const s = decodeSummary(SUMMARY);
    const t = new GHashOrder<number>();
    for (const k of ['ostree.static-deltas', 'ostree.summary.last-modified', 'ostree.summary.mode', 'ostree.summary.tombstone-commits', 'ostree.summary.indexed-deltas']) t.insert(k, 0);
    expect(t.entries().map(([k]) => k)).toEqual(s.metadata.map(([k]) => k));
    const r = new GHashOrder<number>();
    r.insert('ostree.commit.timestamp', 0);
    r.insert('ostree.commit.version', 0);
    expect(r.entries().map(([k]) => k)).toEqual(s.refs[0]!.metadata.map(([k]) => k));
  });

  it('keeps a replaced key in place and survives resizes', () => {
    const t = new GHashOrder<number>();
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
    keys.forEach((k, i) => t.insert(k, i));
    t.insert('key-3', 99);
    const e = t.entries();
    expect(e).toHaveLength(40);
    expect(new Set(e.map(([k]) => k))).toEqual(new Set(keys));
    expect(e.find(([k]) => k === 'key-3')![1]).toBe(99);
  });
});

describe('regenerateSummary on the vector repository', () => {
  it('rebuilds summary and delta indexes byte for byte', async () => {
    const repo = copyVectorRepo(join(tmp, 'repo'));
    const indexes = ['delta-indexes/6L/PWHPtGWHS2Ct7bTgACbYtyX96EIeCWxU8Vk7L0xZU.index', 'delta-indexes/1o/B1y+Nk5iIFq2LzduiQp2zGrEobwY_yHQcKh13xmLg.index'];
    const before = await Promise.all(indexes.map((p) => readFile(join(repo, p))));
    await rm(join(repo, 'delta-indexes'), { recursive: true });
    const res = await regenerateSummary(repo, { now: VECTOR_NOW });
    expect(Buffer.from(res.summary)).toEqual(SUMMARY);
    expect(await readFile(join(repo, 'summary'))).toEqual(SUMMARY);
    for (const [i, p] of indexes.entries()) expect(await readFile(join(repo, p))).toEqual(before[i]);
    expect(res).toMatchObject({ refs: 1, deltas: 2, signatures: 0, metadataCommit: null });
    // Unsigned: the old summary.sig no longer matches, so it is removed.
    await expect(stat(join(repo, 'summary.sig'))).rejects.toThrow(/ENOENT/);
    expect((await stat(join(repo, 'summary'))).mode & 0o777).toBe(0o644);
  });

  it('signs the summary: summary.sig equals the vector and holds summary.sig.raw', async () => {
    const repo = copyVectorRepo(join(tmp, 'repo'));
    await unlink(join(repo, 'summary.sig'));
    const res = await regenerateSummary(repo, { now: VECTOR_NOW, signingKeys: [SECRET, SECRET] });
    expect(res.signatures).toBe(1); // the same key twice adds one signature
    const sig = await readFile(join(repo, 'summary.sig'));
    expect(sig).toEqual(SUMMARY_SIG);
    const dict = decodeVarDict(sig);
    expect(Buffer.from((dict[0]![1].value as Uint8Array[])[0]!)).toEqual(readFileSync(join(ED, 'summary.sig.raw')));
  });

  it('sets core.indexed-deltas and adds --expires big-endian', async () => {
    const repo = copyVectorRepo(join(tmp, 'repo'));
    await writeFile(join(repo, 'config'), '[core]\nrepo_version=1\nmode=archive-z2\n');
    await regenerateSummary(repo, { now: VECTOR_NOW, expires: VECTOR_NOW + 86400 });
    expect(await readFile(join(repo, 'config'), 'utf8')).toContain('indexed-deltas=true');
    const view = renderSummaryView(await readFile(join(repo, 'summary')));
    expect(view).toContain('Expires (ostree.summary.expires): 2026-11-23T03:39:37+00\n');
  });

  it('a ref whose commit is missing fails naming the ref and keeps the old summary', async () => {
    const repo = copyVectorRepo(join(tmp, 'repo'));
    await writeFile(join(repo, 'refs/heads/broken'), `${'ab'.repeat(32)}\n`);
    await expect(regenerateSummary(repo, { now: 1 })).rejects.toThrow(/ref broken: object abab.*\.commit is missing/);
    expect(await readFile(join(repo, 'summary'))).toEqual(SUMMARY);
    expect(await readFile(join(repo, 'summary.sig'))).toEqual(SUMMARY_SIG);
  });

  it('a bad signing key fails before anything is written', async () => {
    const repo = copyVectorRepo(join(tmp, 'repo'));
    await expect(regenerateSummary(repo, { now: 1, signingKeys: ['AAAA'] })).rejects.toMatchObject({ code: 'SIGN_BAD_KEY' });
    expect(await readFile(join(repo, 'summary'))).toEqual(SUMMARY);
  });

  it('waits for another writer holding the repository lock', async () => {
    const repo = copyVectorRepo(join(tmp, 'repo'));
    const lock = await lockRepo(repo);
    let waited = false;
    let done = false;
    const p = regenerateSummary(repo, { now: VECTOR_NOW + 1, onLockWait: () => (waited = true) }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 300));
    expect([waited, done]).toEqual([true, false]);
    expect(await readFile(join(repo, 'summary'))).toEqual(SUMMARY);
    await lock.release();
    await p;
    expect(await readFile(join(repo, 'summary'))).not.toEqual(SUMMARY);
  });

  it('lists deltas with their superblock digests', async () => {
    const d = await listDeltaDigests(await Repo.open(ARCHIVE));
    expect(d.map((x) => x.superblockSha256).sort()).toEqual([
      'e9dd51cbf4d22d6cdde76cec6afe3b2ff9b50b49e58df109122a4d9115cb875a', 'f387cd72d945f01a8fcf31060cb751bbb52b2cc58dd57a4f35f5b4bd7721e523',
    ]);
  });
});

describe('summary --view / --raw', () => {
  const decoded = readFileSync(join(VEC, 'summary.decoded.txt'), 'utf8');
  const section = (start: string, end: string): string => decoded.slice(decoded.indexOf(start) + start.length + 1, decoded.indexOf(end));

  it('prints what ostree summary --view printed for the vector', () => {
    expect(renderSummaryView(SUMMARY)).toBe(section('$ ostree --repo=archive-repo summary --view', '$ ostree --repo=archive-repo summary --raw').replace(/\n+$/, '\n'));
  });

  it('prints what ostree summary --raw printed for the vector', () => {
    expect(renderSummaryRaw(SUMMARY)).toBe(section('$ ostree --repo=archive-repo summary --raw', '# decoded with').replace(/\n+$/, '\n'));
  });

  it('a repository without a summary is a clear error', async () => {
    await expect(readSummaryFiles(tmp)).rejects.toMatchObject({ code: 'STORE_SUMMARY_MISSING' });
  });
});

describe('GVariant text for --add-metadata', () => {
  it('parses the forms ostree users pass', () => {
    expect(parseGVariantText("'a string'")).toEqual({ type: 's', value: 'a string' });
    expect(parseGVariantText('"it\'s"')).toEqual({ type: 's', value: "it's" });
    expect(parseGVariantText('true')).toEqual({ type: 'b', value: true });
    expect(parseGVariantText('42')).toEqual({ type: 'i', value: 42 });
    expect(parseGVariantText('uint64 1795318777')).toEqual({ type: 't', value: 1795318777n });
    expect(parseGVariantText('@t 5')).toEqual({ type: 't', value: 5n });
    expect(parseGVariantText('1.5')).toEqual({ type: 'd', value: 1.5 });
    expect(parseGVariantText("['a', 'b']")).toEqual({ type: 'as', value: ['a', 'b'] });
    expect(parseGVariantText('@as []')).toEqual({ type: 'as', value: [] });
    expect(parseGVariantText("<'x'>")).toEqual({ type: 'v', value: { type: 's', value: 'x' } });
  });

  it('rejects what it cannot parse, naming the text', () => {
    for (const bad of ['bare words', "'unterminated", 'byte 300', '[]', "['a', 1]", '1 2']) {
      expect(() => parseGVariantText(bad), bad).toThrow(/cannot parse GVariant text/);
    }
  });
});
