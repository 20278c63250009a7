// Parses what the vm-tests guest prints on its serial console (the protocol of
// vm-tests/os/files/init). Pure: text in, a BootReport out. Serial logs also hold OVMF's and
// GRUB's ANSI escapes and kernel messages; only lines starting with our prefixes count.
//
//   ATOMIC-REPORT KEY=VALUE        a fact about this boot (VALUE runs to the end of the line)
//   ATOMIC-OUT NAME: LINE          one output line of the action's command NAME
//   ATOMIC-EXIT NAME rc=N          that command's exit status
//   ATOMIC-DONE rc=N               the action finished; the guest powers off next
//   ATOMIC-INITRAMFS-FAIL REASON   the initramfs could not switch to a deployment

/** Output and exit status of one `vmtest_run NAME …` in the guest. */
export interface CommandOutput {
  lines: string[];
  /** Null when the guest stopped before the command finished. */
  rc: number | null;
}

/** Everything one boot reported. */
export interface BootReport {
  /** ATOMIC-REPORT facts: version, deployment, kernel, kernel-cmdline, etc-marker, … */
  facts: Record<string, string>;
  /** Commands by name, in the order they started. */
  commands: Record<string, CommandOutput>;
  /** ATOMIC-DONE status; null when the guest never got there (crash, kill, timeout). */
  done: number | null;
  /** Reason given by the initramfs, when it failed. */
  initramfsFailure: string | null;
  /** Kernel panic text seen on the console, if any. */
  panic: string | null;
}

/** Removes ANSI/VT100 escape sequences and carriage returns (OVMF and GRUB emit both). */
export function stripTerminalCodes(text: string): string {
  // CSI sequences (ESC [ … final byte), other two-byte ESC sequences, then CRs.
  return text.replace(/\x1b\[[0-?]*[ -\/]*[@-~]/g, '').replace(/\x1b[()][0-9A-Za-z]/g, '').replace(/\x1b[@-_]/g, '').replace(/\r/g, '');
}

/** Splits a console log into clean lines. */
export function consoleLines(text: string): string[] {
  return stripTerminalCodes(text).split('\n');
}

/**
 * Parses one boot's console log. A fact reported twice keeps its last value; a command
 * name used twice collects both runs' lines and keeps the last status.
 */
export function parseBootReport(text: string): BootReport {
  const r: BootReport = { facts: {}, commands: {}, done: null, initramfsFailure: null, panic: null };
  for (const line of consoleLines(text)) {
    let m: RegExpExecArray | null;
    if ((m = /^ATOMIC-REPORT ([A-Za-z0-9_.-]+)=(.*)$/.exec(line)) !== null) {
      r.facts[m[1]!] = m[2]!;
    } else if ((m = /^ATOMIC-OUT ([A-Za-z0-9_.-]+): ?(.*)$/.exec(line)) !== null) {
      const c = (r.commands[m[1]!] ??= { lines: [], rc: null });
      c.lines.push(m[2]!);
    } else if ((m = /^ATOMIC-EXIT ([A-Za-z0-9_.-]+) rc=(\d+)$/.exec(line)) !== null) {
      (r.commands[m[1]!] ??= { lines: [], rc: null }).rc = Number(m[2]);
    } else if ((m = /^ATOMIC-DONE rc=(\d+)$/.exec(line)) !== null) {
      r.done = Number(m[1]);
    } else if ((m = /^ATOMIC-INITRAMFS-FAIL (.*)$/.exec(line)) !== null) {
      r.initramfsFailure = m[1]!;
    } else if (r.panic === null && (m = /Kernel panic - not syncing: (.*)$/.exec(line)) !== null) {
      r.panic = m[1]!;
    }
  }
  return r;
}

/** The named command's output as one string (for JSON output such as `status --json`). */
export function commandText(r: BootReport, name: string): string {
  const c = r.commands[name];
  if (c === undefined) throw new Error(`the guest did not run '${name}' (commands seen: ${Object.keys(r.commands).join(', ') || 'none'})`);
  return c.lines.join('\n');
}

/** A one-paragraph summary of a boot for failure messages. */
export function describeBoot(r: BootReport): string {
  const parts = [`version=${r.facts.version ?? '?'}`, `deployment=${r.facts.deployment ?? '?'}`, `done=${r.done ?? 'never'}`];
  if (r.initramfsFailure !== null) parts.push(`initramfs failure: ${r.initramfsFailure}`);
  if (r.panic !== null) parts.push(`kernel panic: ${r.panic}`);
  for (const [name, c] of Object.entries(r.commands)) parts.push(`${name} rc=${c.rc ?? 'none'}`);
  return parts.join(', ');
}
