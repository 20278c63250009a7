// Unit tests of the RPM codecs (header, cpio, capabilities) and of the reader on
// synthesised packages: round trips, every truncation, corruption, hostile paths
// and rpm's stripped large-file payload format. No external tools.

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isUpdaterError } from '../../common/errors.ts';
import { errorOf, makeTmp, removeTmp } from '../../test-support/index.ts';
import {
  ByteReader, decodeFileCaps, encodeFileCaps, encodeHeader, normalizePayloadPath, parseCapText, parseHeader, parseLead,
  decodePackage, formatDependency, readCpioHeader, readPayloadEntries, readRpm, readRpmPayload, RPM_TYPE, type RpmHeader, type RpmHeaderInput,
  type RpmPayloadEntry, RPMSENSE, type RpmTagValue, TAG,
} from './index.ts';
import { encodeCpioHeader } from './cpio.ts';
import { extractRpm, type SynthFile, synthRpm } from './testing.ts';

const tagValue: fc.Arbitrary<RpmTagValue> = fc.oneof(
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 5 }).map((value) => ({ type: RPM_TYPE.INT8, value })),
  fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 5 }).map((value) => ({ type: RPM_TYPE.INT16, value })),
  fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 5 }).map((value) => ({ type: RPM_TYPE.INT32, value })),
  fc.array(fc.maxSafeNat(), { minLength: 1, maxLength: 3 }).map((value) => ({ type: RPM_TYPE.INT64, value })),
  fc.string({ unit: 'grapheme' }).filter((s) => !s.includes('\0')).map((s) => ({ type: RPM_TYPE.STRING, value: [s] })),
  fc.array(fc.string().filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 4 }).map((value) => ({ type: RPM_TYPE.STRING_ARRAY, value })),
  fc.array(fc.string().filter((s) => !s.includes('\0')), { minLength: 1, maxLength: 2 }).map((value) => ({ type: RPM_TYPE.I18NSTRING, value })),
  fc.uint8Array({ minLength: 1, maxLength: 20 }).map((value) => ({ type: RPM_TYPE.BIN, value })),
);
const entriesArb = fc.uniqueArray(fc.record({ tag: fc.integer({ min: 100, max: 6000 }), value: tagValue }), { selector: (e) => e.tag, minLength: 1, maxLength: 12 });

/** Runs fn; passes if it returns or throws an UpdaterError with an RPM_ code, fails on any other exception. */
function onlyRpmErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!isUpdaterError(err) || !err.code.startsWith('RPM_')) throw err;
  }
}

