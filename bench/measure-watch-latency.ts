/**
 * Watch latency (row 5 of docs/benchmark-method.md): `sync --watch --debounce 2000` on a small corpus; once it prints "Watcher is ready",
 * append a new human prompt to a session and time until the test server has the trace of that new
 * conversation (found by its conversation key among the newest traces, polled every 20 ms).
 */
import { spawn } from 'node:child_process';
import { CLI } from '../test/support/run-cli.js';
import { appendPromptLine, openTranscriptCursor } from './append-transcript-line.js';
import { trackChild } from './bench-cleanup.js';
import type { BenchContext } from './bench-context.js';
import { median } from './bench-stats.js';

const PROJECT = 'bench-watch';
const POLL_MS = 20;
const TIMEOUT_MS = 30_000;

export interface WatchResult {
  debounceMs: number;
  corpusBytes: number;
  latenciesMs: number[];
  medianMs: number;
  /** median − debounce: what the watcher adds on top of the wait it is asked to do. */
  overDebounceMs: number;
  catchUpMs: number;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function measureWatchLatency(context: BenchContext, debounceMs = 2000): Promise<WatchResult> {
  const rounds = Math.max(3, context.args.repeats);
  const corpus = await context.generate('corpus-watch', { totalBytes: 4e6, projects: 2 });
  const server = await context.server();
  await server.reset();
  const stateDir = await context.freshDir('state-watch');
  const env = await context.env(corpus.root, stateDir, PROJECT);

  const started = performance.now();
  const child = trackChild(
    spawn(process.execPath, [CLI, 'sync', '--watch', '--debounce', String(debounceMs)], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    // Catch-up (the first full sync of the corpus) comes before the watcher is ready.
    const deadline = performance.now() + 4 * TIMEOUT_MS;
    while (!stdout.includes('Watcher is ready')) {
      if (child.exitCode !== null || performance.now() > deadline) {
        throw new Error(`watch: no "Watcher is ready" (stderr: ${stderr.trim().split('\n').slice(-3).join(' | ')})`);
      }
      await delay(POLL_MS);
    }
    const catchUpMs = performance.now() - started;
    context.log(`watch: ready after ${catchUpMs.toFixed(0)} ms`);

    const session = corpus.files.find((file) => !file.includes('/subagents/'))!;
    const cursor = await openTranscriptCursor(session);
    const latenciesMs: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const uuid = await appendPromptLine(cursor, `Benchmark watch prompt ${i + 1}: please summarise the change.`);
      const appendedAt = performance.now();
      let seenAt: number | undefined;
      while (performance.now() - appendedAt < TIMEOUT_MS) {
        const traces = await server.threadTraces(PROJECT, cursor.sessionId);
        if (traces.some((trace) => trace.metadata?.conversation_key === uuid)) {
          seenAt = performance.now();
          break;
        }
        if (child.exitCode !== null)
          throw new Error(`watch: the watcher exited (${child.exitCode}) ${stderr.slice(-300)}`);
        await delay(POLL_MS);
      }
      if (seenAt === undefined) {
        const traces = await server.threadTraces(PROJECT, cursor.sessionId);
        throw new Error(
          `watch: appended prompt not on the server after ${TIMEOUT_MS} ms (${traces.length} traces in its thread; ` +
            `watcher said: ${stdout.trim().split('\n').slice(-3).join(' | ')} ${stderr.trim().split('\n').slice(-3).join(' | ')})`,
        );
      }
      latenciesMs.push(seenAt - appendedAt);
      context.log(`watch: round ${i + 1}/${rounds}: ${(seenAt - appendedAt).toFixed(0)} ms`);
      // Let the post-sync size re-check settle before the next append.
      await delay(500);
    }
    const medianMs = median(latenciesMs);
    return {
      debounceMs,
      corpusBytes: corpus.summary.bytes,
      latenciesMs,
      medianMs,
      overDebounceMs: medianMs - debounceMs,
      catchUpMs,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await server.reset();
  }
}
