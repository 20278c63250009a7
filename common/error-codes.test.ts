// Every error code the code can raise is documented in docs/errors.md, so a user
// who sees one (ATOMIC_DEBUG=1, or a library caller) can look it up.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../test-support/index.ts';

const SOURCE_DIRS = ['common', 'store', 'compose', 'client', 'bootloader', 'cli'];

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

describe('error codes', () => {
  it('every code raised in the source is in docs/errors.md', () => {
    const documented = new Set([...readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8').matchAll(/^\| `([A-Z0-9_]+)`/gm)].map((m) => m[1]));
    const raised = new Map<string, string>();
    for (const d of SOURCE_DIRS) {
      for (const f of sources(join(ROOT, d))) {
        for (const m of readFileSync(f, 'utf8').matchAll(/UpdaterError\(\s*'([A-Z0-9_]+)'/g)) if (!raised.has(m[1]!)) raised.set(m[1]!, f);
      }
    }
    expect(raised.size).toBeGreaterThan(50);
    const undocumented = [...raised].filter(([code]) => !documented.has(code) && !code.startsWith('IO_')).map(([c, f]) => `${c} (${f.slice(ROOT.length + 1)})`);
    expect(undocumented).toEqual([]);
  });
});
