/**
 * What reading a destination back costs (state/adopt-exported-rows.ts), on a history of many sessions:
 *
 *   node --import tsx bench/measure-adoption.ts [--sessions N] [--rtt-ms N] [--seed S]
 *
 * A tree of N one-turn sessions (generateDiscoveryTree) is synced by the engine in this process (state in
 * LMDB, parse inline or on worker threads, the uploader, the reader) to the test server in its own process
 * (bench/bench-server.ts) with an emulated round trip of --rtt-ms on every request. Each run starts from an
 * empty state dir:
 *
 *   backfill, no read-back   a new project, as 0.2 synced it (no reader): the baseline
 *   backfill, read-back      a new project with the reader: one "is the project empty" request per run
 *   state lost, read-back    the same project again: one look-up per session, nothing re-sent
 *   state lost, no read-back the same again as 0.2 did it: everything sent again (under new ids: duplicates)
 *   project not empty        a project holding one session of the history: one look-up per session,
 *                            nearly all finding nothing, then the upload
 *
 * Defaults: 10,000 sessions, no added round trip. The table goes to stdout, everything to
 * bench/results/adoption-<timestamp>.json.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createParsePool } from '../src/main/parse-pool.js';
import { syncSessions, type SyncEngineOptions } from '../src/main/sync-engine.js';
import { discoverSessions } from '../src/pipeline/transcript/discover-sessions.js';
import type { SessionFile } from '../src/pipeline/session-model.js';
import { openStateStore } from '../src/pipeline/state/state-store.js';
import { createOpikReader, type OpikReader } from '../src/pipeline/upload/opik-reader.js';
import { createOpikUploader } from '../src/pipeline/upload/opik-uploader.js';
import { startBenchServer, type BenchServer } from './bench-server.js';
import { generateDiscoveryTree } from './generate-corpus.js';

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10000' },
    'rtt-ms': { type: 'string', default: '0' },
    seed: { type: 'string', default: '1' },
  },
  strict: true,
});
const sessionCount = Number(values.sessions);
const rttMs = Number(values['rtt-ms']);

interface RunResult {
  name: string;
  project: string;
  ms: number;
  /** CPU of this process (engine, parse inline, LMDB) and of the server process during the run. */
  clientCpuMs: number;
  serverCpuMs: number | undefined;
  /** Summed wait for look-ups (they overlap with other sessions' work). */
  readMs: number;
  reads: number;
  batchWrites: number;
  created: number;
  updated: number;
  failed: number;
}

