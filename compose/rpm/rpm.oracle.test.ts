// The RPM reader against rpm 4.18 itself: packages built here with rpmbuild, one
// per payload compression, read with ours and with `rpm -qp` (--dump, --scripts,
// --triggers, --filetriggers, dependency queries, --qf) and extracted with ours
// and with `rpm2cpio | cpio -idm`.

import { lstat, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import koffi from 'koffi';
import { isUpdaterError } from '../../common/errors.ts';
import { getXattr } from '../../common/libc.ts';
import { have, makeTmp, removeTmp, run, runOk, snapshotTree } from '../../test-support/index.ts';
import { encodeFileCaps, formatDependency, readRpm, readRpmPayload, type RpmArchive, type RpmPackage, TAG } from './index.ts';
import { buildRpm, extractRpm } from './testing.ts';

export const ORACLE_SPEC = `
Name: oracle-demo
Epoch: 3
Version: 1.2.3
Release: 4.fc99
Summary: A package with every awkward case
License: MIT and (GPL-2.0-or-later or BSD-3-Clause)
URL: https://example.invalid/oracle
BuildArch: noarch
Requires: bash >= 4.0
Requires: (coreutils or busybox)
Requires(pre): /usr/sbin/useradd
Requires(post): glibc
Provides: oracle-virtual = 5.0
Conflicts: oracle-old < 2:1.0
Obsoletes: oracle-legacy <= 1.0-1
Recommends: oracle-rec >= 1.1
Recommends: (oracle-plugin if oracle-host)
Suggests: oracle-sug
Supplements: (oracle-a and oracle-b)
Enhances: oracle-enh > 0.1
%description
Oracle test package.
%install
mkdir -p %{buildroot}/usr/bin %{buildroot}/etc/oracle %{buildroot}/usr/share/oracle/empty %{buildroot}/usr/lib/oracle %{buildroot}/usr/share/locale/de
printf 'main config\\n' > %{buildroot}/etc/oracle/main.conf
printf 'plain config\\n' > %{buildroot}/etc/oracle/plain.conf
printf '#!/bin/sh\\necho ping\\n' > %{buildroot}/usr/bin/oracle-ping
printf '#!/bin/sh\\necho suid\\n' > %{buildroot}/usr/bin/oracle-suid
printf 'shared content\\n' > %{buildroot}/usr/lib/oracle/hl-a
ln %{buildroot}/usr/lib/oracle/hl-a %{buildroot}/usr/lib/oracle/hl-b
ln %{buildroot}/usr/lib/oracle/hl-a %{buildroot}/usr/lib/oracle/hl-c
: > %{buildroot}/usr/lib/oracle/empty-file
: > %{buildroot}/usr/lib/oracle/empty-hl-1
ln %{buildroot}/usr/lib/oracle/empty-hl-1 %{buildroot}/usr/lib/oracle/empty-hl-2
ln -s oracle-ping %{buildroot}/usr/bin/oracle-alias
ln -s /etc/oracle/main.conf %{buildroot}/usr/lib/oracle/abs-link
head -c 400000 /dev/urandom > %{buildroot}/usr/lib/oracle/big.bin
printf 'odd name\\n' > "%{buildroot}/usr/lib/oracle/with space é"
printf 'Hallo\\n' > %{buildroot}/usr/share/locale/de/oracle.txt
printf 'readme\\n' > README
printf 'license text\\n' > LICENSE
%pre
getent group oracle >/dev/null || groupadd -r oracle
exit 0
%post -p <lua>
print("post in lua")
%preun -p /usr/bin/python3
print("preun in python")
%postun
echo postun $1
%pretrans -p <lua>
-- pretrans
%posttrans
echo posttrans
%verifyscript
echo verify
%triggerin -- bash >= 4.0, coreutils
echo trigger for bash
%triggerun -p <lua> -- zsh
print("triggerun")
%filetriggerin -- /usr/lib/oracle-plugins
echo filetrigger
%transfiletriggerin -P 2000 -- /usr/share/oracle-data /usr/share/oracle-more
echo transfiletrigger
%files
%doc README
%license LICENSE
%config(noreplace) /etc/oracle/main.conf
%config /etc/oracle/plain.conf
%ghost %config(missingok) /etc/oracle/ghost.conf
%dir /etc/oracle
%caps(cap_net_raw,cap_net_admin=ep) /usr/bin/oracle-ping
%attr(4755,root,root) /usr/bin/oracle-suid
%attr(0640,daemon,mail) /usr/lib/oracle/big.bin
/usr/bin/oracle-alias
/usr/lib/oracle/hl-a
/usr/lib/oracle/hl-b
/usr/lib/oracle/hl-c
/usr/lib/oracle/empty-file
/usr/lib/oracle/empty-hl-1
/usr/lib/oracle/empty-hl-2
/usr/lib/oracle/abs-link
"/usr/lib/oracle/with space é"
%dir /usr/share/oracle/empty
%lang(de) /usr/share/locale/de/oracle.txt
`;

/** rpmbuild's `_binary_payload` for each compressor, and the PAYLOADCOMPRESSOR rpm records. */
const PAYLOADS: [string, string, string][] = [
  ['gzip', 'w9.gzdio', 'gzip'],
  ['xz', 'w6.xzdio', 'xz'],
  ['lzma', 'w9.lzdio', 'lzma'],
  ['zstd', 'w19.zstdio', 'zstd'],
  ['bzip2', 'w9.bzdio', 'bzip2'],
  ['none', 'w0.ufdio', 'none'],
];

const rpmQ = (path: string, ...args: string[]): Promise<string> => runOk('rpm', ['-qp', '--nosignature', '--nodigest', ...args, path]);

/** `rpm -qp --dump` lines from our file list. */
function dumpOf(pkg: RpmPackage): string {
  const zeros = '0'.repeat(pkg.files.find((f) => f.digest)?.digest.length ?? 64);
  return pkg.files
    .map((f) => [f.path, f.size, f.mtime, f.digest || zeros, `0${f.mode.toString(8)}`, f.user, f.group, f.config ? 1 : 0, f.doc ? 1 : 0, f.rdev, f.linkTo || 'X'].join(' '))
    .map((l) => `${l}\n`)
    .join('');
}

const SCRIPT_LABELS: Record<string, string> = { pretrans: 'pretrans', prein: 'preinstall', postin: 'postinstall', preun: 'preuninstall', postun: 'postuninstall', posttrans: 'posttrans', verify: 'verify' };

/** `rpm -qp --scripts --triggers --filetriggers` from our scriptlets. */
function scriptsOf(pkg: RpmPackage): string {
  let out = '';
  for (const s of pkg.scripts) out += `${SCRIPT_LABELS[s.kind]} scriptlet (using ${s.interpreter.join(' ')}):\n${s.body}\n`;
  for (const t of pkg.triggers) out += `${t.kind} scriptlet (using ${t.interpreter.join(' ')}) -- ${t.conditions.map(formatDependency).join(', ')}\n${t.body}\n`;
  for (const t of pkg.fileTriggers) out += `${t.kind} scriptlet (using ${t.interpreter.join(' ')}) -- ${t.conditions.map((c) => c.name).join(', ')}\n${t.body}\n`;
  return out;
}

const lines = (s: string): string[] => s.split('\n').filter((l) => l !== '');

async function inodeGroups(root: string): Promise<string[][]> {
  const byIno = new Map<number, string[]>();
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const p = `${rel}/${name}`;
      const st = await lstat(join(root, p));
      if (st.isDirectory()) await walk(p);
      else if (st.isFile()) byIno.set(st.ino, [...(byIno.get(st.ino) ?? []), p]);
    }
  };
  await walk('');
  return [...byIno.values()].filter((g) => g.length > 1).map((g) => g.sort()).sort();
}

