// glibc's strverscmp(3), ported state machine for state machine from string/strverscmp.c.
// ostree sorts BLS entries by their `version` key with it (compare_boot_loader_configs
// in ostree-sysroot.c), so a different order here would boot a different deployment.

// States of the scan, multiplied by 3 so that adding a character class (0..2) indexes
// the tables directly, exactly as glibc does.
const S_N = 0; // normal text
const S_I = 3; // inside an integral part (no leading zero)
const S_F = 6; // inside a fractional part (a run that started with '0')
const S_Z = 9; // inside a run of leading zeros

// Result types beyond the literal -1/+1 entries.
const CMP = 2; // return the byte difference
const LEN = 3; // the longer digit run wins, else the byte difference

// Indexed by state + class(c1): the state after consuming an equal character.
//                   x    d    0
const NEXT_STATE = [
  S_N, S_I, S_Z, // S_N
  S_N, S_I, S_I, // S_I
  S_N, S_F, S_F, // S_F
  S_N, S_F, S_Z, // S_Z
];

// Indexed by (state + class(c1)) * 3 + class(c2), at the first differing byte.
//                x/x  x/d  x/0  d/x  d/d  d/0  0/x  0/d  0/0
const RESULT_TYPE = [
  CMP, CMP, CMP, CMP, LEN, CMP, CMP, CMP, CMP, // S_N
  CMP, -1, -1, +1, LEN, LEN, +1, LEN, LEN, //     S_I
  CMP, CMP, CMP, CMP, CMP, CMP, CMP, CMP, CMP, // S_F
  CMP, +1, +1, -1, CMP, CMP, -1, CMP, CMP, //     S_Z
];

const encoder = new TextEncoder();

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** glibc's `(c == '0') + (isdigit (c) != 0)`: 0 other, 1 for 1-9, 2 for '0'. */
function charClass(c: number): number {
  return (c === 0x30 ? 1 : 0) + (isDigit(c) ? 1 : 0);
}

/**
 * Compares two strings as version numbers, like glibc `strverscmp`: digit runs compare
 * numerically ("9" < "10"), and runs with leading zeros compare as fractions
 * ("09" < "0" < "1"). Works on the UTF-8 bytes, as C does; a NUL ends the string.
 * Returns a negative number, zero or a positive number, with glibc's values.
 */
export function strverscmp(a: string, b: string): number {
  const p1 = encoder.encode(a);
  const p2 = encoder.encode(b);
  // Past the end reads as the C string's terminating NUL.
  const at1 = (i: number): number => (i < p1.length ? p1[i]! : 0);
  const at2 = (i: number): number => (i < p2.length ? p2[i]! : 0);

  let i = 0;
  let j = 0;
  let c1 = at1(i++);
  let c2 = at2(j++);
  let state = S_N + charClass(c1);

  let diff: number;
  while ((diff = c1 - c2) === 0) {
    if (c1 === 0) return diff;
    state = NEXT_STATE[state]!;
    c1 = at1(i++);
    c2 = at2(j++);
    state += charClass(c1);
  }

  const result = RESULT_TYPE[state * 3 + charClass(c2)]!;
  switch (result) {
    case CMP:
      return diff;
    case LEN:
      // Both runs are integral: the longer one is the bigger number.
      while (isDigit(at1(i++))) {
        if (!isDigit(at2(j++))) return 1;
      }
      return isDigit(at2(j)) ? -1 : diff;
    default:
      return result;
  }
}
