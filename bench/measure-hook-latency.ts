/**
 * Hook latency (row 3 of docs/benchmark-method.md) on one big session (200 MB by default), synced once beforehand:
 * (a) after one appended assistant line, `hook --foreground --session-id … --transcript-path …` (the
 *     hook's real work: resume at the open conversation, parse, upload, commit);
 * (b) with nothing changed, the normal hook path (`hook` with Claude Code's stdin JSON), which must stop
 *     after a stat and a state read;
 * (c) after one appended line, the normal hook path again: what Claude Code waits for is the call (it
 *     starts a detached sync and returns); the sync's own log line tells when the update reached Opik;
 * each as the median wall time of separate processes, against `node -e 0` measured in the same run.
 * (b) and (c) run the line `hooks install` writes, through `sh -c` as Claude Code does, in the bench's
 * environment as it is (NODE_EXTRA_CA_CERTS included, when the machine sets it).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStateStore } from '../src/pipeline/state/state-store.js';
import { appendAssistantLine, openTranscriptCursor } from './append-transcript-line.js';
import type { BenchContext } from './bench-context.js';
import { median } from './bench-stats.js';
import { CLI } from '../test/support/run-cli.js';
import { assertCliOk, runTimedCli, runTimedNode, runTimedShellLine } from './run-timed-cli.js';

const PROJECT = 'bench-hook';

export interface HookResult {
  sessionBytes: number;
  initialSyncMs: number;
  /** Bytes from the open conversation's start to the end of the file: what each hook call re-reads. */
  openConversationBytes: number;
  nodeStartMs: number[];
  /** NODE_EXTRA_CA_CERTS is set here: `node -e 0` pays for loading it, the installed hook line does not. */
  extraCaCertsSet: boolean;
  appendedMs: number[];
  unchangedMs: number[];
  nodeStartMedianMs: number;
  appendedMedianMs: number;
  unchangedMedianMs: number;
  /** (c): wall time of the `hook` call Claude Code makes, and from its start until the detached sync logged. */
  detachedCallMs: number[];
  detachedVisibleMs: number[];
  detachedCallMedianMs: number;
  detachedVisibleMedianMs: number;
  /** Hook log lines of the appended runs that reported an updated conversation. */
  appendedSynced: number;
}