// One package per payload compression, built once for the whole file.
let tmp: string;
const built = new Map<string, string>();
const compressors = PAYLOADS.filter(([label]) => label !== 'bzip2' || have('bzip2'));
beforeAll(async () => {
  if (!have('rpmbuild')) return;
  tmp = await makeTmp('atomic-rpm-oracle-');
  for (const [label, payload] of compressors) built.set(label, await buildRpm(join(tmp, label), 'oracle-demo', ORACLE_SPEC, { _binary_payload: payload }));
});
afterAll(async () => {
  if (tmp) await removeTmp(tmp);
});

describe.skipIf(!have('rpmbuild') || !have('rpm2cpio') || !have('cpio'))('RPM reader against rpm 4.18', () => {

  const librpm = ((): koffi.IKoffiLib | null => {
    try {
      return koffi.load('librpm.so.9');
    } catch {
      return null;
    }
  })();
  it.skipIf(!librpm)('the tag numbers match librpm’s tag table (librpm.so.9)', () => {
    const lib = librpm!;
    const getValue = lib.func('int rpmTagGetValue(const char *name)');
    for (const [name, num] of Object.entries(TAG)) expect([name, getValue(name)]).toEqual([name, num]);
  });

  for (const [label, , compressor] of compressors) {
    describe(`${label} payload`, () => {
      let a: RpmArchive;
      let path: string;
      beforeAll(async () => {
        path = built.get(label)!;
        a = await readRpm(path);
      });

      it('NEVRA and descriptive tags match rpm --qf', async () => {
        const qf = '%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SUMMARY}|%{LICENSE}|%{SOURCERPM}|%{SIZE}|%{URL}|%{BUILDTIME}|%{PAYLOADFORMAT}';
        const p = a.pkg;
        const ours = [p.name, p.epoch, p.version, p.release, p.arch, p.summary, p.license, p.sourcerpm, p.size, p.url, p.buildtime, p.payload.format].join('|');
        expect(ours).toBe(await rpmQ(path, '--qf', qf));
        expect(p.nevra).toBe('oracle-demo-3:1.2.3-4.fc99.noarch');
        expect(a.compressor).toBe(compressor);
        expect(a.headerDigest).toBe('sha256');
      });

      it('dependencies match rpm --provides/--requires/--conflicts/--obsoletes and the weak ones', async () => {
        for (const kind of ['provides', 'requires', 'conflicts', 'obsoletes', 'recommends', 'suggests', 'supplements', 'enhances'] as const) {
          expect([kind, a.pkg[kind].map(formatDependency)]).toEqual([kind, lines(await rpmQ(path, `--${kind}`))]);
        }
        expect(a.pkg.requires.map((d) => d.name)).toContain('(coreutils or busybox)');
        expect(a.pkg.provides.map(formatDependency)).toContain('oracle-demo = 3:1.2.3-4.fc99');
      });

      it('the file list matches rpm --dump', async () => {
        expect(dumpOf(a.pkg)).toBe(await rpmQ(path, '--dump'));
      });

      it('per-file flags, caps, langs, colors, inodes and verify flags match rpm --qf', async () => {
        const qf = '[%{FILEFLAGS}|%{FILECAPS}|%{FILELANGS}|%{FILECOLORS}|%{FILEINODES}|%{FILEDEVICES}|%{FILEVERIFYFLAGS}|%{FILERDEVS}\n]';
        const ours = a.pkg.files.map((f) => `${[f.flags, f.caps, f.lang, f.color, f.inode, f.device, f.verifyFlags, f.rdev].join('|')}\n`).join('');
        expect(ours).toBe(await rpmQ(path, '--qf', qf));
        const byPath = new Map(a.pkg.files.map((f) => [f.path, f]));
        expect(byPath.get('/etc/oracle/main.conf')).toMatchObject({ config: true, noreplace: true, ghost: false });
        expect(byPath.get('/etc/oracle/ghost.conf')).toMatchObject({ config: true, ghost: true, missingok: true });
        expect(byPath.get('/usr/share/licenses/oracle-demo-1.2.3/LICENSE')).toMatchObject({ license: true });
        expect(byPath.get('/usr/share/doc/oracle-demo-1.2.3/README')).toMatchObject({ doc: true });
        expect(byPath.get('/usr/bin/oracle-ping')!.caps).toBe('cap_net_admin,cap_net_raw=ep');
        expect(a.pkg.fileDigestAlgo).toBe('sha256');
      });

      it('scriptlets, triggers and file triggers match rpm --scripts --triggers --filetriggers', async () => {
        expect(scriptsOf(a.pkg)).toBe(await rpmQ(path, '--scripts', '--triggers', '--filetriggers'));
        expect(a.pkg.scripts.map((s) => `${s.kind}:${s.interpreter.join(' ')}`)).toEqual([
          'pretrans:<lua>', 'prein:/bin/sh', 'postin:<lua>', 'preun:/usr/bin/python3', 'postun:/bin/sh', 'posttrans:/bin/sh', 'verify:/bin/sh',
        ]);
        const prio = await rpmQ(path, '--qf', '[%{TRANSFILETRIGGERPRIORITIES}\n][%{FILETRIGGERPRIORITIES}\n]');
        expect(lines(prio).map(Number).sort()).toEqual(a.pkg.fileTriggers.map((t) => t.priority).sort());
        expect(a.pkg.fileTriggers.find((t) => t.kind === 'transfiletriggerin')?.priority).toBe(2000);
      });

      it('payload flags and compressor match rpm --qf', async () => {
        expect(`${a.pkg.payload.compressor || '(none)'}|${a.pkg.payload.flags || '(none)'}`).toBe(await rpmQ(path, '--qf', '%{PAYLOADCOMPRESSOR}|%{PAYLOADFLAGS}'));
      });

      it('extracts the same tree as rpm2cpio | cpio -idm', async () => {
        const ours = join(tmp, `${label}-ours`);
        const theirs = join(tmp, `${label}-cpio`);
        const entries = await extractRpm(path, ours);
        await runOk('mkdir', ['-p', theirs]);
        await runOk('sh', ['-c', 'rpm2cpio "$1" | (cd "$2" && cpio -idm --quiet)', 'sh', path, theirs]);
        expect(await snapshotTree(ours, { owners: false, xattrs: false })).toEqual(await snapshotTree(theirs, { owners: false, xattrs: false }));
        expect(await inodeGroups(ours)).toEqual(await inodeGroups(theirs));
        expect(await inodeGroups(ours)).toEqual([
          ['/usr/lib/oracle/empty-hl-1', '/usr/lib/oracle/empty-hl-2'],
          ['/usr/lib/oracle/hl-a', '/usr/lib/oracle/hl-b', '/usr/lib/oracle/hl-c'],
        ]);
        // Owners come from the header's names; ghosts are not installed.
        const byPath = new Map(entries.map((e) => [e.path, e]));
        expect(byPath.get('/usr/lib/oracle/big.bin')).toMatchObject({ user: 'daemon', group: 'mail', mode: 0o100640, type: 'file' });
        expect(byPath.has('/etc/oracle/ghost.conf')).toBe(false);
        expect(byPath.get('/usr/bin/oracle-suid')!.mode & 0o7777).toBe(0o4755);
        expect(byPath.get('/usr/lib/oracle/abs-link')).toMatchObject({ type: 'symlink', linkTarget: '/etc/oracle/main.conf' });
        expect(byPath.get('/usr/lib/oracle/hl-a')!.nlink).toBe(3);
        expect(entries.filter((e) => e.type === 'hardlink').length).toBe(3);
        expect(entries.length).toBe(a.pkg.files.length - 1);
        const ping = byPath.get('/usr/bin/oracle-ping')!;
        expect(ping.xattrs).toEqual([{ name: 'security.capability', value: encodeFileCaps('cap_net_raw,cap_net_admin=ep') }]);
      });
    });
  }

  it('skipping contents still checks every digest, and stopping early leaves nothing running', async () => {
    const path = built.get('xz')!;
    let n = 0;
    for await (const _ of readRpmPayload(path)) n++;
    expect(n).toBeGreaterThan(10);
    for await (const e of readRpmPayload(path)) if (e.type === 'file') break;
    if (built.has('bzip2')) for await (const e of readRpmPayload(built.get('bzip2')!)) if (e.type === 'file') break;
  });
});

