// The treefile part of the compose input hash (rpm-ostree `Treefile::get_checksum`): SHA-256
// of the re-serialised flattened treefile (so comments, whitespace and key order don't
// matter; `metadata` and the names of ostree-layers are left out), followed by the bytes of
// the files it names: postprocess-script, check-passwd/check-groups files, add-files sources.

import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { prefixError } from '../../common/errors.ts';
import type { Treefile } from './types.ts';
import { compareBytes } from './values.ts';

/** Every external file whose content feeds the checksum, in hashing order (absolute paths). */
export function treefileExternalPaths(tf: Treefile): string[] {
  const out: string[] = [];
  if (tf.postprocessScript !== undefined) out.push(tf.postprocessScript.path);
  if (tf.checkPasswd.type === 'file') out.push(tf.checkPasswd.path);
  if (tf.checkGroups.type === 'file') out.push(tf.checkGroups.path);
  const adds = [...new Set(tf.addFiles.map((f) => f.path))].sort(compareBytes);
  out.push(...adds);
  return out;
}

/** Hex SHA-256 over the flattened treefile and its external files. */
export async function treefileChecksum(tf: Treefile): Promise<string> {
  const h = createHash('sha256');
  const { metadata: _metadata, 'ostree-layers': _layers, ...hashed } = tf.flattened;
  h.update(JSON.stringify(hashed));
  for (const p of treefileExternalPaths(tf)) {
    try {
      h.update(await readFile(p));
    } catch (err) {
      throw prefixError(`reading ${p} named by treefile ${tf.path}`, err);
    }
  }
  return h.digest('hex');
}
