/**
 * §7 hook latency on one big session (200 MB by default), synced once beforehand:
 * (a) after one appended assistant line, `hook --foreground --session-id … --transcript-path …` (the
 *     hook's real work: resume at the open conversation, parse, upload, commit);
 * (b) with nothing changed, the normal hook path (`hook` with Claude Code's stdin JSON), which must stop
 *     after a stat and a state read;
 * each as the median wall time of separate processes, against `node -e 0` measured in the same run.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { openStateStore } from '../src/pipeline/state-store.js';
import { appendAssistantLine, openTranscriptCursor } from './append-transcript-line.js';
import type { BenchContext } from './bench-context.js';
import { median } from './bench-stats.js';
import { assertCliOk, runTimedCli, runTimedNode } from './run-timed-cli.js';

const PROJECT = 'bench-hook';

export interface HookResult {
  sessionBytes: number;
  initialSyncMs: number;
  /** Bytes from the open conversation's start to the end of the file: what each hook call re-reads. */
  openConversationBytes: number;
  nodeStartMs: number[];
  appendedMs: number[];
  unchangedMs: number[];
  nodeStartMedianMs: number;
  appendedMedianMs: number;
  unchangedMedianMs: number;
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
  const corpus = await context.generate('corpus-hook', { totalBytes: sessionBytes, largestSessionBytes: sessionBytes, projects: 1 });
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
  const hookJson = JSON.stringify({ session_id: cursor.sessionId, transcript_path: path, hook_event_name: 'Stop', cwd: '/tmp' });

  // Untimed warm-up of each path (first run after a big write: page cache, LMDB map).
  await runTimedNode(['-e', '0'], env);
  await appendAssistantLine(cursor);
  assertCliOk(await runTimedCli(foregroundArgs, env), 'hook --foreground (warm-up)');
  assertCliOk(await runTimedCli(['hook'], env, { stdin: hookJson }), 'hook (warm-up)');

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
    throw new Error(`hook --foreground: expected ${runs} "updated=1" log lines, got ${appendedSynced}: ${appendedLines.map((l) => l.replace(/warnings=.*/, '')).join(' | ')}`);
  }
  context.log(`hook: appended line, median ${median(appendedMs).toFixed(0)} ms`);

  const unchangedMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const run = await runTimedCli(['hook'], env, { stdin: hookJson });
    assertCliOk(run, 'hook (unchanged)');
    unchangedMs.push(run.ms);
  }
  // An unchanged session must not have started a detached sync: it would log a line.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const extra = (await readHookLog(stateDir)).length - logBefore - runs;
  if (extra !== 0) throw new Error(`hook with nothing changed wrote ${extra} log lines (it should stop after a stat)`);
  context.log(`hook: nothing changed, median ${median(unchangedMs).toFixed(0)} ms`);

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
    appendedMs,
    unchangedMs,
    nodeStartMedianMs: median(nodeStartMs),
    appendedMedianMs: median(appendedMs),
    unchangedMedianMs: median(unchangedMs),
    appendedSynced,
  };
}