async function syncRun(
  server: BenchServer,
  sessions: SessionFile[],
  name: string,
  project: string,
  readBack: boolean,
): Promise<RunResult> {
  const stateDir = await mkdtemp(join(tmpdir(), 'ocs-adoption-state-'));
  const store = openStateStore(stateDir, {
    destination: { baseUrl: server.baseUrl, workspace: 'default', projectName: project },
  });
  let batchWrites = 0;
  const uploader = createOpikUploader({
    baseUrl: server.baseUrl,
    workspace: 'default',
    onEvent: (event) => {
      if (event.type === 'batch') batchWrites += 1;
    },
  });
  const plainReader = createOpikReader({ baseUrl: server.baseUrl, workspace: 'default', projectName: project });
  // Time spent waiting for look-ups, summed over sessions (they overlap with other sessions' work).
  let readMs = 0;
  const timed = async <T>(read: () => Promise<T>): Promise<T> => {
    const at = performance.now();
    try {
      return await read();
    } finally {
      readMs += performance.now() - at;
    }
  };
  const reader: OpikReader = {
    projectHasTraces: () => timed(() => plainReader.projectHasTraces()),
    listThreadTraces: (threadId) => timed(() => plainReader.listThreadTraces(threadId)),
    listThreadIds: () => timed(() => plainReader.listThreadIds()),
    get requests() {
      return plainReader.requests;
    },
    close: () => plainReader.close(),
  };
  const pool = createParsePool({});
  const engine: SyncEngineOptions = {
    store,
    uploader,
    ...(readBack ? { reader } : {}),
    pool,
    mapping: () => ({
      projectName: project,
      host: hostname(),
      user: 'bench',
      nowMs: Date.now(),
      redact: true,
      extraRedactPatterns: [],
      maxFieldChars: 1_000_000,
    }),
    force: false,
    maxChunkBytes: 8 * 1024 * 1024,
    leaseTtlMs: 60_000,
  };
  const serverCpuBefore = await server.cpuMs();
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  // As runSyncOnce: a session per parser thread and one more.
  const result = await syncSessions(engine, sessions, Math.max(2, pool.maxThreads) + 1, () => undefined);
  const ms = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const serverCpuAfter = await server.cpuMs();
  await pool.close();
  await uploader.close();
  await reader.close();
  await store.close();
  await rm(stateDir, { recursive: true, force: true });
  return {
    name,
    project,
    ms,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
    serverCpuMs:
      serverCpuBefore === undefined || serverCpuAfter === undefined ? undefined : serverCpuAfter - serverCpuBefore,
    readMs,
    reads: reader.requests,
    batchWrites,
    created: result.outcomes.reduce((n, o) => n + o.created, 0),
    updated: result.outcomes.reduce((n, o) => n + o.updated, 0),
    failed: result.outcomes.filter((o) => o.failure !== undefined).length,
  };
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'ocs-adoption-'));
  const server = await startBenchServer();
  try {
    await server.setNetwork(rttMs, undefined);
    await generateDiscoveryTree(root, { sessions: sessionCount, projects: 20, seed: Number(values.seed) });
    const sessions = (await discoverSessions([root])).sessions;
    const runs: RunResult[] = [];
    const step = async (name: string, project: string, readBack: boolean): Promise<void> => {
      const run = await syncRun(server, sessions, name, project, readBack);
      runs.push(run);
      process.stderr.write(`${name}: ${(run.ms / 1000).toFixed(1)} s\n`);
    };
    await step('backfill, no read-back (0.2)', 'adoption-a', false);
    await step('backfill, read-back', 'adoption-b', true);
    await step('state lost, read-back', 'adoption-b', true);
    await step('state lost, no read-back (0.2: duplicates)', 'adoption-b', false);
    // A project that is not empty but holds (nearly) none of this history: one session synced there first.
    await syncRun(server, sessions.slice(0, 1), 'seed', 'adoption-c', false);
    await step('project not empty, read-back', 'adoption-c', true);

    const table = [
      `| run (${sessionCount} sessions, round trip ${rttMs} ms) | wall | per session | client CPU | server CPU | GET | wait per GET | batch POST | new | updated |`,
      '|---|---|---|---|---|---|---|---|---|---|',
      ...runs.map(
        (r) =>
          `| ${r.name} | ${(r.ms / 1000).toFixed(1)} s | ${(r.ms / sessionCount).toFixed(2)} ms | ${(r.clientCpuMs / 1000).toFixed(1)} s | ${r.serverCpuMs === undefined ? '-' : `${(r.serverCpuMs / 1000).toFixed(1)} s`} | ${r.reads} | ${r.reads ? (r.readMs / r.reads).toFixed(2) : '-'} ms | ${r.batchWrites} | ${r.created} | ${r.updated} |`,
      ),
    ].join('\n');
    process.stdout.write(`${table}\n`);
    await mkdir(RESULTS_DIR, { recursive: true });
    const file = join(RESULTS_DIR, `adoption-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    await writeFile(
      file,
      JSON.stringify(
        { sessions: sessionCount, rttMs, machine: { cpus: cpus().length, threads: availableParallelism() }, runs },
        null,
        2,
      ),
    );
    process.stderr.write(`results: ${file}\n`);
  } finally {
    await server.close();
    await rm(root, { recursive: true, force: true });
  }
}

await main();
