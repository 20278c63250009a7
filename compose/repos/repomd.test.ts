import { describe, expect, it } from 'vitest';
import { UpdaterError } from '../../common/errors.ts';
import { compressionOf, formatRepoLine, parseRepomd, resolveUrl } from './index.ts';

// As createrepo_c 0.17 writes it (checksums shortened to keep the test readable).
const REPOMD = `<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">AB12</checksum>
    <open-checksum type="sha256">cd34</open-checksum>
    <location href="repodata/ab12-primary.xml.gz"/>
    <timestamp>1700000001</timestamp>
    <size>620</size>
    <open-size>1911</open-size>
  </data>
  <data type="filelists">
    <checksum type="sha">ef56</checksum>
    <location href="repodata/ef56-filelists.xml.zst"/>
    <size>300</size>
  </data>
</repomd>
`;

async function reason(xml: string): Promise<string> {
  try {
    await parseRepomd(xml, 'http://h/repodata/repomd.xml');
  } catch (err) {
    expect(err).toBeInstanceOf(UpdaterError);
    expect((err as UpdaterError).code).toBe('REPOMD_INVALID');
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('repomd.xml', () => {
  it('parses the data records with checksums, sizes and timestamps', async () => {
    const r = await parseRepomd(REPOMD, 'repomd.xml');
    expect(r.revision).toBe('1700000000');
    expect(r.records.get('primary')).toEqual({
      type: 'primary', href: 'repodata/ab12-primary.xml.gz', checksum: { type: 'sha256', value: 'ab12' },
      openChecksum: { type: 'sha256', value: 'cd34' }, size: 620, openSize: 1911, timestamp: 1700000001,
    });
    expect(r.records.get('filelists')).toEqual({ type: 'filelists', href: 'repodata/ef56-filelists.xml.zst', checksum: { type: 'sha1', value: 'ef56' }, size: 300 });
  });

  it('rejects broken or unsafe repomd.xml naming the URL', async () => {
    expect(await reason('<repomd><data type="primary">')).toMatch(/^http:\/\/h\/repodata\/repomd\.xml: not well-formed XML/);
    expect(await reason('<other/>')).toBe('http://h/repodata/repomd.xml: no <repomd> root element');
    expect(await reason(REPOMD.replace('type="primary"', 'type="prim"'))).toBe('http://h/repodata/repomd.xml: no <data type="primary"> record');
    expect(await reason(REPOMD.replace('repodata/ab12-primary.xml.gz', '../../etc/passwd'))).toMatch(/location '\.\.\/\.\.\/etc\/passwd' points outside the repository/);
    expect(await reason(REPOMD.replace('repodata/ab12-primary.xml.gz', 'http://evil/x.gz'))).toMatch(/points outside the repository/);
    expect(await reason(REPOMD.replace('type="sha256">AB12', 'type="crc32">AB12'))).toMatch(/unsupported checksum type 'crc32'/);
    expect(await reason(REPOMD.replace('<size>620</size>', '<size>lots</size>'))).toMatch(/<size> 'lots' is not a number/);
  });

  it('knows the compressions libsolv reads, by suffix', () => {
    expect(['a.xml.gz', 'a.xml.xz', 'a.xml.zst', 'a.xml.bz2', 'a.xml', 'a.xml.zck', 'a.xml.lzma'].map(compressionOf)).toEqual(['gz', 'xz', 'zst', 'bz2', 'none', null, null]);
  });

  it('renders rpm-ostree\'s per-repo line', () => {
    expect(formatRepoLine({ id: 'fedora', cached: true, generated: '2024-01-02T03:04:05.000Z' }, 65463)).toBe("rpm-md repo 'fedora' (cached); generated: 2024-01-02T03:04:05Z solvables: 65463");
    expect(formatRepoLine({ id: 'x', cached: false }, 3)).toBe("rpm-md repo 'x'; generated: unknown solvables: 3");
  });

  it('resolves hrefs against base URLs with or without a trailing slash', () => {
    expect(resolveUrl('file:///srv/repo', 'repodata/repomd.xml')).toBe('file:///srv/repo/repodata/repomd.xml');
    expect(resolveUrl('http://h:8080/f/39/', 'repodata/x.gz')).toBe('http://h:8080/f/39/repodata/x.gz');
  });
});