describe('header codec', () => {
  it('decode(encode(x)) = x for every tag type, with integers aligned', () => {
    fc.assert(
      fc.property(entriesArb, (entries) => {
        const blob = encodeHeader(entries);
        const { header, length } = parseHeader(blob, 0, 'h');
        expect(length).toBe(blob.length);
        for (const e of entries) {
          const got = header.raw(e.tag)!;
          expect(got.type).toBe(e.value.type);
          if (e.value.type === RPM_TYPE.BIN) expect(Buffer.from(got.value as Uint8Array).equals(Buffer.from(e.value.value))).toBe(true);
          else expect(got.value).toEqual(e.value.value);
        }
      }),
    );
  });

  it('every truncation and every flipped byte is an RPM_ error or a clean parse, never a crash', () => {
    fc.assert(
      fc.property(entriesArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (entries, pos, xor) => {
        const blob = encodeHeader(entries);
        for (let n = 0; n < blob.length; n++) {
          const e = errorOf(() => parseHeader(blob.subarray(0, n), 0, 'pkg.rpm: header'));
          expect(e.code).toMatch(/^RPM_(TRUNCATED|MALFORMED)$/);
          expect(e.message).toContain('pkg.rpm: header');
        }
        const bad = Buffer.from(blob);
        bad[pos % bad.length]! ^= xor;
        onlyRpmErrors(() => parseHeader(bad, 0, 'h'));
      }),
      { numRuns: 60 },
    );
  });

  const one = (value: RpmTagValue, patch: (b: Buffer) => void): string => {
    const b = Buffer.from(encodeHeader([{ tag: 1000, value }]));
    patch(b);
    return errorOf(() => parseHeader(b, 0, 'x.rpm: header')).message;
  };

  it('names the tag and offset of a bad entry', () => {
    // Index entry 0 is at byte 16: tag, type, offset, count.
    expect(one({ type: RPM_TYPE.STRING, value: ['abc'] }, (b) => b.writeUInt32BE(99, 20))).toMatch(/tag 1000: unknown data type 99 \(at byte offset 16\)/);
    expect(one({ type: RPM_TYPE.STRING, value: ['abc'] }, (b) => (b[b.length - 1] = 0x41))).toMatch(/tag 1000: string 0 at 0 is not NUL-terminated/);
    expect(one({ type: RPM_TYPE.INT32, value: [1] }, (b) => b.writeUInt32BE(2, 24))).toMatch(/data offset 2 outside|misaligned/);
    expect(one({ type: RPM_TYPE.INT32, value: [1, 2] }, (b) => b.writeUInt32BE(3, 28))).toMatch(/tag 1000: 3 integers at 0 run past the store/);
    expect(one({ type: RPM_TYPE.INT16, value: [1, 2] }, (b) => b.writeUInt32BE(1, 24))).toMatch(/misaligned 2-byte integers at 1/);
    expect(one({ type: RPM_TYPE.BIN, value: new Uint8Array(4) }, (b) => b.writeUInt32BE(0x7fffffff, 28))).toMatch(/implausible count/);
    expect(one({ type: RPM_TYPE.BIN, value: new Uint8Array(4) }, (b) => b.writeUInt32BE(0x00f00000, 12))).toMatch(/truncated in the header/);
    expect(one({ type: RPM_TYPE.BIN, value: new Uint8Array(4) }, (b) => (b[0] = 0))).toMatch(/bad header magic/);
  });

  it('a non-RPM file has no lead', () => {
    expect(errorOf(() => parseLead(Buffer.from('#!/bin/sh\necho not an rpm\n'), 'x.rpm'))).toMatchObject({ code: 'RPM_NOT_RPM' });
    expect(errorOf(() => parseLead(Buffer.from([0xed, 0xab, 0xee, 0xdb, 3]), 'x.rpm'))).toMatchObject({ code: 'RPM_TRUNCATED' });
  });
});

