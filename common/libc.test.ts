// readDirEntries (getdents64 through koffi) against Node's readdir and lstat: the same
// names, types and inode numbers, over more entries than one 256 KiB read returns, with
// non-ASCII and non-UTF-8 names.

import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTmp, removeTmp } from '../test-support/index.ts';
import { DT_DIR, DT_LNK, DT_REG, DT_UNKNOWN, filesystemType, readDirEntries } from './libc.ts';

describe('readDirEntries', () => {
  let tmp: string;
  let dir: string;
  beforeAll(async () => {
    tmp = await makeTmp();
    dir = join(tmp, 'd');
    mkdirSync(dir);
    for (let i = 0; i < 3500; i++) writeFileSync(join(dir, `${'long-name-'.repeat(11)}${i}`), '');
    mkdirSync(join(dir, 'sub'));
    symlinkSync('nowhere', join(dir, 'link'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    writeFileSync(join(dir, 'grüße-日本'), 'x');
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/bad-`), Buffer.from([0xff, 0xfe])]), 'x');
  });
  afterAll(async () => removeTmp(tmp));

  it('lists what readdir lists, with lstat\'s inode numbers and the entry types', () => {
    const ents = readDirEntries(dir);
    const want = readdirSync(dir, { withFileTypes: true, encoding: 'utf8' }).filter((e) => !e.name.startsWith('bad-'));
    const got = new Map(ents.names.map((n, i) => [n, i]));
    expect(ents.names.length).toBe(want.length + 1);
    for (const e of want) {
      const i = got.get(e.name);
      expect(i, e.name).toBeDefined();
      expect(ents.inos[i!]).toBe(lstatSync(join(dir, e.name)).ino);
      const type = ents.types[i!];
      if (type !== DT_UNKNOWN) {
        if (e.isFile()) expect(type).toBe(DT_REG);
        else if (e.isDirectory()) expect(type).toBe(DT_DIR);
        else if (e.isSymbolicLink()) expect(type).toBe(DT_LNK);
        else expect([DT_REG, DT_DIR, DT_LNK]).not.toContain(type);
      }
    }
    expect(ents.names).toContain('grüße-日本');
  });

  it('marks a name that is not UTF-8, decoded as Latin-1', () => {
    const ents = readDirEntries(dir);
    expect(ents.nonUtf8.length).toBe(1);
    expect(ents.names[ents.nonUtf8[0]!]).toBe('bad-\u00ff\u00fe');
  });

  it('an empty directory has no entries; a missing one is an error naming it', () => {
    mkdirSync(join(tmp, 'empty'));
    expect(readDirEntries(join(tmp, 'empty')).names).toEqual([]);
    expect(() => readDirEntries(join(tmp, 'missing'))).toThrow(/missing/);
  });

  it('filesystemType reports the statfs magic', () => {
    expect(filesystemType(tmp)).toBeGreaterThan(0);
    expect(filesystemType('/proc')).toBe(0x9fa0);
  });
});
