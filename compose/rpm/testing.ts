// Test support for the RPM reader: build packages with rpmbuild, and extract a
// payload into a directory with readRpmPayload (the way compose would, minus the store).

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, link, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { runOk } from '../../test-support/index.ts';
import type { RpmPayloadEntry } from './archive.ts';
import { cpioPad, encodeCpioHeader, encodeStrippedHeader } from './cpio.ts';
import { encodeHeader, encodeLead, type RpmHeaderInput } from './header.ts';
import { readRpm, readRpmPayload } from './read.ts';
import { RPM_TYPE, SIGTAG, TAG } from './tags.ts';

/** Builds `spec` with rpmbuild under `topdir`; returns the path of the binary RPM. */
export async function buildRpm(topdir: string, name: string, spec: string, defines: Record<string, string> = {}): Promise<string> {
  await mkdir(join(topdir, 'SPECS'), { recursive: true });
  const specPath = join(topdir, 'SPECS', `${name}.spec`);
  await writeFile(specPath, spec);
  const args = ['-bb', '--quiet', '--define', `_topdir ${topdir}`, '--define', '_build_id_links none'];
  for (const [k, v] of Object.entries(defines)) args.push('--define', `${k} ${v}`);
  await runOk('rpmbuild', [...args, specPath]);
  const out = (await runOk('sh', ['-c', `ls "${topdir}"/RPMS/*/*.rpm`])).trim().split('\n');
  const rpm = out.find((p) => p.includes(`/${name}-`));
  if (!rpm) throw new Error(`rpmbuild made no package ${name} in ${topdir}`);
  return rpm;
}

/** Extracts every payload entry of `rpmPath` under `dest`, applying modes; returns the entries (without content). */
export async function extractRpm(rpmPath: string, dest: string): Promise<Omit<RpmPayloadEntry, 'content'>[]> {
  const seen: Omit<RpmPayloadEntry, 'content'>[] = [];
  for await (const e of readRpmPayload(await readRpm(rpmPath))) {
    const target = join(dest, e.path);
    await mkdir(dirname(target), { recursive: true });
    if (e.type === 'directory') await mkdir(target, { recursive: true });
    else if (e.type === 'symlink') await symlink(e.linkTarget!, target);
    else if (e.type === 'hardlink') await link(join(dest, e.linkTarget!), target);
    else if (e.type === 'file') await pipeline(e.content!, createWriteStream(target));
    if (e.type !== 'symlink' && e.type !== 'hardlink') await chmod(target, e.mode & 0o7777);
    const { content: _c, ...rest } = e;
    seen.push(rest);
  }
  return seen;
}

/** A file for synthRpm. */
export interface SynthFile {
  path: string;
  mode: number;
  content?: string | Buffer;
  linkTo?: string;
  flags?: number;
  inode?: number;
  /** The name written in the cpio header instead of `.${path}`. */
  payloadName?: string;
  /** Leave the file out of the payload. */
  omit?: boolean;
}

/**
 * Synthesises a small package the way rpmbuild lays it out (lead, signature
 * header with SIZE and SHA256, main header with PAYLOADDIGEST, cpio payload),
 * for cases rpmbuild will not make: hostile payload paths, rpm's stripped
 * 07070X headers with LONGFILESIZES, missing files.
 */