describe('package decoding', () => {
  it('reads old-style file names, interpreter arguments, program-only scriptlets and an epoch', () => {
    const str = (v: string): RpmTagValue => ({ type: RPM_TYPE.STRING, value: [v] });
    const h = parseHeader(encodeHeader([
      { tag: TAG.NAME, value: str('old') },
      { tag: TAG.VERSION, value: str('2') },
      { tag: TAG.RELEASE, value: str('1') },
      { tag: TAG.EPOCH, value: { type: RPM_TYPE.INT32, value: [0] } },
      { tag: TAG.ARCH, value: str('x86_64') },
      { tag: TAG.SOURCERPM, value: str('old-2-1.src.rpm') },
      { tag: TAG.OLDFILENAMES, value: { type: RPM_TYPE.STRING_ARRAY, value: ['/usr/bin/old', '/etc/old.conf'] } },
      { tag: TAG.FILEMODES, value: { type: RPM_TYPE.INT16, value: [0o100755, 0o100644] } },
      { tag: TAG.PREIN, value: str('print(1)') },
      { tag: TAG.PREINPROG, value: { type: RPM_TYPE.STRING_ARRAY, value: ['/usr/bin/python3', '-s'] } },
      { tag: TAG.POSTINPROG, value: str('/sbin/ldconfig') },
      { tag: TAG.REQUIRENAME, value: { type: RPM_TYPE.STRING_ARRAY, value: ['a', 'b'] } },
      { tag: TAG.REQUIREFLAGS, value: { type: RPM_TYPE.INT32, value: [RPMSENSE.GREATER | RPMSENSE.EQUAL, 0] } },
      { tag: TAG.REQUIREVERSION, value: { type: RPM_TYPE.STRING_ARRAY, value: ['1:2.0', ''] } },
    ]), 0, 'old.rpm: header').header;
    const p = decodePackage(h);
    expect(p.nevra).toBe('old-2-1.x86_64');
    expect(p.epoch).toBe(0);
    expect(p.files.map((f) => f.path)).toEqual(['/usr/bin/old', '/etc/old.conf']);
    expect(p.fileDigestAlgo).toBe('md5');
    expect(p.scripts).toEqual([
      { kind: 'prein', body: 'print(1)', interpreter: ['/usr/bin/python3', '-s'], flags: 0 },
      { kind: 'postin', body: '', interpreter: ['/sbin/ldconfig'], flags: 0 },
    ]);
    expect(p.requires.map(formatDependency)).toEqual(['a >= 1:2.0', 'b']);
  });

  it('array tags of the wrong length and bad directory indexes are named errors', () => {
    const h = (extra: RpmHeaderInput[]): RpmHeader => parseHeader(encodeHeader([
      { tag: TAG.NAME, value: { type: RPM_TYPE.STRING, value: ['x'] } },
      { tag: TAG.VERSION, value: { type: RPM_TYPE.STRING, value: ['1'] } },
      { tag: TAG.RELEASE, value: { type: RPM_TYPE.STRING, value: ['1'] } },
      { tag: TAG.ARCH, value: { type: RPM_TYPE.STRING, value: ['noarch'] } },
      { tag: TAG.BASENAMES, value: { type: RPM_TYPE.STRING_ARRAY, value: ['a', 'b'] } },
      { tag: TAG.DIRNAMES, value: { type: RPM_TYPE.STRING_ARRAY, value: ['/usr/'] } },
      ...extra,
    ]), 0, 'x.rpm: header').header;
    expect(errorOf(() => decodePackage(h([{ tag: TAG.DIRINDEXES, value: { type: RPM_TYPE.INT32, value: [0, 3] } }]))).message).toMatch(/x.rpm: header: tag 1116: file 1 has directory index 3 of 1/);
    expect(errorOf(() => decodePackage(h([{ tag: TAG.DIRINDEXES, value: { type: RPM_TYPE.INT32, value: [0] } }]))).message).toMatch(/tag 1116: has 1 elements, expected 2/);
    expect(errorOf(() => decodePackage(h([{ tag: TAG.DIRINDEXES, value: { type: RPM_TYPE.INT32, value: [0, 0] } }, { tag: TAG.FILEMODES, value: { type: RPM_TYPE.STRING, value: ['x'] } }]))).message).toMatch(/tag 1030 has type 6, expected integers/);
    expect(errorOf(() => decodePackage(h([{ tag: TAG.DIRINDEXES, value: { type: RPM_TYPE.INT32, value: [0, 0] } }, { tag: TAG.FILEDIGESTALGO, value: { type: RPM_TYPE.INT32, value: [77] } }]))).message).toMatch(/unknown file digest algorithm 77/);
  });
});

describe('cpio codec', () => {
  it('reads headers fed one byte at a time', async () => {
    const data = Buffer.concat([encodeCpioHeader({ name: './usr/bin/x', mode: 0o100755, size: 3, ino: 7, nlink: 1, mtime: 1234 }), Buffer.from('abc'), Buffer.alloc(1), encodeCpioHeader({ name: 'TRAILER!!!', mode: 0, size: 0 }, 120)]);
    const bytes = [...data].map((b) => Buffer.from([b]));
    const r = new ByteReader(Readable.from(bytes));
    const h = await readCpioHeader(r, 'p');
    expect(h).toMatchObject({ stripped: false, magic: '070701', name: './usr/bin/x', mode: 0o100755, size: 3, ino: 7, mtime: 1234 });
    expect((await r.exact(3))!.toString()).toBe('abc');
    expect(await readCpioHeader(r, 'p')).toMatchObject({ name: 'TRAILER!!!' });
  });

  it('bad magic, non-hex fields, bad names and truncation are named errors', async () => {
    const good = encodeCpioHeader({ name: './a', mode: 0o100644, size: 0 });
    const read = async (b: Buffer): Promise<string> => {
      try {
        await readCpioHeader(new ByteReader(Readable.from([b])), 'pkg.rpm');
      } catch (err) {
        if (isUpdaterError(err)) return `${err.code}: ${err.message}`;
        throw err;
      }
      return 'ok';
    };
    expect(await read(Buffer.from('hello world, not a cpio archive at all, definitely not'))).toMatch(/RPM_PAYLOAD_CORRUPT: pkg.rpm: bad cpio magic/);
    const nonhex = Buffer.from(good);
    nonhex.write('zz', 14);
    expect(await read(nonhex)).toMatch(/field mode "zz.*" is not hex/);
    const nonul = Buffer.from(good);
    nonul.write('12345678', 94); // namesize = 0x12345678
    expect(await read(nonul)).toMatch(/implausible cpio name size/);
    for (let n = 0; n < good.length; n++) expect(await read(good.subarray(0, n))).toMatch(/^RPM_TRUNCATED: pkg.rpm: payload ends inside the cpio archive/);
  });

  it('normalises payload paths and refuses escapes', () => {
    expect(normalizePayloadPath('./usr/bin/x')).toBe('/usr/bin/x');
    expect(normalizePayloadPath('/usr//bin/./x')).toBe('/usr/bin/x');
    expect(normalizePayloadPath('usr/bin/x')).toBe('/usr/bin/x');
    for (const p of ['../etc/passwd', './usr/../../etc/passwd', '/..', '.', '', 'a\0b']) expect(normalizePayloadPath(p)).toBeNull();
  });
});

