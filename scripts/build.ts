// Bundles the CLI into plain JavaScript under dist/, so `atomic` starts without Node
// stripping types from ~120 modules on every run (~0.1 s per process, much more in a VM).
// cli/launch.js runs the bundle only while every source it was built from is unchanged
// (dist/inputs.json records each input's mtime and size, and package-lock.json's, which
// pins the npm packages bundled with it); otherwise it runs the sources.
// Usage: node scripts/build.ts [--if-stale]
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'rolldown';

const ROOT = join(import.meta.dirname, '..');

/** npm packages bundled with the CLI (see build()'s `external`). */
const BUNDLED = new Set(['commander', 'yaml', 'xml2js']);

/** The module entry points: the CLI, and the object writer's worker thread (a file of its own). */
const INPUTS = { main: 'cli/main.ts', 'object-writer-worker': 'store/repo/object-writer-worker.ts', 'checkout-worker': 'store/checkout-worker.ts' };

export interface BuildManifest {
  /** [path relative to the project root, mtimeMs, size] of every source bundled, and of package-lock.json. */
  inputs: Array<[string, number, number]>;
}

/** True when ROOT/dist exists and was built from the sources as they are now. */
export function isCurrent(root = ROOT): boolean {
  try {
    const manifest = JSON.parse(readFileSync(join(root, 'dist', 'inputs.json'), 'utf8')) as BuildManifest;
    return manifest.inputs.length > 0 && manifest.inputs.every(([path, mtimeMs, size]) => {
      const st = statSync(join(root, path));
      return st.mtimeMs === mtimeMs && st.size === size;
    });
  } catch {
    return false;
  }
}

/** Bundles the sources under ROOT into ROOT/dist (replaced whole); returns the module count. */
export async function buildDist(root = ROOT): Promise<number> {
  const dist = join(root, 'dist');
  const out = `${dist}.new`;
  rmSync(out, { recursive: true, force: true });
  // Statted before bundling: a source edited while the bundle is made then reads as stale.
  const before = new Map<string, [number, number]>();
  const result = await build({
    cwd: root,
    input: Object.fromEntries(Object.entries(INPUTS).map(([k, v]) => [k, join(root, v)])),
    platform: 'node',
    // The npm packages in BUNDLED come into the bundle with their own dependencies (fewer
    // files to load: yaml alone is ~80 modules); the others stay in node_modules: koffi
    // (a native addon), libsodium (~1 MB, loaded only to check signatures), and the ones
    // that find files beside their own (@snyk/rpm-parser's wasm).
    external: (id, importer) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('\0')
      && (id.startsWith('node:') || (!importer?.includes('/node_modules/') && !BUNDLED.has(id))),
    logLevel: 'warn',
    plugins: [{
      name: 'record-inputs',
      load(id) {
        if (!id.startsWith('\0')) {
          const st = statSync(id);
          before.set(id, [st.mtimeMs, st.size]);
        }
        return null;
      },
    }],
    output: { dir: out, format: 'esm', entryFileNames: '[name].js', chunkFileNames: '[name]-[hash].js' },
  });
  const ids = new Set(result.output.flatMap((o) => (o.type === 'chunk' ? o.moduleIds : [])));
  const inputs: BuildManifest['inputs'] = [];
  for (const id of [...ids].sort()) {
    const rec = before.get(id);
    if (rec === undefined || id.includes('/node_modules/')) continue;
    inputs.push([relative(root, id), rec[0], rec[1]]);
  }
  // The bundled npm packages change with the lockfile (npm ci), not with any source.
  const lock = join(root, 'package-lock.json');
  if (existsSync(lock)) {
    const st = statSync(lock);
    inputs.push(['package-lock.json', st.mtimeMs, st.size]);
  }
  writeFileSync(join(out, 'inputs.json'), `${JSON.stringify({ inputs } satisfies BuildManifest)}\n`);
  const old = `${dist}.old`;
  rmSync(old, { recursive: true, force: true });
  if (existsSync(dist)) renameSync(dist, old);
  renameSync(out, dist);
  rmSync(old, { recursive: true, force: true });
  return inputs.length;
}

if (import.meta.main) {
  if (process.argv.includes('--if-stale') && isCurrent()) process.exit(0);
  const n = await buildDist();
  console.log(`build: dist/ from ${n} modules`);
}
