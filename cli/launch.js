// The executable's entry point. Turns on Node's compile cache (compiled modules are reused
// between runs), then loads the CLI: the JavaScript bundle in dist/ (scripts/build.ts) when
// it was built from the sources as they are now, or when there are no sources (an install
// that ships only the bundle); else the TypeScript sources, which Node strips of types on
// each run. ATOMIC_FROM_SOURCE=1 forces the sources.
// Plain JavaScript, so that a run from the bundle never loads Node's type stripper.
import module from 'node:module';
import { existsSync, readFileSync, statSync } from 'node:fs';

module.enableCompileCache?.();

const root = new URL('../', import.meta.url);

function useBundle() {
  if (process.env.ATOMIC_FROM_SOURCE) return false;
  let inputs;
  try {
    inputs = JSON.parse(readFileSync(new URL('dist/inputs.json', root), 'utf8')).inputs;
  } catch {
    return false;
  }
  if (!existsSync(new URL('cli/main.ts', root))) return true;
  for (const [path, mtimeMs, size] of inputs) {
    try {
      const st = statSync(new URL(path, root));
      if (st.mtimeMs !== mtimeMs || st.size !== size) return false;
    } catch {
      return false;
    }
  }
  return true;
}

const { main } = await import(useBundle() ? new URL('dist/main.js', root).href : './main.ts');
process.exitCode = await main(process.argv.slice(2));