describe('file capabilities', () => {
  it('encodes the VFS revision 2 layout', () => {
    // magic 0x02000001 (effective), permitted word 0 = 1<<13 (net_raw), inheritable 0.
    expect(Buffer.from(encodeFileCaps('cap_net_raw=ep')!).toString('hex')).toBe('0100000200200000000000000000000000000000');
    expect(Buffer.from(encodeFileCaps('cap_bpf=p')!).toString('hex')).toBe('0000000200000000000000008000000000000000');
    expect(encodeFileCaps('')).toBeNull();
    expect(encodeFileCaps('cap_chown=')).toBeNull();
    expect(decodeFileCaps(encodeFileCaps('cap_setuid,cap_setgid=eip')!)).toEqual({ effective: 0xc0n, permitted: 0xc0n, inheritable: 0xc0n });
    expect(parseCapText('all=p cap_chown-p').permitted).toBe((1n << 41n) - 2n);
  });

  it('rejects what libcap rejects', () => {
    expect(errorOf(() => encodeFileCaps('cap_unknown=ep'))).toMatchObject({ code: 'RPM_BAD_FILECAPS' });
    expect(errorOf(() => encodeFileCaps('cap_chown=ep cap_kill=p')).message).toMatch(/effective set must be empty/);
    expect(errorOf(() => encodeFileCaps('cap_chown'))).toMatchObject({ code: 'RPM_BAD_FILECAPS' });
  });
});

