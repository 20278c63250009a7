// `atomic host …`: the host verbs (ostree admin / rpm-ostree option names). Each action
// parses its options and makes one client/ call; printing happens here.

import type { Command } from 'commander';
import { UpdaterError } from '../../common/errors.ts';
import {
  bootComplete, bootCountingState, cleanupSysroot, collectStatus, deploy, initStateroot, initSysroot, kargs, loadSysroot, openSysrootRepo,
  parseBootloaderKind, removePendingRollback, renderStatus, rollback, setBootloader, setPinned, statusJson, upgrade, withSysroot,
} from '../../client/index.ts';
import { collect, formatSize, intOption, progress, stdoutLine } from '../output.ts';

interface HostOpt {
  sysroot: string;
  os?: string;
}

const lockWait = (): void => {
  process.stderr.write('Waiting for another transaction on this sysroot to finish…\n');
};

function common(o: HostOpt): { sysroot: string; osname?: string; log: (l: string) => void; onLockWait: () => void } {
  return { sysroot: o.sysroot, osname: o.os, log: stdoutLine, onLockWait: lockWait };
}

export function registerHostCommands(program: Command): void {
  const host = program.command('host').description('Manage the deployments of an OSTree sysroot (deploy, upgrade, rollback, status, …)');
  const sysrootOpt = (c: Command): Command => c.option('--sysroot <DIR>', 'the sysroot (default /)', '/');
  const withOs = (c: Command): Command => sysrootOpt(c).option('--os <OSNAME>', 'stateroot (default: the booted one)');

  sysrootOpt(host.command('init'))
    .description('Create an empty sysroot (ostree admin init-fs), or change its bootloader')
    .option('--bootloader <KIND>', 'none, bls (BLS entries only; same as none) or grub2 (also loader.N/grub.cfg)')
    .action(async (o: HostOpt & { bootloader?: string }) => {
      await initSysroot(o.sysroot, { bootloader: o.bootloader === undefined ? undefined : parseBootloaderKind(o.bootloader) });
    });

  sysrootOpt(host.command('set-bootloader'))
    .description('Choose the bootloader backend of a sysroot ([sysroot] bootloader in ostree/repo/config)')
    .argument('<KIND>', 'none, bls or grub2')
    .action(async (kind: string, o: HostOpt) => {
      await setBootloader(await openSysrootRepo(o.sysroot), parseBootloaderKind(kind));
    });

  sysrootOpt(host.command('os-init'))
    .description('Create a stateroot (ostree admin os-init)')
    .argument('<OSNAME>', 'stateroot name')
    .action(async (osname: string, o: HostOpt) => {
      await initStateroot(o.sysroot, osname);
      stdoutLine(`ostree/deploy/${osname} initialized as OSTree root`);
    });

  withOs(host.command('deploy'))
    .description('Deploy a commit of the sysroot repository as the new default (ostree admin deploy)')
    .argument('<REFSPEC>', 'REMOTE:REF, REF or a commit checksum')
    .option('--karg <KEY=VALUE>', 'set a kernel argument, replacing its previous value (repeatable)', collect)
    .option('--karg-append <KEY=VALUE>', 'append a kernel argument (repeatable)', collect)
    .option('--karg-proc-cmdline', 'start from the kernel arguments of the running system')
    .option('--retain', 'keep all existing deployments')
    .option('--retain-pending', 'keep pending deployments')
    .option('--retain-rollback', 'keep rollback deployments')
    .action(async (revision: string, o: HostOpt & { karg?: string[]; kargAppend?: string[]; kargProcCmdline?: boolean; retain?: boolean; retainPending?: boolean; retainRollback?: boolean }) => {
      await deploy({
        ...common(o), revision, karg: o.karg, kargAppend: o.kargAppend,
        kargProcCmdline: o.kargProcCmdline ? (process.env.ATOMIC_PROC_CMDLINE ?? '/proc/cmdline') : false,
        retain: o.retain, retainPending: o.retainPending, retainRollback: o.retainRollback,
      });
    });

  withOs(host.command('upgrade'))
    .alias('update')
    .description('Download and deploy the newest commit of the booted deployment\'s origin')
    .option('-C, --cache-only', 'do not download; deploy what the sysroot repository has')
    .option('--allow-downgrade', 'permit deploying an older commit')
    .action(async (o: HostOpt & { cacheOnly?: boolean; allowDowngrade?: boolean }) => {
      const res = await upgrade({ ...common(o), cacheOnly: o.cacheOnly, allowDowngrade: o.allowDowngrade, onProgress: (l) => progress(l) });
      progress(null);
      if (!res.changed) {
        stdoutLine('No upgrade available.');
        return;
      }
      stdoutLine('Run "systemctl reboot" to start a reboot');
    });

  withOs(host.command('rollback'))
    .description('Make the rollback deployment the default (and the default the rollback)')
    .action(async (o: HostOpt) => {
      await rollback(common(o));
      stdoutLine('Successfully reset deployment order; run "systemctl reboot" to start a reboot');
    });

  withOs(host.command('status'))
    .description('Show the deployments, booted one marked with ●')
    .option('--json', 'print rpm-ostree status --json')
    .option('-v, --verbose', 'more fields')
    .action(async (o: HostOpt & { json?: boolean; verbose?: boolean }) => {
      const s = await loadSysroot(o.sysroot);
      const st = await collectStatus(s, await bootCountingState(s));
      if (o.json) stdoutLine(JSON.stringify(statusJson(st), null, 2));
      else process.stdout.write(renderStatus(st, { verbose: o.verbose }));
    });

  withOs(host.command('cleanup'))
    .description('Remove old deployments and unreferenced files, prune the repository')
    .option('-p, --pending', 'remove the pending deployment')
    .option('-r, --rollback', 'remove the rollback deployment')
    .option('-b, --base', 'remove temporary files, regenerate deployment refs and prune (the default)')
    .action(async (o: HostOpt & { pending?: boolean; rollback?: boolean; base?: boolean }) => {
      if (o.pending || o.rollback) {
        for (const d of await removePendingRollback({ ...common(o), pending: o.pending, rollback: o.rollback })) {
          stdoutLine(`Deleted deployment ${d.osname} ${d.csum}.${d.deployserial}`);
        }
      }
      const res = await withSysroot(common(o), () => cleanupSysroot(o.sysroot));
      stdoutLine(`Freed objects: ${formatSize(res.freedBytes)}`);
    });

  withOs(host.command('kargs'))
    .description('Show the kernel arguments, or deploy the same tree with edited ones')
    .option('--append <KEY=VALUE>', 'append an argument (repeatable)', collect)
    .option('--append-if-missing <KEY=VALUE>', 'append unless the key is present (repeatable)', collect)
    .option('--delete <KEY[=VALUE]>', 'delete an argument (repeatable)', collect)
    .option('--delete-if-present <KEY[=VALUE]>', 'delete if present (repeatable)', collect)
    .option('--replace <KEY=VALUE>', 'replace the value of KEY, or KEY=OLD=NEW (repeatable)', collect)
    .action(async (o: HostOpt & { append?: string[]; appendIfMissing?: string[]; delete?: string[]; deleteIfPresent?: string[]; replace?: string[] }) => {
      const res = await kargs({ ...common(o), append: o.append, appendIfMissing: o.appendIfMissing, delete: o.delete, deleteIfPresent: o.deleteIfPresent, replace: o.replace });
      if (!res.changed) stdoutLine(res.kargs);
      else stdoutLine('Kernel arguments updated.\nRun "systemctl reboot" to start a reboot');
    });

  sysrootOpt(host.command('boot-complete'))
    .description('Confirm that this boot is good (ends GRUB boot counting; after a fallback, makes the booted deployment the default)')
    .action(async (o: HostOpt) => {
      const res = await bootComplete(common(o));
      if (res.fellBack) {
        process.stderr.write('warning: the previous update did not boot; the bootloader fell back to this deployment, which is the default again\n');
      }
    });

  for (const [verb, pinned] of [['pin', true], ['unpin', false]] as const) {
    sysrootOpt(host.command(verb))
      .description(pinned ? 'Keep a deployment from being removed by cleanup' : 'Allow cleanup to remove a deployment again')
      .argument('<INDEX>', 'deployment index (0 = default)', intOption('INDEX'))
      .action(async (index: number, o: HostOpt) => {
        if (index < 0) throw new UpdaterError('CLI_USAGE', `INDEX must be 0 or more, got ${index}`);
        await setPinned({ ...common(o), index, pinned });
        stdoutLine(`Deployment ${index} is now ${pinned ? 'pinned' : 'unpinned'}`);
      });
  }
}
