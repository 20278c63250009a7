// The text of `static-delta show`, as ostree 2022.7 prints it (pure).

import { countOps, decodeOps, type PartPayload } from './part.ts';
import type { Superblock } from './superblock.ts';
import { formatSize } from '../../common/format.ts';
import { ObjectType } from '../objects/index.ts';

/**
 * Formats a delta like `ostree static-delta show`. `parts[i]` is part i's
 * decoded payload (the caller reads the files or inline parts).
 */
export function formatDeltaShow(name: string, sb: Superblock & { signed: boolean }, parts: PartPayload[]): string {
  const lines: string[] = [];
  lines.push(`Delta: ${name}`);
  lines.push(`Signed: ${sb.signed ? 'yes' : 'no'}`);
  lines.push(sb.from === null ? 'From <scratch>' : `From: ${sb.from}`);
  lines.push(`To: ${sb.to}`);
  lines.push(`Endianness: ${sb.endianness}${sb.endiannessHeuristic && sb.endianness !== 'invalid' ? ' (heuristic)' : ''}`);
  lines.push(`Timestamp: ${sb.timestamp}`);
  lines.push('Number of parents: 0');
  lines.push(`Number of fallback entries: ${sb.fallbacks.length}`);
  let fbSize = 0;
  let fbUsize = 0;
  for (const f of sb.fallbacks) {
    lines.push(`  ${f.checksum}`);
    fbSize += f.size;
    fbUsize += f.usize;
  }
  lines.push(`Total Fallback Size: ${fbSize} (${formatSize(fbSize)})`);
  lines.push(`Total Fallback Uncompressed Size: ${fbUsize} (${formatSize(fbUsize)})`);
  lines.push(`Number of parts: ${sb.parts.length}`);
  let size = 0;
  let usize = 0;
  sb.parts.forEach((h, i) => {
    size += h.size;
    usize += h.usize;
    lines.push(`PartMeta${i}: nobjects=${h.objects.length} size=${h.size} usize=${h.usize}`);
    const p = parts[i]!;
    lines.push(`PartPayload${i}: nmodes=${p.modes.length} nxattrs=${p.xattrs.length} blobsize=${p.blob.length} opsize=${p.ops.length}`);
    const s = countOps(decodeOps(p.ops, (k) => k < h.objects.length && h.objects[k]!.type !== ObjectType.FILE, `part ${i}`));
    lines.push(`PartPayloadOps${i}: openspliceclose=${s.openspliceclose} open=${s.open} write=${s.write} setread=${s.setread} unsetread=${s.unsetread} close=${s.close} bspatch=${s.bspatch}`);
  });
  lines.push(`Total Part Size: ${size} (${formatSize(size)})`);
  lines.push(`Total Part Uncompressed Size: ${usize} (${formatSize(usize)})`);
  lines.push(`Total Size: ${size + fbSize} (${formatSize(size + fbSize)})`);
  lines.push(`Total Uncompressed Size: ${usize + fbUsize} (${formatSize(usize + fbUsize)})`);
  return lines.join('\n') + '\n';
}
