// `atomic host …`: the host verbs (ostree admin / rpm-ostree option names). Each action
// parses its options and makes one client/ call; printing happens here.

import type { Command } from 'commander';
import { UpdaterError } from '../../common/errors.ts';
import {
  bootComplete, bootCountingState, checkUpdate, classifyDeployRevision, cleanupSysroot, collectStatus, dbDiff, dbList, deploy, deployRevision, formatNevra,
  initStateroot, initSysroot, kargs, loadSysroot, openSysrootRepo, packageDiffJson, parseBootloaderKind, rebase, removePendingRollback,
  renderAvailableUpdate, renderDbDiffHeader, renderPackageDiff, renderPackageDiffDiff, renderPreview, renderStatus, rollback, runReboot, setBootloader,
  renderStatusTable, setPinned, statusJson, upgrade, withSysroot, type DeployResult, type PackageDiff,
} from '../../client/index.ts';
import { collect, formatSize, intOption, progress, stdoutLine } from '../output.ts';

interface HostOpt {
  sysroot: string;
  os?: string;
}

const lockWait = (): void => {
  process.stderr.write('Waiting for another transaction on this sysroot to finish…\n');
};

/** rpm-ostree's exit status for "nothing new" (--check, --unchanged-exit-77). */
export const EXIT_UNCHANGED = 77;

/** Makes the command exit with 77 (cli/main.ts returns the status an action set). */
function exitUnchanged(): void {
  process.exitCode = EXIT_UNCHANGED;
}

/** After a new deployment: the package diff (when both commits list packages), then reboot or the hint. */
function finishDeploy(packages: PackageDiff | null | undefined, reboot: boolean | undefined): void {
  if (packages) process.stdout.write(renderPackageDiff(packages));
  if (reboot) runReboot();
  else stdoutLine('Run "systemctl reboot" to start a reboot');
}

interface ChangeOpt {
  reboot?: boolean;
  unchangedExit77?: boolean;
  cacheOnly?: boolean;
}

