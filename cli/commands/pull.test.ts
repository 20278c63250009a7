// The pull verbs through the built CLI: output and --progress=json, REMOTE:REF,
// `fsck --repair`, and a pull killed with SIGKILL that the next run finishes
// without fetching again any object the first run had already stored.

import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultServer, type FaultServer } from '../../test-support/fault-server.ts';
import { ATOMIC, atomic, have, makeTmp, ostree, removeTmp } from '../../test-support/index.ts';
import { commitDirectory, Repo } from '../../store/index.ts';

describe('atomic repo pull / fsck --repair', () => {
  let tmp: string;
  let server: FaultServer;
  let commit: string;
  let n = 0;

  beforeAll(async () => {
    tmp = await makeTmp('atomic-pull-cli-');
    const tree = join(tmp, 'tree');
    await mkdir(join(tree, 'usr', 'share'), { recursive: true });
    for (let i = 0; i < 40; i++) await writeFile(join(tree, 'usr', 'share', `f${i}`), `file number ${i}\n`.repeat(i + 1));
    const src = await Repo.init(join(tmp, 'src'), 'archive');
    commit = (await commitDirectory(src, tree, { branch: 'os/main', timestamp: 1_700_000_000 })).checksum;
    server = await startFaultServer(src.path);
  });
  afterAll(async () => {
    await server.stop();
    await removeTmp(tmp);
  });

  async function target(mode = 'bare-user'): Promise<string> {
    const repo = join(tmp, `t${n++}`);
    expect((await atomic(['repo', 'init', `--repo=${repo}`, `--mode=${mode}`])).code).toBe(0);
    expect((await atomic(['repo', 'remote', 'add', `--repo=${repo}`, '--no-gpg-verify', 'origin', server.url])).code).toBe(0);
    return repo;
  }

  it('prints ostree\'s closing line, or JSON progress lines; accepts REMOTE:REF', async () => {
    const repo = await target();
    const r = await atomic(['repo', 'pull', `--repo=${repo}`, 'origin:os/main']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^5 metadata, 40 content objects fetched; \d+ KiB transferred in \d+ seconds; [\d.]+\u00a0kB content written\n$/);
    const repo2 = await target();
    const j = await atomic(['repo', 'pull', `--repo=${repo2}`, '--progress=json', 'origin', 'os/main']);
    const lines = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { phase: string; fetched: number; content: number });
    expect(lines.at(-1)).toMatchObject({ phase: 'done', fetched: 45, content: 40 });
    expect((await atomic(['repo', 'rev-parse', `--repo=${repo2}`, 'origin:os/main'])).stdout.trim()).toBe(commit);
    const bad = await atomic(['repo', 'pull', `--repo=${repo2}`, 'nosuch', 'os/main']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: remote "nosuch" not found in .*\/config\nhint: add it with/);
  });

  it('fsck --repair fetches corrupt and missing objects again and names the affected commit', async () => {
    const repo = await target();
    expect((await atomic(['repo', 'pull', `--repo=${repo}`, 'origin', 'os/main'])).code).toBe(0);
    const objs: string[] = [];
    for (const d of await readdir(join(repo, 'objects'))) for (const f of await readdir(join(repo, 'objects', d))) if (f.endsWith('.file')) objs.push(join(repo, 'objects', d, f));
    await writeFile(objs[0]!, 'garbage');
    await unlink(objs[1]!);
    const broken = await atomic(['repo', 'fsck', `--repo=${repo}`]);
    expect(broken.code).toBe(1);
    const r = await atomic(['repo', 'fsck', `--repo=${repo}`, '--repair']);
    expect(r.stderr).toMatch(/error: corrupt object/);
    expect(r.stderr).toMatch(/error: missing object/);
    expect(r.stdout).toContain(`Repaired commit ${commit} from remote "origin"\nCommits affected: 1 (${commit})\n`);
    expect(r.code).toBe(0);
    const after = await atomic(['repo', 'fsck', `--repo=${repo}`]);
    expect(after.stderr).toBe('');
    expect(after.code).toBe(0);
    if (have('ostree')) expect((await ostree(['fsck', `--repo=${repo}`])).stdout).toContain('no errors found');
  });

  it('a pull killed with SIGKILL resumes without fetching any stored object again', async () => {
    const repo = await target();
    server.log.length = 0;
    server.addFault({ match: /\.filez$/, fault: { kind: 'delay', ms: 150 } });
    const child = spawn(ATOMIC, ['repo', 'pull', `--repo=${repo}`, 'origin', 'os/main'], { stdio: 'ignore' });
    const served = (): number => server.log.filter((e) => e.path.endsWith('.filez')).length;
    const deadline = Date.now() + 20_000;
    while (served() < 16 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    server.clearFaults();

    // What the killed run left: whole objects in its staging directory, no ref.
    const staging = (await readdir(join(repo, 'tmp'))).filter((e) => e.startsWith('staging-'));
    expect(staging.length).toBe(1);
    const staged = new Set<string>();
    for (const f of await readdir(join(repo, 'tmp', staging[0]!))) {
      if (/^[0-9a-f]{64}\.file$/.test(f)) staged.add(`objects/${f.slice(0, 2)}/${f.slice(2)}z`);
    }
    expect(staged.size).toBeGreaterThan(4);
    expect(staged.size).toBeLessThan(40);
    expect((await atomic(['repo', 'refs', `--repo=${repo}`])).stdout).toBe('');

    server.log.length = 0;
    const r = await atomic(['repo', 'pull', `--repo=${repo}`, 'origin', 'os/main']);
    expect(r.code).toBe(0);
    const second = server.log.filter((e) => e.path.endsWith('.filez')).map((e) => e.path);
    expect(second.filter((p) => staged.has(p))).toEqual([]);
    expect(second.length).toBe(40 - staged.size);
    expect(r.stdout).toMatch(new RegExp(`^\\d+ metadata, ${40 - staged.size} content objects fetched`));
    expect((await atomic(['repo', 'fsck', `--repo=${repo}`])).code).toBe(0);
    expect((await readFile(join(repo, 'refs', 'remotes', 'origin', 'os', 'main'), 'utf8')).trim()).toBe(commit);
  });
});
