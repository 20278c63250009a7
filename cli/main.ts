// The `atomic` command line: commander program, verb registration, and the
// single place that turns errors into `error:`/`hint:` lines and exit codes.

import { Command, CommanderError } from 'commander';
import { UpdaterError } from '../common/errors.ts';

/** Exit statuses: 1 for errors (as ostree), 2 for usage errors. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/**
 * The verb groups, each loaded on demand: a host runs `atomic host …` without loading the
 * compose server's modules (YAML, XML, RPM, libsolv), which halves start-up time.
 */
const GROUPS: Record<string, () => Promise<(program: Command) => void>> = {
  repo: async () => (await import('./commands/repo.ts')).registerRepoCommands,
  host: async () => (await import('./commands/host.ts')).registerHostCommands,
  compose: async () => (await import('./commands/compose.ts')).registerComposeCommands,
};

/** The program with the verb group `argv[0]` names, or with every group (help, unknown verbs). */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('atomic')
    .description('Atomic, image-based operating system updates (OSTree compatible)')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, 'error: ')) });
  const first = argv[0];
  const groups = first !== undefined && Object.hasOwn(GROUPS, first) ? [first] : Object.keys(GROUPS);
  for (const g of groups) (await GROUPS[g]!())(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  try {
    await program.parseAsync(argv, { from: 'user' });
    // An action may set its own status (77: `host upgrade --check` found nothing).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return EXIT_USAGE;
    }
    if (err instanceof UpdaterError) {
      process.stderr.write(`error: ${err.message}\n`);
      if (err.hint) process.stderr.write(`hint: ${err.hint}\n`);
      if (process.env.ATOMIC_DEBUG) process.stderr.write(`(${err.code})\n${err.stack ?? ''}\n`);
      return err.code === 'CLI_USAGE' ? EXIT_USAGE : EXIT_FAILURE;
    }
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`error: ${e?.message ?? String(err)}\n`);
    if (process.env.ATOMIC_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
    return EXIT_FAILURE;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