/** "No change." (deploy, rebase) or "No upgrade available.", exit 77 with --unchanged-exit-77. */
function unchanged(message: string, o: ChangeOpt): void {
  stdoutLine(message);
  if (o.unchangedExit77) exitUnchanged();
}

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
    .description('Deploy REMOTE:REF, a ref or a commit as the new default (ostree admin deploy), or VERSION|CHECKSUM of the current refspec (rpm-ostree deploy)')
    .argument('<REVISION>', 'REMOTE:REF or REF to follow; a VERSION or CHECKSUM in the history of the current refspec')
    .option('--karg <KEY=VALUE>', 'set a kernel argument, replacing its previous value (repeatable)', collect)
    .option('--karg-append <KEY=VALUE>', 'append a kernel argument (repeatable)', collect)
    .option('--karg-proc-cmdline', 'start from the kernel arguments of the running system')
    .option('--retain', 'keep all existing deployments')
    .option('--retain-pending', 'keep pending deployments')
    .option('--retain-rollback', 'keep rollback deployments')
    .option('-C, --cache-only', 'do not download; use what the sysroot repository has')
    .option('--skip-branch-check', 'accept a CHECKSUM that is not in the history of the current refspec')
    .option('--disallow-downgrade', 'refuse a commit older than the current one')
    .option('-r, --reboot', 'reboot once the deployment is ready')
    .option('--unchanged-exit-77', 'exit 77 when there is nothing to deploy')
    .action(async (revision: string, o: HostOpt & ChangeOpt & { karg?: string[]; kargAppend?: string[]; kargProcCmdline?: boolean; retain?: boolean; retainPending?: boolean; retainRollback?: boolean; skipBranchCheck?: boolean; disallowDowngrade?: boolean }) => {
      const ostreeStyle = [o.karg, o.kargAppend].some((x) => (x ?? []).length > 0) || o.kargProcCmdline || o.retain || o.retainPending || o.retainRollback;
      const mode = ostreeStyle ? 'refspec' : await classifyDeployRevision({ ...common(o), revision });
      if (mode === 'revision') {
        const r = await deployRevision({ ...common(o), revision, cacheOnly: o.cacheOnly, skipBranchCheck: o.skipBranchCheck, disallowDowngrade: o.disallowDowngrade, onProgress: (l) => progress(l) });
        progress(null);
        if (!r.changed) return unchanged('No change.', o);
        finishDeploy(r.packages, o.reboot);
        return;
      }
      const res: DeployResult = await deploy({
        ...common(o), revision, karg: o.karg, kargAppend: o.kargAppend, cacheOnly: o.cacheOnly, onProgress: (l) => progress(l),
        kargProcCmdline: o.kargProcCmdline ? (process.env.ATOMIC_PROC_CMDLINE ?? '/proc/cmdline') : false,
        retain: o.retain, retainPending: o.retainPending, retainRollback: o.retainRollback,
      });
      progress(null);
      if (o.reboot && res.changed) runReboot();
    });

  withOs(host.command('upgrade'))
    .alias('update')
    .description('Download and deploy the newest commit of the booted deployment\'s origin')
    .option('-C, --cache-only', 'do not download; deploy what the sysroot repository has')
    .option('--allow-downgrade', 'permit deploying an older commit')
    .option('--check', 'only say whether an update is available (exit 77 when none)')
    .option('--preview', 'like --check, and list the package changes (or the changed files)')
    .option('--download-only', 'download the update, do not deploy it')
    .option('-r, --reboot', 'reboot once the new deployment is ready')
    .option('--unchanged-exit-77', 'exit 77 when there is no upgrade')
    .action(async (o: HostOpt & ChangeOpt & { allowDowngrade?: boolean; check?: boolean; preview?: boolean; downloadOnly?: boolean }) => {
      if (o.check || o.preview) {
        const c = await checkUpdate({ ...common(o), cacheOnly: o.cacheOnly, allowDowngrade: o.allowDowngrade, preview: o.preview, onProgress: (l) => progress(l) });
        progress(null);
        if (c.available === null) {
          stdoutLine('No updates available.');
          exitUnchanged();
          return;
        }
        process.stdout.write(o.preview ? renderPreview(c) : renderAvailableUpdate(c));
        return;
      }
      const res = await upgrade({ ...common(o), cacheOnly: o.cacheOnly, downloadOnly: o.downloadOnly, allowDowngrade: o.allowDowngrade, onProgress: (l) => progress(l) });
      progress(null);
      if (o.downloadOnly) {
        if (res.to === res.from) return unchanged('No upgrade available.', o);
        stdoutLine(`Update downloaded: ${res.refspec} ${res.to}`);
        return;
      }
      if (!res.changed) return unchanged('No upgrade available.', o);
      finishDeploy(res.packages, o.reboot);
    });

  withOs(host.command('rebase'))
    .description('Follow another refspec (REMOTE:REF, REF on the same remote, or REMOTE: for the same ref) and deploy its newest commit')
    .argument('<REFSPEC>', 'REMOTE:REF, REF or REMOTE:')
    .option('-C, --cache-only', 'do not download; use what the sysroot repository has')
    .option('--skip-purge', 'keep the ref of the previous refspec in the repository')
    .option('--disallow-downgrade', 'refuse a commit older than the current one')
    .option('-r, --reboot', 'reboot once the new deployment is ready')
    .option('--unchanged-exit-77', 'exit 77 when there is nothing to do')
    .action(async (refspec: string, o: HostOpt & ChangeOpt & { skipPurge?: boolean; disallowDowngrade?: boolean }) => {
      const res = await rebase({ ...common(o), refspec, cacheOnly: o.cacheOnly, skipPurge: o.skipPurge, disallowDowngrade: o.disallowDowngrade, onProgress: (l) => progress(l) });
      progress(null);
      if (!res.changed) return unchanged('No change.', o);
      stdoutLine(`Rebased from ${res.from} to ${res.to}`);
      finishDeploy(res.packages, o.reboot);
    });

  const db = host.command('db').description('Package lists of commits and deployments (from rpmostree.rpmdb.pkglist)');
  sysrootOpt(db.command('diff'))
    .description('Package changes between two revisions (default: booted -> pending; one REV: booted -> REV)')
    .argument('[FROM]', 'revision: checksum, ref, or booted / pending / rollback / default')
    .argument('[TO]', 'revision')
    .option('-F, --format <FORMAT>', 'block, diff or json', 'block')
    .action(async (from: string | undefined, to: string | undefined, o: HostOpt & { format: string }) => {
      if (!['block', 'diff', 'json'].includes(o.format)) throw new UpdaterError('CLI_USAGE', `--format: expected block, diff or json, got '${o.format}'`);
      const r = await dbDiff({ sysroot: o.sysroot, from, to });
      if (o.format === 'json') {
        stdoutLine(JSON.stringify({ from: r.from, to: r.to, ...(packageDiffJson(r.diff) as object) }, null, 2));
        return;
      }
      process.stdout.write(renderDbDiffHeader(r));
      process.stdout.write(o.format === 'diff' ? renderPackageDiffDiff(r.diff) : renderPackageDiff(r.diff));
    });
  sysrootOpt(db.command('list'))
    .description('List the packages of revisions (default: the booted deployment)')
    .argument('[REV...]', 'revisions: checksum, ref, or booted / pending / rollback / default')
    .action(async (revs: string[], o: HostOpt) => {
      for (const { rev, packages } of await dbList({ sysroot: o.sysroot, revs })) {
        stdoutLine(`ostree commit: ${rev.desc} (${rev.csum})`);
        for (const p of packages) stdoutLine(` ${formatNevra(p)}`);
      }
    });

  withOs(host.command('rollback'))
    .description('Make the rollback deployment the default (and the default the rollback)')
    .action(async (o: HostOpt) => {
      await rollback(common(o));
      stdoutLine('Successfully reset deployment order; run "systemctl reboot" to start a reboot');
    });

  withOs(host.command('status'))
    .description('Show the deployments as a table (* marks the booted one), or as blocks (--pretty) or JSON')
    .option('-j, --json', 'print rpm-ostree status --json')
    .option('-p, --pretty', 'one block per deployment, as rpm-ostree status prints it (● marks the booted one)')
    .option('-v, --verbose', 'more fields (implies --pretty)')
    .action(async (o: HostOpt & { json?: boolean; pretty?: boolean; verbose?: boolean }) => {
      const s = await loadSysroot(o.sysroot);
      const st = await collectStatus(s, await bootCountingState(s));
      if (o.json) stdoutLine(JSON.stringify(statusJson(st), null, 2));
      else if (o.pretty || o.verbose) process.stdout.write(renderStatus(st, { verbose: o.verbose }));
      else process.stdout.write(renderStatusTable(st));
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
