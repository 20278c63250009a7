// `--reboot` of the verbs that prepare a new deployment: runs `systemctl reboot`, or the
// command in ATOMIC_REBOOT_COMMAND (a shell command line: image builders, containers,
// tests), once the new boot configuration is in place.

import { spawnSync } from 'node:child_process';
import { UpdaterError } from '../common/errors.ts';

export const DEFAULT_REBOOT_COMMAND = 'systemctl reboot';

/** The reboot command line in effect. */
export function rebootCommand(env: NodeJS.ProcessEnv = process.env): string {
  const c = env.ATOMIC_REBOOT_COMMAND;
  return c === undefined || c.trim() === '' ? DEFAULT_REBOOT_COMMAND : c;
}

/** Runs the reboot command with the terminal attached; DEPLOY_REBOOT_FAILED when it fails. */
export function runReboot(command = rebootCommand()): void {
  const r = spawnSync('sh', ['-c', command], { stdio: 'inherit' });
  if (r.error !== undefined || r.status !== 0) {
    const why = r.error !== undefined ? r.error.message : r.signal !== null ? `killed by ${r.signal}` : `exit status ${r.status}`;
    throw new UpdaterError('DEPLOY_REBOOT_FAILED', `the new deployment is ready, but the reboot command '${command}' failed (${why})`, {
      hint: 'reboot by hand; the new deployment is the default',
    });
  }
}
