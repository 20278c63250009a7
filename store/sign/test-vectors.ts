// Test helpers: the ed25519 vector made by ostree 2022.7 with libsodium
// (store/testdata/vectors/README.md, "ed25519 vector").

import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const VEC = join(import.meta.dirname, '..', 'testdata', 'vectors');
export const ED = join(VEC, 'ed25519');
export const ARCHIVE = join(VEC, 'archive-repo');
export const COMMIT_A = 'e8b3d61cfb465874b60adedb4e00026d8b725fde8421e096c54f1593b2f4c595';
export const COMMIT_B = 'd68075cbe364e62205ab62f376e890a76cc6ac4a1bc18ff21d070a875df198b8';

export const readEd = (name: string): Buffer => readFileSync(join(ED, name));
export const PUBLIC = readEd('ed25519.public').toString('utf8').trim();
export const SECRET = readEd('ed25519.secret').toString('utf8').trim();
export const SEED = Buffer.from(readEd('seed.hex').toString('utf8').trim(), 'hex');

export function objectPath(csum: string, ext: string): string {
  return join(ARCHIVE, 'objects', csum.slice(0, 2), `${csum.slice(2)}.${ext}`);
}
export const commitBytes = (csum: string): Buffer => readFileSync(objectPath(csum, 'commit'));
export const commitmetaBytes = (csum: string): Buffer => readFileSync(objectPath(csum, 'commitmeta'));
export const SUMMARY = readFileSync(join(ARCHIVE, 'summary'));
export const SUMMARY_SIG = readFileSync(join(ARCHIVE, 'summary.sig'));

const VECTOR_TXT = readEd('vector.txt').toString('utf8');

/** Hex values from vector.txt: per commit (and the summary) its signature and stored file. */
export function vectorHex(section: 'commit A' | 'commit B' | 'summary'): { signature: Buffer; file: Buffer } {
  const start = VECTOR_TXT.indexOf(`\n${section} `);
  if (start < 0) throw new Error(`vector.txt has no section ${section}`);
  const next = VECTOR_TXT.slice(start + 1).search(/\n(commit [AB]|summary) /);
  const text = next < 0 ? VECTOR_TXT.slice(start) : VECTOR_TXT.slice(start, start + 1 + next);
  const sig = /signature[^\n]*?\(hex\)\s+([0-9a-f]+)/.exec(text);
  const file = /file hex:\s+([0-9a-f]+)/.exec(text);
  if (!sig || !file) throw new Error(`vector.txt section ${section} is missing hex`);
  return { signature: Buffer.from(sig[1]!, 'hex'), file: Buffer.from(file[1]!, 'hex') };
}