/** Reads the whole package (headers and payload, contents consumed) and returns the RPM_ error it fails with. */
async function failureOf(read: () => AsyncGenerator<{ content: import('node:stream').Readable | null }>): Promise<{ code: string; message: string }> {
  try {
    for await (const e of read()) if (e.content) for await (const _ of e.content);
  } catch (err) {
    if (isUpdaterError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('read without error');
}

describe.skipIf(!have('rpmbuild'))('bad RPMs built by rpmbuild', () => {

  it('a file truncated anywhere (lead, signature, header, payload) is a named error', async () => {
    const src = built.get('gzip')!;
    const bytes = await readFile(src);
    const a = await readRpm(src);
    const cuts = [0, 3, 50, 95, 96, 100, 111, 112, 200, a.headerOffset - 1, a.headerOffset, a.headerOffset + 15, a.headerOffset + 500, a.payloadOffset - 1, a.payloadOffset, a.payloadOffset + 1, a.payloadOffset + 1000, bytes.length - 1];
    for (const cut of cuts) {
      const p = join(tmp, `cut-${cut}.rpm`);
      await writeFile(p, bytes.subarray(0, cut));
      const e = await failureOf(() => readRpmPayload(p));
      expect([cut, e.code]).toEqual([cut, expect.stringMatching(/^RPM_(NOT_RPM|TRUNCATED)$/)]);
      expect(e.message).toContain(p);
    }
  });

  for (const [label] of compressors) {
    it(`a ${label} payload cut short while streaming is a named error, not a hang`, async () => {
      const a = await readRpm(built.get(label)!);
      const len = a.payloadEnd - a.payloadOffset;
      for (const frac of [0, 0.1, 0.5, 0.9]) {
        // As if the signature had no size to catch it up front.
        const cut: RpmArchive = { ...a, payloadEnd: a.payloadOffset + Math.max(1, Math.floor(len * frac)) };
        const e = await failureOf(() => readRpmPayload(cut));
        expect([frac, e.code]).toEqual([frac, expect.stringMatching(/^RPM_(TRUNCATED|PAYLOAD_CORRUPT|PAYLOAD_DIGEST_MISMATCH|FILE_DIGEST_MISMATCH)$/)]);
        expect(e.message).toContain(a.path);
      }
    }, 30_000);

    it(`flipped bits in a ${label} payload are caught`, async () => {
      const src = built.get(label)!;
      const a = await readRpm(src);
      const bytes = await readFile(src);
      for (const frac of [0.3, 0.6, 0.97]) {
        const bad = Buffer.from(bytes);
        bad[a.payloadOffset + Math.floor((a.payloadEnd - a.payloadOffset) * frac)]! ^= 0x10;
        const p = join(tmp, `flip-${label}-${frac}.rpm`);
        await writeFile(p, bad);
        const e = await failureOf(() => readRpmPayload(p));
        expect([frac, e.code]).toEqual([frac, expect.stringMatching(/^RPM_(PAYLOAD_CORRUPT|PAYLOAD_DIGEST_MISMATCH|FILE_DIGEST_MISMATCH|TRUNCATED)$/)]);
        expect(e.message).toContain(p);
      }
    }, 30_000);
  }

  it('changed file content in an uncompressed payload names the file and the digest', async () => {
    const src = built.get('none')!;
    const bytes = await readFile(src);
    const at = bytes.indexOf('echo suid');
    bytes.write('echo SUID', at);
    const p = join(tmp, 'content.rpm');
    await writeFile(p, bytes);
    const e = await failureOf(() => readRpmPayload(p));
    expect(e.code).toBe('RPM_FILE_DIGEST_MISMATCH');
    expect(e.message).toMatch(/\/usr\/bin\/oracle-suid: sha256 digest [0-9a-f]{64} does not match the header's 3eab|\/usr\/bin\/oracle-suid: sha256 digest/);
    // rpm agrees the package is broken.
    expect((await run('rpm', ['-K', '--nosignature', p])).code).not.toBe(0);
  });

  it('a flipped bit in the header fails its SHA256 digest, as rpm -K reports', async () => {
    const src = built.get('gzip')!;
    const bytes = await readFile(src);
    bytes.write('a Package', bytes.indexOf('A package with every awkward case'));
    const p = join(tmp, 'header.rpm');
    await writeFile(p, bytes);
    await expect(readRpm(p)).rejects.toMatchObject({ code: 'RPM_HEADER_DIGEST_MISMATCH', message: expect.stringContaining(`${p}: header SHA256 digest`) });
    expect((await run('rpm', ['-K', '--nosignature', p])).code).not.toBe(0);
  });

  it('non-RPM files are refused', async () => {
    const text = join(tmp, 'text.rpm');
    await writeFile(text, 'this is not a package\n');
    const empty = join(tmp, 'empty.rpm');
    await writeFile(empty, '');
    for (const p of [text, empty, '/bin/sh']) await expect(readRpm(p)).rejects.toMatchObject({ code: 'RPM_NOT_RPM', message: expect.stringContaining(p) });
    await expect(readRpm(join(tmp, 'absent.rpm'))).rejects.toMatchObject({ code: 'RPM_OPEN' });
  });
});

describe.skipIf(!have('setcap') || !have('getfattr'))('security.capability bytes against setcap', () => {
  let capTmp: string;
  beforeAll(async () => {
    capTmp = await makeTmp('atomic-caps-');
  });
  afterAll(async () => {
    if (capTmp) await removeTmp(capTmp);
  });

  const accepted = ['cap_net_raw=ep', 'cap_net_raw,cap_net_admin=ep', 'cap_sys_admin=eip', 'cap_chown=p', 'cap_setuid,cap_setgid=i', 'cap_bpf,cap_perfmon+ep', 'cap_net_bind_service+ep', 'all=ep', '=ep cap_sys_admin-ep', 'CAP_KILL=pe', 'cap_dac_override,cap_checkpoint_restore=p'];
  for (const text of accepted) {
    it(`"${text}" encodes as setcap writes it`, async () => {
      const f = join(capTmp, 'f');
      await runOk('sh', ['-c', ': > "$1"', 'sh', f]);
      await runOk('setcap', [text, f]);
      expect(Buffer.from(encodeFileCaps(text)!).toString('hex')).toBe(getXattr(f, 'security.capability')!.toString('hex'));
    });
  }

  it('texts setcap refuses are refused', async () => {
    const f = join(capTmp, 'g');
    await runOk('sh', ['-c', ': > "$1"', 'sh', f]);
    for (const text of ['cap_chown=ep cap_kill=p', 'cap_nonsense=ep']) {
      expect((await run('setcap', [text, f])).code).not.toBe(0);
      expect(() => encodeFileCaps(text)).toThrow(/file capabilities/);
    }
  });
});
