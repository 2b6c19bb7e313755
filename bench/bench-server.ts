/**
 * The Opik test server in its own process (test/support/opik-test-server-process.ts), so the CLI under
 * test and the server never share an event loop or a core's worth of GC with the runner. Started
 * without SDK validation: that is a test aid and would dominate every throughput figure.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { trackChild } from './bench-cleanup.js';

const SERVER_SCRIPT = fileURLToPath(new URL('../test/support/opik-test-server-process.ts', import.meta.url));

export interface TraceRow {
  id: string;
  name?: string;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface BenchServer {
  /** What the CLI gets as OPIK_URL_OVERRIDE. */
  baseUrl: string;
  pid: number;
  /** Forget every row and request, and re-apply the configured latency. */
  reset(): Promise<void>;
  /** Traces stored for a project (the read-back API's `total`, not the rows). */
  countTraces(projectName: string): Promise<number>;
  /** The newest traces of a project (ids are UUIDv7, so newest first). */
  newestTraces(projectName: string, size: number): Promise<TraceRow[]>;
  /**
   * The traces of one thread (a session). A turn appended to an old session gets an id of the session's
   * time, not of now, so it is not among the newest: look it up by its thread.
   */
  threadTraces(projectName: string, threadId: string): Promise<TraceRow[]>;
  /** CPU time (user + system) the server process has used so far, from /proc; undefined off Linux. */
  cpuMs(): Promise<number | undefined>;
  /** The emulated network (round trip, uplink cap in bytes/s; 0 / undefined = none); kept across reset(). */
  setNetwork(rttMs: number, uplinkBytesPerSec: number | undefined): Promise<void>;
  close(): Promise<void>;
}

export interface BenchServerOptions {
  /** Added to every batch write, to imitate a network round trip (0 = none). */
  latencyMs?: number;
  /** Old-space limit: the server keeps every row of a 1 GB corpus in memory. */
  maxOldSpaceMb?: number;
}

/** utime + stime of a process in ms (/proc/<pid>/stat fields 14 and 15, in clock ticks of 10 ms). */
async function readCpuMs(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces: count fields after its closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

async function expectOk(response: Response, what: string): Promise<void> {
  const body = await response.arrayBuffer();
  if (!response.ok)
    throw new Error(`${what}: HTTP ${response.status} ${Buffer.from(body).toString('utf8').slice(0, 200)}`);
}

export async function startBenchServer(options: BenchServerOptions = {}): Promise<BenchServer> {
  const child = trackChild(
    spawn(
      process.execPath,
      [
        `--max-old-space-size=${options.maxOldSpaceMb ?? 8192}`,
        '--import',
        'tsx',
        SERVER_SCRIPT,
        '--no-sdk-validation',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    ),
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ready = await new Promise<{ baseUrl: string; pid: number }>((resolve, reject) => {
    let buffered = '';
    const onData = (chunk: string): void => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      child.stdout!.off('data', onData);
      try {
        resolve(JSON.parse(buffered.slice(0, newline)) as { baseUrl: string; pid: number });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.once('exit', (code) =>
      reject(new Error(`test server exited with ${code} before listening: ${stderr.slice(0, 500)}`)),
    );
  });
  const origin = ready.baseUrl.replace(/\/api$/, '');
  const latencyMs = options.latencyMs ?? 0;

  const applyLatency = async (): Promise<void> => {
    if (latencyMs <= 0) return;
    const response = await fetch(`${origin}/__test/faults`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ kind: 'delay', delayMs: latencyMs, times: 1e12 }]),
    });
    await expectOk(response, 'set server latency');
  };
  await applyLatency();

  const listTraces = async (
    projectName: string,
    size: number,
    threadId?: string,
  ): Promise<{ total: number; content: TraceRow[] }> => {
    let url = `${ready.baseUrl}/v1/private/traces?project_name=${encodeURIComponent(projectName)}&size=${size}`;
    if (threadId !== undefined)
      url += `&filters=${encodeURIComponent(JSON.stringify([{ field: 'thread_id', operator: '=', value: threadId }]))}`;
    const response = await fetch(url);
    if (!response.ok) throw new Error(`list traces: HTTP ${response.status}`);
    return (await response.json()) as { total: number; content: TraceRow[] };
  };

  return {
    baseUrl: ready.baseUrl,
    pid: ready.pid,
    async reset() {
      await expectOk(await fetch(`${origin}/__test/reset`, { method: 'POST' }), 'reset test server');
      await applyLatency();
    },
    async countTraces(projectName) {
      return (await listTraces(projectName, 1)).total;
    },
    async newestTraces(projectName, size) {
      return (await listTraces(projectName, size)).content;
    },
    async threadTraces(projectName, threadId) {
      return (await listTraces(projectName, 1000, threadId)).content;
    },
    cpuMs() {
      return readCpuMs(ready.pid);
    },
    async setNetwork(rttMs, uplinkBytesPerSec) {
      const response = await fetch(`${origin}/__test/network`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ rttMs, uplinkBytesPerSec }),
      });
      await expectOk(response, 'set the emulated network');
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
