import { setMaxListeners } from 'node:events';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ExitCode, type ExitCodeValue } from './exit-codes.js';
import { createOutput } from './output.js';
import type { ConfigFlags } from './commands/config-command.js';
import type { ListFlags } from './commands/list-sessions-command.js';
import type { SyncFlags } from './sync-runtime.js';
import type { StateFlags } from './commands/state-command.js';
import type { HookFlags } from './commands/hook-command.js';
import type { HooksFlags } from './commands/hooks-command.js';
import type { DoctorFlags } from './commands/doctor-command.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** More parser threads than this only costs memory: each holds a chunk of up to 6 MB and its records. */
const MAX_THREADS = 64;

function threadCount(value: string): number {
  const n = positiveInt(value);
  if (n > MAX_THREADS) throw new InvalidArgumentError(`expected at most ${MAX_THREADS}`);
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function addGlobalOptions(command: Command): Command {
  return command
    .option(
      '--claude-dir <dirs>',
      'Claude data root(s), comma separated (default: CLAUDE_CONFIG_DIR, ~/.config/claude, ~/.claude)',
    )
    .option('--state-dir <dir>', 'sync state directory (default: OPIK_CHAT_SYNC_STATE_DIR or ~/.opik/sync-state)')
    .option('--url <url>', 'Opik base URL (overrides OPIK_URL_OVERRIDE and ~/.opik.config)')
    .option('--workspace <name>', 'Opik workspace (overrides OPIK_WORKSPACE)')
    .option('--project-name <name>', 'Opik project (overrides OPIK_PROJECT_NAME; default claude-code)')
    .option('--config <path>', 'Opik config file (default: OPIK_CONFIG_PATH or ~/.opik.config)')
    .addOption(
      new Option(
        '--api-key <key>',
        'Opik API key (prefer OPIK_API_KEY: command lines are visible to other users)',
      ).hideHelp(),
    );
}

/** Runs a command body and turns its result into the exit code; the only place the process ends. */
function action<T>(body: (opts: T, signal: AbortSignal) => Promise<ExitCodeValue>) {
  return async (opts: T): Promise<void> => {
    const controller = new AbortController();
    // Every request in flight listens for Ctrl+C on this one signal: hundreds is normal, not a leak.
    setMaxListeners(0, controller.signal);
    let interrupts = 0;
    const onSignal = (): void => {
      interrupts += 1;
      controller.abort();
      // A second Ctrl+C means now: state is only written after acknowledged uploads, so nothing breaks.
      if (interrupts > 1) process.exit(130);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      process.exitCode = await body(opts, controller.signal);
    } catch (error) {
      createOutput().error((error as Error).message);
      process.exitCode = ExitCode.Fatal;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  };
}

/** The full command line, parsed by commander. */
export async function runCliProgram(argv: string[]): Promise<void> {
  const program = new Command()
    .name('opik-chat-sync')
    .description('Export Claude Code conversations to Opik as threads, traces and spans.')
    .version('0.2.0')
    .showHelpAfterError()
    .exitOverride((error) => {
      // commander's own usage errors exit 1; ours say "could not run".
      process.exit(error.exitCode === 0 ? 0 : ExitCode.Fatal);
    });

  addGlobalOptions(program.command('config'))
    .description('show the resolved Opik configuration and check connectivity and Claude data')
    .option('--json', 'machine-readable output')
    .option('--offline', 'do not contact Opik')
    .action(
      action(async (opts: ConfigFlags) => {
        const { runConfigCommand } = await import('./commands/config-command.js');
        return runConfigCommand(opts, createOutput({ json: opts.json }));
      }),
    );

  addGlobalOptions(program.command('list-sessions'))
    .description('list Claude Code sessions with their sync status')
    .option('--project <path>', 'only sessions whose working directory is in this project')
    .option('--limit <n>', 'show at most n sessions (newest first)', positiveInt)
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: ListFlags) => {
        const { runListSessionsCommand } = await import('./commands/list-sessions-command.js');
        return runListSessionsCommand(opts, createOutput({ json: opts.json }));
      }),
    );

  addGlobalOptions(program.command('sync'))
    .description('sync sessions to Opik')
    .option('--session <id>', 'one session')
    .option('--project <path>', 'every session of a project (by working directory)')
    .option('--all', 'every session')
    .option('--watch', 'catch up, then keep syncing as Claude Code writes')
    .option('--force', 're-send everything selected (same ids: updates, never duplicates)')
    .option('--dry-run', 'show what would be created or updated; send nothing, change no state')
    .option('--verbose', 'print details: each request, retry and unchanged session')
    .option('--json', 'machine-readable summary on stdout')
    .option('--no-redact', 'upload secrets found in transcripts unredacted')
    .option('--redact-pattern <regex>', 'extra pattern to redact (repeatable)', collect)
    .option('--threads <n>', 'parser threads, 1 to 64 (default: cores)', threadCount)
    .option('--no-compress', 'send request bodies as plain JSON instead of gzip')
    .option('--debounce <ms>', 'watch: wait this long after the last write (default 2000)', positiveInt)
    .option(
      '--retries <n>',
      'retries per request on 429/5xx/network errors before a session counts as failed (default 7)',
      nonNegativeInt,
    )
    .addOption(
      new Option('--chunk-mb <n>', 'parse at most this many MB per step (bounds memory; default 6)')
        .argParser(positiveInt)
        .hideHelp(),
    )
    .action(
      action(async (opts: SyncFlags, signal) => {
        const { runSyncCommand } = await import('./commands/sync-command.js');
        return runSyncCommand(opts, createOutput({ json: opts.json, verbose: opts.verbose }), signal);
      }),
    );

  addGlobalOptions(program.command('state'))
    .description('inspect or maintain the sync state')
    .option('--show', 'what was exported, when, and the lag per session')
    .option('--reset', 'forget sync history (ids are kept, so a re-sync updates instead of duplicating)')
    .option('--clean', 'remove leases of dead processes, stale LMDB readers and legacy lock files')
    .option(
      '--import-ccsync [path]',
      'import trace ids of the earlier @opik/ccsync tool (default: <state-dir>/sessions.json)',
    )
    .option('--session <id>', 'limit --show/--reset to one session')
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: StateFlags) => {
        const { runStateCommand } = await import('./commands/state-command.js');
        return runStateCommand(opts, createOutput({ json: opts.json }));
      }),
    );

  addGlobalOptions(program.command('hook'))
    .description(
      'run from a Claude Code hook: reads the hook JSON on stdin, syncs that session in the background, always exits 0',
    )
    .addOption(new Option('--foreground', 'sync in this process (used by the detached child)').hideHelp())
    .addOption(new Option('--session-id <id>').hideHelp())
    .addOption(new Option('--transcript-path <path>').hideHelp())
    .addOption(new Option('--hook-event <name>').hideHelp())
    .action(
      action(async (opts: HookFlags) => {
        const { runHookCommand } = await import('./commands/hook-command.js');
        return runHookCommand(opts);
      }),
    );

  const hooks = program
    .command('hooks')
    .description('install or remove the Claude Code hooks that run `opik-chat-sync hook`');
  for (const name of ['install', 'uninstall'] as const) {
    const command = hooks
      .command(name)
      .description(
        name === 'install'
          ? 'install the Claude Code plugin (claude CLI) or our settings.json entries (merged, idempotent, with a backup)'
          : 'remove the plugin and our settings.json entries, whichever is there',
      )
      .option(
        '--method <method>',
        'plugin (through the claude CLI) or settings (settings.json); default: what is installed, else plugin when claude is on PATH',
      )
      .option('--global', 'user scope: ~/.claude/settings.json, or the plugin for the user (default)')
      .option('--project', 'project scope: .claude/settings.json of the current directory')
      .option('--events <list>', 'settings: comma-separated hook events (default Stop,SubagentStop,SessionEnd)')
      .option('--command <cmd>', 'settings: the command Claude Code should run (default: opik-chat-sync hook)')
      .option('--shell <shell>', "settings: Claude Code's shell for the entry, bash (default) or powershell")
      .option('--dry-run', 'show the diff or the claude commands, change nothing');
    // Only an entry being written has a timeout.
    if (name === 'install')
      command.option('--timeout <seconds>', 'settings: hook timeout in seconds (default 30)', positiveInt);
    command.action(
      action(async (opts: HooksFlags) => {
        const { runHooksCommand } = await import('./commands/hooks-command.js');
        return runHooksCommand(name, opts, createOutput());
      }),
    );
  }

  addGlobalOptions(program.command('doctor'))
    .description(
      'check that everything works: config, Opik, hooks, hook runs, sessions and state; each problem with its fix',
    )
    .option('--json', 'machine-readable output')
    .action(
      action(async (opts: DoctorFlags) => {
        const { runDoctorCommand } = await import('./commands/doctor-command.js');
        return runDoctorCommand(opts, createOutput({ json: opts.json }));
      }),
    );

  await program.parseAsync(argv);
}
