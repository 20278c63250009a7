// `atomic repo log` and `show` print what `ostree log` and `ostree show` print for
// the same commits: subject, body, version, parent, dates, and "(no subject)".

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atomic, have, makeTmp, ostree, removeTmp, runOk } from '../test-support/index.ts';

describe.skipIf(!have('ostree'))('log and show against ostree', () => {
  let tmp: string;
  let repo: string;
  beforeAll(async () => {
    tmp = await makeTmp();
    repo = join(tmp, 'repo');
    const tree = join(tmp, 'tree');
    await mkdir(tree);
    await writeFile(join(tree, 'a'), 'a\n');
    await runOk('ostree', ['init', `--repo=${repo}`, '--mode=archive']);
    const commit = (args: string[]) => runOk('ostree', ['commit', `--repo=${repo}`, '-b', 'main', '--timestamp=2024-01-02T03:04:05Z', ...args, tree]);
    await commit(['-s', 'First', '-m', 'Body para one\nsecond line\n\nthird', '--add-metadata-string=version=1.2']);
    await commit([]); // no subject, no version
    await commit(['-s', 'Third', '--add-metadata-string=version=1.4']);
  });
  afterAll(async () => removeTmp(tmp));

  it('log is byte-identical', async () => {
    const theirs = await ostree(['log', `--repo=${repo}`, 'main']);
    const ours = await atomic(['repo', 'log', '--repo', repo, 'main']);
    expect(ours.code).toBe(0);
    expect(theirs.stdout).toContain('(no subject)');
    expect(ours.stdout).toBe(theirs.stdout);
  });

  it('show starts with what ostree show prints, then the metadata', async () => {
    for (const rev of ['main', 'main^', 'main^^']) {
      const theirs = await ostree(['show', `--repo=${repo}`, rev]);
      const ours = await atomic(['repo', 'show', '--repo', repo, rev]);
      expect(ours.stdout.startsWith(theirs.stdout), rev).toBe(true);
      expect(ours.stdout.slice(theirs.stdout.length)).toMatch(/^Metadata:\n/);
    }
  });
});
