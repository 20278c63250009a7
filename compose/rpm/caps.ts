// File capabilities: RPMTAG_FILECAPS holds libcap's text form (`cap_net_raw=ep`,
// cap_from_text(3)); the file gets the `security.capability` xattr in the
// kernel's VFS format (linux/capability.h struct vfs_cap_data, revision 2), the
// bytes `setcap` writes.

import { UpdaterError } from '../../common/errors.ts';

/** Capability names by number (linux/capability.h, up to CAP_CHECKPOINT_RESTORE). */
export const CAPABILITY_NAMES = [
  'chown', 'dac_override', 'dac_read_search', 'fowner', 'fsetid', 'kill', 'setgid', 'setuid',
  'setpcap', 'linux_immutable', 'net_bind_service', 'net_broadcast', 'net_admin', 'net_raw', 'ipc_lock', 'ipc_owner',
  'sys_module', 'sys_rawio', 'sys_chroot', 'sys_ptrace', 'sys_pacct', 'sys_admin', 'sys_boot', 'sys_nice',
  'sys_resource', 'sys_time', 'sys_tty_config', 'mknod', 'lease', 'audit_write', 'audit_control', 'setfcap',
  'mac_override', 'mac_admin', 'syslog', 'wake_alarm', 'block_suspend', 'audit_read', 'perfmon', 'bpf',
  'checkpoint_restore',
] as const;

const VFS_CAP_REVISION_2 = 0x02000000;
const VFS_CAP_FLAGS_EFFECTIVE = 0x000001;
const CAP_WORDS = 2; // 64 capability bits

/** The three capability sets as 64-bit masks. */
export interface CapSets {
  effective: bigint;
  permitted: bigint;
  inheritable: bigint;
}

const ALL = (1n << BigInt(CAPABILITY_NAMES.length)) - 1n;

function bad(text: string, msg: string): UpdaterError {
  return new UpdaterError('RPM_BAD_FILECAPS', `file capabilities "${text}": ${msg}`);
}

function capBit(name: string, text: string): bigint {
  const n = name.toLowerCase();
  if (n === 'all') return ALL;
  if (/^\d+$/.test(n)) {
    const v = Number(n);
    if (v > 63) throw bad(text, `capability number ${v} out of range`);
    return 1n << BigInt(v);
  }
  const idx = CAPABILITY_NAMES.indexOf(n.replace(/^cap_/, '') as (typeof CAPABILITY_NAMES)[number]);
  if (!n.startsWith('cap_') || idx < 0) throw bad(text, `unknown capability "${name}"`);
  return 1n << BigInt(idx);
}

/**
 * Parses libcap's text form: whitespace-separated clauses `caps op flags [op flags…]`
 * where caps is a comma list (empty or `all` = every capability), op is `=`, `+`
 * or `-`, and flags are letters of `eip`.
 */
export function parseCapText(text: string): CapSets {
  const sets: CapSets = { effective: 0n, permitted: 0n, inheritable: 0n };
  const clauses = text.trim().split(/\s+/).filter(Boolean);
  for (const clause of clauses) {
    const m = /^([^=+-]*)((?:[=+-][eip]*)+)$/i.exec(clause);
    if (!m) throw bad(text, `cannot parse clause "${clause}"`);
    const names = m[1]!;
    const mask = names === '' ? ALL : names.split(',').reduce((acc, n) => acc | capBit(n, text), 0n);
    for (const op of m[2]!.match(/[=+-][eip]*/gi)!) {
      const flags = op.slice(1).toLowerCase();
      if (op[0] === '=') {
        sets.effective &= ~mask;
        sets.permitted &= ~mask;
        sets.inheritable &= ~mask;
      } else if (flags === '') {
        throw bad(text, `"${op}" needs flags`);
      }
      const raise = op[0] !== '-';
      for (const f of flags) {
        const key = f === 'e' ? 'effective' : f === 'p' ? 'permitted' : 'inheritable';
        sets[key] = raise ? sets[key] | mask : sets[key] & ~mask;
      }
    }
  }
  return sets;
}

/**
 * Encodes capability text as the `security.capability` xattr value (vfs_cap_data
 * revision 2: le32 magic_etc, then {le32 permitted, le32 inheritable} × 2).
 * Returns null when no capability is set (no xattr). As with setcap, the
 * effective set must be empty or cover every permitted/inheritable capability.
 */
export function encodeFileCaps(text: string): Uint8Array | null {
  const sets = parseCapText(text);
  if (sets.permitted === 0n && sets.inheritable === 0n && sets.effective === 0n) return null;
  if (sets.effective !== 0n && (sets.permitted | sets.inheritable) & ~sets.effective) {
    throw bad(text, 'the effective set must be empty or include every permitted and inheritable capability');
  }
  if (sets.effective & ~(sets.permitted | sets.inheritable)) {
    throw bad(text, 'effective capabilities that are neither permitted nor inheritable');
  }
  const out = Buffer.alloc(4 + CAP_WORDS * 8);
  out.writeUInt32LE((VFS_CAP_REVISION_2 | (sets.effective !== 0n ? VFS_CAP_FLAGS_EFFECTIVE : 0)) >>> 0, 0);
  for (let w = 0; w < CAP_WORDS; w++) {
    const shift = BigInt(32 * w);
    out.writeUInt32LE(Number((sets.permitted >> shift) & 0xffffffffn), 4 + w * 8);
    out.writeUInt32LE(Number((sets.inheritable >> shift) & 0xffffffffn), 8 + w * 8);
  }
  return out;
}

/** Decodes a `security.capability` value (revision 2 or 3) back to its sets. */
export function decodeFileCaps(value: Uint8Array): CapSets & { rootid?: number } {
  if (value.length < 4) throw new UpdaterError('RPM_BAD_FILECAPS', `security.capability: ${value.length} bytes is too short`);
  const b = Buffer.from(value.buffer, value.byteOffset, value.length);
  const magic = b.readUInt32LE(0);
  const rev = magic & 0xff000000;
  const want = rev === 0x02000000 ? 20 : rev === 0x03000000 ? 24 : -1;
  if (want < 0 || b.length !== want) throw new UpdaterError('RPM_BAD_FILECAPS', `security.capability: unsupported revision 0x${magic.toString(16)} / ${b.length} bytes`);
  const word = (off: number): bigint => BigInt(b.readUInt32LE(off));
  const permitted = word(4) | (word(12) << 32n);
  const inheritable = word(8) | (word(16) << 32n);
  const effective = magic & VFS_CAP_FLAGS_EFFECTIVE ? permitted | inheritable : 0n;
  return rev === 0x03000000 ? { effective, permitted, inheritable, rootid: b.readUInt32LE(20) } : { effective, permitted, inheritable };
}