export function synthRpm(files: SynthFile[], opts: { stripped?: boolean; gzip?: boolean; extraEntries?: Buffer } = {}): Buffer {
  const bytesOf = (f: SynthFile): Buffer => (f.linkTo !== undefined ? Buffer.from(f.linkTo) : Buffer.from(f.content ?? ''));
  const isFile = (f: SynthFile): boolean => (f.mode & 0o170000) === 0o100000;
  const dirs: string[] = [];
  const dirIndexes: number[] = [];
  const basenames: string[] = [];
  for (const f of files) {
    const slash = f.path.lastIndexOf('/');
    const d = f.path.slice(0, slash + 1);
    if (!dirs.includes(d)) dirs.push(d);
    dirIndexes.push(dirs.indexOf(d));
    basenames.push(f.path.slice(slash + 1));
  }
  const ints = (type: 3 | 4 | 5, value: number[]): RpmHeaderInput['value'] => ({ type, value });
  const strs = (value: string[]): RpmHeaderInput['value'] => ({ type: RPM_TYPE.STRING_ARRAY, value });
  const str = (v: string): RpmHeaderInput['value'] => ({ type: RPM_TYPE.STRING, value: [v] });

  const parts: Buffer[] = [];
  let off = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    off += b.length;
  };
  // Hardlink sets (regular files sharing an inode): data goes with the last member only.
  const lastOfInode = new Map<number, number>();
  files.forEach((f, i) => {
    if (isFile(f) && f.inode !== undefined) lastOfInode.set(f.inode, i);
  });
  files.forEach((f, i) => {
    if (f.omit) return;
    const shared = f.inode !== undefined && lastOfInode.get(f.inode) !== i && isFile(f);
    const data = shared ? Buffer.alloc(0) : bytesOf(f);
    if (opts.stripped) {
      push(Buffer.alloc((4 - (off % 4)) % 4));
      push(encodeStrippedHeader(i));
    } else {
      push(encodeCpioHeader({ name: f.payloadName ?? `.${f.path}`, mode: f.mode, size: data.length, ino: f.inode ?? i + 1 }, off));
    }
    push(data);
    push(cpioPad(data.length));
  });
  if (opts.extraEntries) push(opts.extraEntries);
  push(encodeCpioHeader({ name: 'TRAILER!!!', mode: 0, size: 0, nlink: 1 }, off));
  const cpio = Buffer.concat(parts);
  const payload = opts.gzip ? gzipSync(cpio) : cpio;

  const sizes = files.map((f) => bytesOf(f).length);
  const main = encodeHeader([
    { tag: TAG.NAME, value: str('synth') },
    { tag: TAG.VERSION, value: str('1.0') },
    { tag: TAG.RELEASE, value: str('1') },
    { tag: TAG.SUMMARY, value: { type: RPM_TYPE.I18NSTRING, value: ['synthesised'] } },
    { tag: TAG.SIZE, value: ints(4, [sizes.reduce((a, b) => a + b, 0)]) },
    { tag: TAG.ARCH, value: str('noarch') },
    opts.stripped ? { tag: TAG.LONGFILESIZES, value: ints(5, sizes) } : { tag: TAG.FILESIZES, value: ints(4, sizes) },
    { tag: TAG.FILEMODES, value: ints(3, files.map((f) => f.mode)) },
    { tag: TAG.FILERDEVS, value: ints(3, files.map(() => 0)) },
    { tag: TAG.FILEMTIMES, value: ints(4, files.map(() => 1700000000)) },
    { tag: TAG.FILEDIGESTS, value: strs(files.map((f) => (isFile(f) ? createHash('sha256').update(bytesOf(f)).digest('hex') : ''))) },
    { tag: TAG.FILELINKTOS, value: strs(files.map((f) => f.linkTo ?? '')) },
    { tag: TAG.FILEFLAGS, value: ints(4, files.map((f) => f.flags ?? 0)) },
    { tag: TAG.FILEUSERNAME, value: strs(files.map(() => 'root')) },
    { tag: TAG.FILEGROUPNAME, value: strs(files.map(() => 'root')) },
    { tag: TAG.SOURCERPM, value: str('synth-1.0-1.src.rpm') },
    { tag: TAG.FILEDEVICES, value: ints(4, files.map(() => 1)) },
    { tag: TAG.FILEINODES, value: ints(4, files.map((f, i) => f.inode ?? i + 1)) },
    { tag: TAG.PAYLOADFORMAT, value: str('cpio') },
    // rpm 4.18 writes no compressor tag for uncompressed payloads.
    ...(opts.gzip ? [{ tag: TAG.PAYLOADCOMPRESSOR, value: str('gzip') }] : []),
    { tag: TAG.DIRINDEXES, value: ints(4, dirIndexes) },
    { tag: TAG.BASENAMES, value: strs(basenames) },
    { tag: TAG.DIRNAMES, value: strs(dirs) },
    { tag: TAG.FILEDIGESTALGO, value: ints(4, [8]) },
    { tag: TAG.PAYLOADDIGEST, value: strs([createHash('sha256').update(payload).digest('hex')]) },
    { tag: TAG.PAYLOADDIGESTALGO, value: ints(4, [8]) },
  ]);
  const sig = encodeHeader([
    { tag: SIGTAG.SHA256, value: str(createHash('sha256').update(main).digest('hex')) },
    { tag: SIGTAG.SIZE, value: ints(4, [main.length + payload.length]) },
  ]);
  const pad = Buffer.alloc((8 - (sig.length % 8)) % 8);
  return Buffer.concat([encodeLead('synth-1.0-1'), sig, pad, main, payload]);
}