async function readHookLog(stateDir: string): Promise<string[]> {
  const text = await readFile(join(stateDir, 'hook.log'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

export async function measureHookLatency(context: BenchContext): Promise<HookResult> {
  const runs = Math.max(7, context.args.repeats);
  const sessionBytes = context.args.hookSessionBytes;
  const corpus = await context.generate('corpus-hook', {
    totalBytes: sessionBytes,
    largestSessionBytes: sessionBytes,
    projects: 1,
  });
  const path = corpus.files.find((file) => !file.includes('/subagents/'));
  if (path === undefined) throw new Error('hook corpus has no session file');
  const server = await context.server();
  await server.reset();
  const stateDir = await context.freshDir('state-hook');
  const env = await context.env(corpus.root, stateDir, PROJECT);

  context.log(`hook: initial sync of the ${(sessionBytes / 1e6).toFixed(0)} MB session…`);
  const initial = await runTimedCli(['sync', '--all', '--json'], env);
  assertCliOk(initial, 'hook: initial sync');

  const cursor = await openTranscriptCursor(path);
  const foregroundArgs = ['hook', '--foreground', '--session-id', cursor.sessionId, '--transcript-path', path];
  const hookJson = JSON.stringify({
    session_id: cursor.sessionId,
    transcript_path: path,
    hook_event_name: 'Stop',
    cwd: '/tmp',
  });
  // The plain line `hooks install` writes (and the plugin's hook runs): node and the CLI, then `hook`.
  const hookLine = `"${process.execPath}" "${CLI}" hook`;

  // Untimed warm-up of each path (first run after a big write: page cache, LMDB map).
  await runTimedNode(['-e', '0'], env);
  await appendAssistantLine(cursor);
  assertCliOk(await runTimedCli(foregroundArgs, env), 'hook --foreground (warm-up)');
  assertCliOk(await runTimedShellLine(hookLine, env, { stdin: hookJson }), 'hook (warm-up)');

  const nodeStartMs: number[] = [];
  for (let i = 0; i < runs; i++) nodeStartMs.push((await runTimedNode(['-e', '0'], env)).ms);

  const logBefore = (await readHookLog(stateDir)).length;
  const appendedMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    await appendAssistantLine(cursor);
    const run = await runTimedCli(foregroundArgs, env);
    assertCliOk(run, 'hook --foreground');
    appendedMs.push(run.ms);
  }
  const appendedLines = (await readHookLog(stateDir)).slice(logBefore);
  const appendedSynced = appendedLines.filter((line) => /status=synced new=0 updated=1\b/.test(line)).length;
  if (appendedSynced !== runs) {
    throw new Error(
      `hook --foreground: expected ${runs} "updated=1" log lines, got ${appendedSynced}: ${appendedLines.map((l) => l.replace(/warnings=.*/, '')).join(' | ')}`,
    );
  }
  context.log(`hook: appended line, median ${median(appendedMs).toFixed(0)} ms`);

  const unchangedMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await runTimedShellLine(hookLine, env, { stdin: hookJson });
    assertCliOk(run, 'hook (unchanged)');
    unchangedMs.push(run.ms);
  }
  // An unchanged session must stop after a stat: one "unchanged (fast path)" line per call, and no
  // detached sync (it would log a status line).
  await new Promise((resolve) => setTimeout(resolve, 300));
  const unchangedLines = (await readHookLog(stateDir)).slice(logBefore + runs);
  const fastPath = unchangedLines.filter((line) => / unchanged \(fast path\) ms=\d+$/.test(line)).length;
  if (fastPath !== runs || unchangedLines.length !== runs)
    throw new Error(
      `hook with nothing changed: ${fastPath} fast-path lines of ${unchangedLines.length} for ${runs} calls (it should stop after a stat)`,
    );
  context.log(`hook: nothing changed, median ${median(unchangedMs).toFixed(0)} ms`);

  const detachedCallMs: number[] = [];
  const detachedVisibleMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    await appendAssistantLine(cursor);
    const before = (await readHookLog(stateDir)).length;
    const started = performance.now();
    const run = await runTimedShellLine(hookLine, env, { stdin: hookJson });
    assertCliOk(run, 'hook (after an append)');
    detachedCallMs.push(run.ms);
    // The detached child logs one line when its sync is done (acknowledged by the server and committed).
    for (;;) {
      const lines = (await readHookLog(stateDir)).slice(before);
      if (lines.some((line) => /status=synced new=0 updated=1\b/.test(line))) break;
      if (lines.length > 0)
        throw new Error(
          `hook (detached): unexpected log ${lines.map((l) => l.replace(/warnings=.*/, '')).join(' | ')}`,
        );
      if (performance.now() - started > 30_000)
        throw new Error('hook (detached): no log line from the detached sync within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    detachedVisibleMs.push(performance.now() - started);
  }
  context.log(
    `hook: appended line through the detached path, call ${median(detachedCallMs).toFixed(0)} ms, synced after ${median(detachedVisibleMs).toFixed(0)} ms`,
  );

  const store = openStateStore(stateDir);
  let openConversationBytes: number;
  try {
    const state = store.getSession(cursor.sessionId);
    if (state === undefined) throw new Error('hook: no state for the session after syncing');
    openConversationBytes = state.size - state.resumeOffset;
  } finally {
    await store.close();
  }
  await server.reset();
  return {
    sessionBytes: corpus.summary.bytes,
    initialSyncMs: initial.ms,
    openConversationBytes,
    nodeStartMs,
    extraCaCertsSet: (env.NODE_EXTRA_CA_CERTS ?? '') !== '',
    appendedMs,
    unchangedMs,
    nodeStartMedianMs: median(nodeStartMs),
    appendedMedianMs: median(appendedMs),
    unchangedMedianMs: median(unchangedMs),
    detachedCallMs,
    detachedVisibleMs,
    detachedCallMedianMs: median(detachedCallMs),
    detachedVisibleMedianMs: median(detachedVisibleMs),
    appendedSynced,
  };
}