describe('reading synthesised packages', () => {
  let tmp: string;
  let n = 0;
  beforeAll(async () => {
    tmp = await makeTmp('atomic-rpm-unit-');
  });
  afterAll(async () => {
    if (tmp) await removeTmp(tmp);
  });

  const base: SynthFile[] = [
    { path: '/usr/bin', mode: 0o40755 },
    { path: '/usr/bin/tool', mode: 0o104755, content: '#!/bin/sh\necho tool\n' },
    { path: '/usr/bin/alias', mode: 0o120777, linkTo: 'tool' },
    { path: '/usr/lib/data', mode: 0o100644, content: 'x'.repeat(5000) },
  ];
  const write = async (bytes: Buffer): Promise<string> => {
    const p = join(tmp, `p${n++}.rpm`);
    await writeFile(p, bytes);
    return p;
  };
  const collect = async (path: string): Promise<{ entries: Omit<RpmPayloadEntry, 'content'>[]; contents: Map<string, string> }> => {
    const entries: Omit<RpmPayloadEntry, 'content'>[] = [];
    const contents = new Map<string, string>();
    for await (const e of readRpmPayload(path)) {
      if (e.content) contents.set(e.path, (await buffer(e.content)).toString());
      const { content: _c, ...rest } = e;
      entries.push(rest);
    }
    return { entries, contents };
  };
  const failure = async (path: string): Promise<{ code: string; message: string }> => {
    try {
      await collect(path);
    } catch (err) {
      if (isUpdaterError(err)) return { code: err.code, message: err.message };
      throw err;
    }
    throw new Error(`${path} was read without error`);
  };

  for (const gzip of [false, true]) {
    it(`reads a plain synthesised package (${gzip ? 'gzip' : 'uncompressed'})`, async () => {
      const p = await write(synthRpm(base, { gzip }));
      const a = await readRpm(p);
      expect(a.pkg.nevra).toBe('synth-1.0-1.noarch');
      expect(a.compressor).toBe(gzip ? 'gzip' : 'none');
      const { entries, contents } = await collect(p);
      expect(entries.map((e) => `${e.type} ${e.path}`)).toEqual(['directory /usr/bin', 'file /usr/bin/tool', 'symlink /usr/bin/alias', 'file /usr/lib/data']);
      expect(contents.get('/usr/lib/data')).toBe('x'.repeat(5000));
    });
  }

  it("reads rpm's stripped 07070X payload of large-file packages (LONGFILESIZES)", async () => {
    const files: SynthFile[] = [...base, { path: '/usr/lib/h1', mode: 0o100644, content: 'linked', inode: 50 }, { path: '/usr/lib/h2', mode: 0o100644, content: 'linked', inode: 50 }];
    const p = await write(synthRpm(files, { stripped: true }));
    const a = await readRpm(p);
    expect(a.header.has(5008)).toBe(true);
    const { entries, contents } = await collect(p);
    expect(entries.map((e) => `${e.type} ${e.path}`)).toContain('symlink /usr/bin/alias');
    expect(contents.get('/usr/bin/tool')).toBe('#!/bin/sh\necho tool\n');
    expect(contents.get('/usr/lib/data')).toBe('x'.repeat(5000));
    expect(contents.get('/usr/lib/h2')).toBe('linked');
    expect(entries.find((e) => e.path === '/usr/lib/h1')).toMatchObject({ type: 'hardlink', linkTarget: '/usr/lib/h2', nlink: 2 });
  });

  it('newc hardlink sets: data on the last member, the others reported as hardlinks to it', async () => {
    const files: SynthFile[] = [{ path: '/a', mode: 0o100644, content: 'same', inode: 9 }, { path: '/b', mode: 0o100600, content: 'same', inode: 9 }, { path: '/c', mode: 0o100644, content: 'same', inode: 9 }];
    const { entries, contents } = await collect(await write(synthRpm(files)));
    expect(entries.map((e) => `${e.type} ${e.path} ${e.linkTarget}`)).toEqual(['file /c null', 'hardlink /a /c', 'hardlink /b /c']);
    expect(contents.get('/c')).toBe('same');
  });

  it('hostile payload paths are refused, absolute and ./ paths normalised', async () => {
    const escape = await write(synthRpm([...base.slice(0, 1), { ...base[1]!, payloadName: '../etc/passwd' }]));
    expect(await failure(escape)).toMatchObject({ code: 'RPM_UNSAFE_PATH', message: expect.stringMatching(/payload path "\.\.\/etc\/passwd" escapes the root/) });
    const deep = await write(synthRpm([{ ...base[1]!, payloadName: './usr/bin/../../../etc/shadow' }]));
    expect((await failure(deep)).code).toBe('RPM_UNSAFE_PATH');
    const absolute = await write(synthRpm([base[0]!, { ...base[1]!, payloadName: '/usr/bin/tool' }]));
    expect((await collect(absolute)).contents.get('/usr/bin/tool')).toBe('#!/bin/sh\necho tool\n');
    const headerEscape = await write(synthRpm([{ path: '/usr/../etc/passwd', mode: 0o100644, content: 'root::0:0::/:/bin/sh\n' }]));
    await expect(readRpm(headerEscape)).rejects.toMatchObject({ code: 'RPM_UNSAFE_PATH' });
  });

  it('entries not in the header, files missing from the payload and ghosts', async () => {
    const extra = encodeCpioHeader({ name: './etc/evil', mode: 0o100644, size: 0 });
    const notInHeader = await write(synthRpm(base, { extraEntries: extra }));
    expect(await failure(notInHeader)).toMatchObject({ code: 'RPM_PAYLOAD_CORRUPT', message: expect.stringMatching(/"\.\/etc\/evil" is not in the package header/) });
    const missing = await write(synthRpm([...base, { path: '/usr/lib/gone', mode: 0o100644, content: 'gone', omit: true }]));
    expect(await failure(missing)).toMatchObject({ code: 'RPM_PAYLOAD_MISSING_FILE', message: expect.stringMatching(/\/usr\/lib\/gone/) });
    const ghost = await write(synthRpm([...base, { path: '/var/log/ghost.log', mode: 0o100644, flags: 64, omit: true }]));
    expect((await collect(ghost)).entries.map((e) => e.path)).not.toContain('/var/log/ghost.log');
  });

  it('a file whose content does not match its digest fails on that file', async () => {
    const bytes = synthRpm(base);
    const at = bytes.indexOf('echo tool');
    // Change the content and fix up nothing: the header (and its digest) still describe the original.
    bytes.write('echo TOOL', at);
    const p = await write(bytes);
    await expect(readRpm(p)).resolves.toBeDefined();
    expect(await failure(p)).toMatchObject({ code: 'RPM_FILE_DIGEST_MISMATCH', message: expect.stringMatching(/\/usr\/bin\/tool: sha256 digest [0-9a-f]{64} does not match/) });
    // The consumer reading the content sees the same error on the stream.
    let streamErr: unknown;
    try {
      for await (const e of readRpmPayload(p)) if (e.content) await buffer(e.content);
    } catch (err) {
      streamErr = err;
    }
    expect(streamErr).toMatchObject({ code: 'RPM_FILE_DIGEST_MISMATCH' });
  });

  it('a payload changed outside any file content fails the payload digest', async () => {
    const bytes = synthRpm(base);
    // The mtime field of the first cpio header (the header's mtime is what is used).
    const at = bytes.indexOf('070701') + 6 + 5 * 8;
    bytes.write('0000abcd', at);
    const p = await write(bytes);
    expect(await failure(p)).toMatchObject({ code: 'RPM_PAYLOAD_DIGEST_MISMATCH', message: expect.stringMatching(/payload SHA256 digest [0-9a-f]{64} does not match the header's PAYLOADDIGEST/) });
  });

  it('a changed header fails the header digest', async () => {
    const bytes = synthRpm(base);
    bytes.write('S', bytes.indexOf('synthesised'));
    const p = await write(bytes);
    await expect(readRpm(p)).rejects.toMatchObject({ code: 'RPM_HEADER_DIGEST_MISMATCH', message: expect.stringMatching(/header SHA256 digest/) });
  });

  it('every truncation is a named RPM_ error', async () => {
    for (const gzip of [false, true]) {
      const bytes = synthRpm(base, { gzip });
      for (let len = 0; len < bytes.length; len += gzip ? 13 : 29) {
        const p = await write(bytes.subarray(0, len));
        const e = await failure(p);
        expect(e.code).toMatch(/^RPM_/);
        expect(e.message).toContain(p);
      }
    }
  });

  it('reads the same entries whatever the chunking of the payload (one byte at a time, crc magic)', async () => {
    const files: SynthFile[] = [...base, { path: '/h1', mode: 0o100644, content: 'hl', inode: 70 }, { path: '/h2', mode: 0o100644, content: 'hl', inode: 70 }];
    const p = await write(synthRpm(files));
    const a = await readRpm(p);
    const bytes = await readFile(p);
    // 070702 ("crc") headers are read like 070701; rpm ignores their checksum too.
    const cpio = Buffer.from(bytes.subarray(a.payloadOffset).toString('latin1').replaceAll('070701', '070702'), 'latin1');
    const ones = Readable.from([...cpio].map((b) => Buffer.from([b])));
    const got: string[] = [];
    for await (const e of readPayloadEntries(a.pkg, ones, 'bytewise')) got.push(`${e.type} ${e.path} ${e.content ? (await buffer(e.content)).toString() : e.linkTarget}`);
    expect(got).toEqual(['directory /usr/bin null', 'file /usr/bin/tool #!/bin/sh\necho tool\n', 'symlink /usr/bin/alias tool', `file /usr/lib/data ${'x'.repeat(5000)}`, 'file /h2 hl', 'hardlink /h1 /h2']);
  });

  it('extractRpm applies modes and writes the tree', async () => {
    const p = await write(synthRpm(base));
    const dest = join(tmp, 'extract');
    const entries = await extractRpm(p, dest);
    expect(entries.find((e) => e.path === '/usr/bin/tool')!.mode).toBe(0o104755);
    expect(createHash('sha256').update('x'.repeat(5000)).digest('hex')).toBe(entries.find((e) => e.path === '/usr/lib/data')!.file.digest);
  });
});
