// Text of `upgrade --check` / `--preview` (rpm-ostree §3.3, §3.4): the AvailableUpdate
// block (keys right-aligned as rpm-ostree aligns them), the package listing, or the
// file-level summary when the commits carry no package lists. Pure.

import type { TreeDiff } from '../store/index.ts';
import { renderPackageDiff, summarizePackageDiff } from './pkgdiff.ts';
import type { UpdateCheck } from './revision.ts';
import { formatSignature } from './signature.ts';
import { formatTimestamp } from './status.ts';

const KEY_WIDTH = 13; // rpm-ostree's widest key of this block, SecAdvisories

function kv(key: string, value: string): string {
  return `  ${key.padStart(KEY_WIDTH)}: ${value}`;
}

/** `AvailableUpdate:` with Version (or Timestamp), Commit, Signature and Diff. */
export function renderAvailableUpdate(c: UpdateCheck): string {
  const a = c.available;
  if (a === null) return '';
  const lines = ['AvailableUpdate:'];
  lines.push(a.version !== null ? kv('Version', `${a.version} (${formatTimestamp(a.timestamp)})`) : kv('Timestamp', formatTimestamp(a.timestamp)));
  lines.push(kv('Commit', a.csum));
  if (a.signature !== null) lines.push(kv('Signature', formatSignature(a.signature)));
  if (c.packages !== null) lines.push(kv('Diff', summarizePackageDiff(c.packages) || 'no package changes'));
  return `${lines.join('\n')}\n`;
}

/** `ostree diff` lines (`M    /path`, `D`, `A`) after a one-line count. */
export function renderFileDiff(d: TreeDiff): string {
  const lines = [`Files: ${d.modified.length} modified, ${d.removed.length} removed, ${d.added.length} added`];
  for (const p of d.modified) lines.push(`M    ${p}`);
  for (const p of d.removed) lines.push(`D    ${p}`);
  for (const p of d.added) lines.push(`A    ${p}`);
  return `${lines.join('\n')}\n`;
}

/** The whole `--preview` text: the block, then the package listing or the file summary. */
export function renderPreview(c: UpdateCheck): string {
  let out = renderAvailableUpdate(c);
  if (c.packages !== null) out += renderPackageDiff(c.packages);
  else if (c.files !== null) out += renderFileDiff(c.files);
  return out;
}
