import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createParsePool, type ParsePool } from '../src/main/parse-pool.js';
import { syncOneSession, syncSessions, type SyncEngineOptions } from '../src/main/sync-engine.js';
import { discoverSessions } from '../src/pipeline/transcript/discover-sessions.js';
import type { SessionFile } from '../src/pipeline/session-model.js';
import { openStateStore, type StateStore } from '../src/pipeline/state/state-store.js';
import { createOpikReader, type OpikReader } from '../src/pipeline/upload/opik-reader.js';
import { createOpikUploader, type OpikUploader } from '../src/pipeline/upload/opik-uploader.js';
import { startOpikTestServer, type OpikTestServer, type StoredTrace } from './support/opik-test-server.js';
import { copyOwnFixtureRoot, linkRealFixtureRoot, makeTempDir, OWN_SESSION_ID } from './support/fixture-roots.js';
import { testMappingOptions } from './support/parse-helpers.js';
import { appendAgentCall } from './support/grow-transcript.js';
import { generateCorpus, generateDiscoveryTree } from '../bench/generate-corpus.js';

/**
 * The engine against a real LMDB in a temp dir and the Opik test server: destinations, adoption of the
 * ids a destination already holds, change detection by content, subagent growth, and what a fatal
 * failure leaves committed.
 */

let server: OpikTestServer;
let temp: { path: string; remove: () => Promise<void> };
let realRoot: string;
let pool: ParsePool;
let run = 0;
/** The engines' clock: later runs are later exports (another anchor), as in real life. */
let nowMs = Date.parse('2026-11-25T12:00:00.000Z');

beforeAll(async () => {
  server = await startOpikTestServer({ validateWithSdk: false });
  temp = await makeTempDir('ocs-engine-');
  realRoot = join(temp.path, 'real');
  await linkRealFixtureRoot(realRoot);
  pool = createParsePool({ threads: 1 });
});
afterAll(async () => {
  await pool.close();
  await server.close();
  await temp.remove();
});

interface TestEngine {
  engine: SyncEngineOptions;
  store: StateStore;
  reader: OpikReader;
  close(): Promise<void>;
}

const opened: TestEngine[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((engine) => engine.close()));
  server.reset();
});

function openEngine(
  stateDir: string,
  options: { project?: string; target?: OpikTestServer; force?: boolean; reader?: boolean; chunkBytes?: number } = {},
): TestEngine {
  const target = options.target ?? server;
  const projectName = options.project ?? 'engine-tests';
  const store = openStateStore(stateDir, {
    destination: { baseUrl: target.baseUrl, workspace: 'default', projectName },
  });
  const uploader: OpikUploader = createOpikUploader({ baseUrl: target.baseUrl, workspace: 'default', maxAttempts: 2 });
  const reader = createOpikReader({ baseUrl: target.baseUrl, workspace: 'default', projectName, maxAttempts: 2 });
  const engine: SyncEngineOptions = {
    store,
    uploader,
    ...(options.reader === false ? {} : { reader }),
    pool,
    mapping: () => testMappingOptions({ projectName, nowMs }),
    force: options.force ?? false,
    maxChunkBytes: options.chunkBytes ?? 8 * 1024 * 1024,
    leaseTtlMs: 60_000,
    stateDir,
  };
  const handle: TestEngine = {
    engine,
    store,
    reader,
    close: async () => {
      await uploader.close();
      await reader.close();
      await store.close();
    },
  };
  opened.push(handle);
  return handle;
}

async function closeEngine(handle: TestEngine): Promise<void> {
  opened.splice(opened.indexOf(handle), 1);
  await handle.close();
}

function freshStateDir(): string {
  run += 1;
  return join(temp.path, `state-${run}`);
}

async function sessionsOf(root: string): Promise<SessionFile[]> {
  return (await discoverSessions([root])).sessions.sort((a, b) => (a.sessionId < b.sessionId ? -1 : 1));
}

async function syncAll(handle: TestEngine, sessions: SessionFile[], concurrency = 3) {
  const result = await syncSessions(handle.engine, sessions, concurrency, () => undefined);
  for (const outcome of result.outcomes) expect(outcome.failure, outcome.sessionId).toBeUndefined();
  return result;
}

function rowsOf(target: OpikTestServer, project: string): { traces: string[]; spans: string[] } {
  const inProject = (row: { project_name: string }) => row.project_name === project;
  return {
    traces: target
      .traces()
      .filter(inProject)
      .map((row) => row.id)
      .sort(),
    spans: target
      .spans()
      .filter(inProject)
      .map((row) => row.id)
      .sort(),
  };
}

function batchWrites(target: OpikTestServer): number {
  return target.requests.filter((request) => request.method === 'POST' && /\/batch$/.test(request.path)).length;
}

const DAY = 24 * 3_600_000;

describe('sync engine: Opik is the truth, state a cache', () => {
  it('a sync, state deletion and re-sync of every real fixture ends with exactly the ids of one clean sync', async () => {
    const sessions = await sessionsOf(realRoot);
    const stateDir = freshStateDir();
    const first = openEngine(stateDir);
    await syncAll(first, sessions);
    await closeEngine(first);
    const clean = rowsOf(server, 'engine-tests');
    expect(clean.traces.length).toBeGreaterThan(40);
    expect(server.validationErrors).toEqual([]);

    // State gone (or a new machine, or a second state dir), and the next run is a later export.
    await rm(stateDir, { recursive: true, force: true });
    nowMs += 3 * DAY;
    const writesBefore = batchWrites(server);
    const second = openEngine(stateDir);
    const result = await syncAll(second, sessions);
    expect(rowsOf(server, 'engine-tests')).toEqual(clean);
    // Every conversation was found with the fingerprint it has: nothing needed sending again.
    expect(batchWrites(server)).toBe(writesBefore);
    expect(result.outcomes.every((outcome) => outcome.status === 'unchanged')).toBe(true);
    // What was adopted is committed: the next run neither reads Opik nor sends anything.
    const reads = second.reader.requests;
    await syncAll(second, sessions);
    expect(second.reader.requests).toBe(reads);
    expect(batchWrites(server)).toBe(writesBefore);
    await closeEngine(second);

    // Once more without state, everything re-sent (--force): every span id is computed again, the same.
    await rm(stateDir, { recursive: true, force: true });
    nowMs += 3 * DAY;
    const forced = openEngine(stateDir, { force: true });
    await syncAll(forced, sessions);
    expect(rowsOf(server, 'engine-tests')).toEqual(clean);
    for (const id of [...clean.traces, ...clean.spans]) expect(server.writeCount(id), id).toBe(2);
    expect(server.validationErrors).toEqual([]);
  });

  it('sends the whole history to another project, workspace or server than the one state was synced to', async () => {
    const sessions = await sessionsOf(realRoot);
    const stateDir = freshStateDir();
    const toA = openEngine(stateDir, { project: 'project-a' });
    await syncAll(toA, sessions);
    await closeEngine(toA);
    const inA = rowsOf(server, 'project-a');

    const toB = openEngine(stateDir, { project: 'project-b' });
    const result = await syncAll(toB, sessions);
    await closeEngine(toB);
    const inB = rowsOf(server, 'project-b');
    expect(inB.traces).toHaveLength(inA.traces.length);
    expect(inB.spans).toHaveLength(inA.spans.length);
    expect(result.outcomes.reduce((n, outcome) => n + outcome.created, 0)).toBe(inA.traces.length);

    const other = await startOpikTestServer({ validateWithSdk: false });
    try {
      const toOther = openEngine(stateDir, { project: 'project-a', target: other });
      await syncAll(toOther, sessions);
      await closeEngine(toOther);
      expect(rowsOf(other, 'project-a').traces).toHaveLength(inA.traces.length);
      expect(rowsOf(other, 'project-a').spans).toHaveLength(inA.spans.length);
    } finally {
      await other.close();
    }
    // Project A's state was kept apart: back there, nothing is new.
    const backToA = openEngine(stateDir, { project: 'project-a' });
    const writes = batchWrites(server);
    const again = await syncAll(backToA, sessions);
    expect(again.outcomes.every((outcome) => outcome.status === 'unchanged')).toBe(true);
    expect(batchWrites(server)).toBe(writes);
    expect(backToA.store.listDestinations().map((d) => d.projectName)).toEqual(['project-a', 'project-b', 'project-a']);
  });

  it('reads the destination once per run when it holds no trace: a backfill into a new project makes one look-up', async () => {
    const sessions = await sessionsOf(realRoot);
    const handle = openEngine(freshStateDir(), { project: 'fresh-project' });
    await syncAll(handle, sessions);
    expect(handle.reader.requests).toBe(1);
    const reads = server.requests.filter((request) => request.method === 'GET');
    expect(reads).toHaveLength(1);
  });
});

describe('sync engine: many sessions without state', () => {
  it('lists the project threads once and looks up only the sessions that have one there', async () => {
    const root = join(temp.path, `tree-${(run += 1)}`);
    await generateDiscoveryTree(root, { sessions: 80, projects: 3, seed: 5 });
    const sessions = await sessionsOf(root);
    const first = openEngine(freshStateDir(), { project: 'many' });
    await syncAll(first, sessions.slice(0, 10));
    await closeEngine(first);

    const gets = () => server.requests.filter((request) => request.method === 'GET').map((request) => request.path);
    const before = gets().length;
    const second = openEngine(freshStateDir(), { project: 'many' });
    const result = await syncAll(second, sessions);
    const reads = gets().slice(before);
    // One probe, one page of threads, and a look-up for each of the 10 sessions there.
    expect(reads.filter((path) => path.endsWith('/traces/threads'))).toHaveLength(1);
    expect(reads.filter((path) => path.endsWith('/traces'))).toHaveLength(11);
    expect(result.outcomes.reduce((n, outcome) => n + outcome.created, 0)).toBe(70);
    expect(server.traces().filter((trace) => trace.project_name === 'many')).toHaveLength(80);
  });
});

describe('sync engine: change detection by content', () => {
  async function ownSession(root: string): Promise<SessionFile> {
    const session = (await sessionsOf(root)).find((s) => s.sessionId === OWN_SESSION_ID);
    if (!session) throw new Error('own fixture session not found');
    return session;
  }

  function promptTrace(target: OpikTestServer, prompt: string): StoredTrace | undefined {
    return target.traces().find((trace) => JSON.stringify(trace.input ?? {}).includes(prompt));
  }

  it('re-sends a conversation whose line was edited to the same length, by sed -i (new file) or in place', async () => {
    const root = join(temp.path, `own-${(run += 1)}`);
    await copyOwnFixtureRoot(root);
    const handle = openEngine(freshStateDir());
    const session = await ownSession(root);
    await syncOneSession(handle.engine, session);
    const original = promptTrace(server, 'Add a health check endpoint')!;
    expect(original).toBeDefined();

    // sed -i writes a new file and renames it over the old one: same length, new inode.
    const text = await readFile(session.path, 'utf8');
    await writeFile(`${session.path}.sed`, text.replace('Add a health check endpoint', 'Add a wealth check endpoint'));
    await rename(`${session.path}.sed`, session.path);
    const edited = await syncOneSession(handle.engine, await ownSession(root));
    expect(edited.status).toBe('synced');
    expect(edited.updated).toBe(1);
    expect(edited.created).toBe(0);
    expect(server.trace(original.id)?.input).toEqual({ text: 'Add a wealth check endpoint' });

    // In place (same inode, same size): an editor that writes the file over.
    await writeFile(session.path, (await readFile(session.path, 'utf8')).replace('wealth check', 'stealth chk'));
    const inPlace = await syncOneSession(handle.engine, await ownSession(root));
    expect(inPlace.updated).toBe(1);
    expect(server.trace(original.id)?.input).toEqual({ text: 'Add a stealth chk endpoint' });
    // And one the same length again, in place.
    await writeFile(session.path, (await readFile(session.path, 'utf8')).replace('stealth chk', 'stealth CHK'));
    const sameLength = await syncOneSession(handle.engine, await ownSession(root));
    expect(sameLength.updated).toBe(1);
    expect(server.trace(original.id)?.input).toEqual({ text: 'Add a stealth CHK endpoint' });
    expect(server.traces()).toHaveLength(3);
  });
});

describe('sync engine: subagent growth updates its trace', () => {
  it('maps the spawning conversation again when a subagent of a closed conversation grows: end time, span count, tool span', async () => {
    const root = join(temp.path, `own-${(run += 1)}`);
    await copyOwnFixtureRoot(root);
    const handle = openEngine(freshStateDir());
    const sessions = await sessionsOf(root);
    const session = sessions.find((s) => s.sessionId === OWN_SESSION_ID)!;
    await syncOneSession(handle.engine, session);
    const owner = server.traces().find((t) => (t.metadata as Record<string, unknown>).conversation_key === 'u4')!;
    const spansBefore = (owner.metadata as Record<string, unknown>).span_count as number;
    const agent = session.agents.find((a) => a.agentId === 'a1b2c3d')!;

    // After everything the turn holds (its compaction ends at 10:10:01), before the next prompt.
    await appendAgentCall(agent.path, '2026-11-20T10:10:30.000Z', 'x');
    const outcome = await syncOneSession(
      handle.engine,
      (await sessionsOf(root)).find((s) => s.sessionId === OWN_SESSION_ID)!,
    );
    expect(outcome.failure).toBeUndefined();
    expect(outcome.updated).toBe(1);
    const after = server.trace(owner.id)!;
    expect(after.end_time).toBe('2026-11-20T10:10:30.000Z');
    expect((after.metadata as Record<string, unknown>).span_count).toBe(spansBefore + 1);
    const ownerSpans = server.spans().filter((span) => span.trace_id === owner.id);
    expect(ownerSpans).toHaveLength(spansBefore + 1);
    expect(server.traces()).toHaveLength(3);
    // The dry run runs the same loop: after a sync it has nothing left to show.
    const preview = await syncOneSession(
      { ...handle.engine, uploader: undefined },
      (await sessionsOf(root)).find((s) => s.sessionId === OWN_SESSION_ID)!,
    );
    expect(preview.preview).toEqual([]);
  });

  it('updates the wrapper span of a grown subagent no tool call spawned (a Warmup of a closed turn)', async () => {
    const root = join(temp.path, `own-${(run += 1)}`);
    await copyOwnFixtureRoot(root);
    const handle = openEngine(freshStateDir());
    const find = async () => (await sessionsOf(root)).find((s) => s.sessionId === OWN_SESSION_ID)!;
    const session = await find();
    await syncOneSession(handle.engine, session);
    const wrapper = server.spans().find((span) => span.name === 'warmup')!;
    expect(wrapper).toBeDefined();
    const owner = server.trace(wrapper.trace_id!)!;
    const spansBefore = (owner.metadata as Record<string, unknown>).span_count as number;
    const agent = session.agents.find((a) => a.agentId === 'wwarm01')!;

    await appendAgentCall(agent.path, '2026-11-20T09:59:59.000Z', 'w');
    const outcome = await syncOneSession(handle.engine, await find());
    expect(outcome.updated).toBe(1);
    expect(server.span(wrapper.id)?.end_time).toBe('2026-11-20T09:59:59.000Z');
    expect((server.trace(owner.id)!.metadata as Record<string, unknown>).span_count).toBe(spansBefore + 1);
    expect(server.spans().filter((span) => span.trace_id === owner.id)).toHaveLength(spansBefore + 1);
    expect(server.traces()).toHaveLength(3);
  });
});

describe('sync engine: a fatal failure', () => {
  it('402 commits exactly the sessions whose every row was acknowledged before it, and nothing after', async () => {
    const sessions = await sessionsOf(realRoot);
    const handle = openEngine(freshStateDir(), { project: 'quota' });
    // Four batch requests pass, the fifth is refused (402): one session after another (concurrency 1).
    server.injectFaults({ kind: 'delay', delayMs: 0, times: 4 }, { kind: 'status', status: 402, times: 1 });
    const result = await syncSessions(handle.engine, sessions, 1, () => undefined);
    expect(result.fatal?.code).toBe('OCS_ERR_QUOTA');
    const failedAt = result.outcomes.findIndex((outcome) => outcome.failure !== undefined);
    expect(failedAt).toBeGreaterThan(0);
    expect(result.outcomes).toHaveLength(failedAt + 1);
    const started = new Set(result.outcomes.map((outcome) => outcome.sessionId));
    const tracesOf = (sessionId: string) =>
      server.traces().filter((trace) => trace.project_name === 'quota' && trace.thread_id === sessionId).length;
    for (const [index, session] of sessions.entries()) {
      const state = handle.store.getSession(session.sessionId);
      if (index < failedAt) {
        // Done before the 402: committed, with exactly what Opik holds of it.
        expect(state, session.sessionId).toBeDefined();
        expect(state!.exportedTraces).toBe(tracesOf(session.sessionId));
      } else {
        // The one refused and every one not started: nothing committed.
        expect(state, session.sessionId).toBeUndefined();
        if (!started.has(session.sessionId)) expect(tracesOf(session.sessionId)).toBe(0);
      }
    }
    expect(
      handle.store
        .listSessions()
        .map((s) => s.sessionId)
        .sort(),
    ).toEqual(
      sessions
        .slice(0, failedAt)
        .map((s) => s.sessionId)
        .sort(),
    );
  });
});

describe('sync engine: records Opik refuses', () => {
  it('warns at the line the refused turn starts on, sends and commits the rest of the session', async () => {
    const prompt = 'Add a health check endpoint';
    const strict = await startOpikTestServer({
      validateWithSdk: false,
      // A rule of a newer backend that the client cannot know: one turn's trace is refused.
      extraItemRule: (kind, item) =>
        kind === 'trace' && JSON.stringify(item.input ?? {}).includes(prompt) ? 'input is not allowed' : undefined,
    });
    try {
      const root = join(temp.path, `own-${(run += 1)}`);
      await copyOwnFixtureRoot(root);
      const session = (await sessionsOf(root)).find((s) => s.sessionId === OWN_SESSION_ID)!;
      const lines = (await readFile(session.path, 'utf8')).split('\n');
      const promptLine = lines.findIndex((line) => line.includes(prompt) && /"type": ?"user"/.test(line)) + 1;
      expect(promptLine).toBeGreaterThan(0);

      const handle = openEngine(freshStateDir(), { target: strict });
      const outcome = await syncOneSession(handle.engine, session);
      expect(outcome.status).toBe('synced');
      // (The fixture's deliberately broken line 10 gives its own warning.)
      expect(outcome.warnings.filter((warning) => warning.line !== 10)).toEqual([
        {
          file: session.path,
          line: promptLine,
          message: expect.stringMatching(
            /^Opik refused trace of the turn starting here, the rest was sent: Opik rejected the request \(422\): traces\[0\]: input is not allowed$/,
          ) as unknown,
        },
      ]);
      // Its spans and every other turn arrived; the session is committed, so a re-run sends nothing.
      const traces = strict.traces();
      expect(traces.length).toBeGreaterThan(1);
      expect(traces.some((trace) => JSON.stringify(trace.input ?? {}).includes(prompt))).toBe(false);
      expect(handle.store.getSession(session.sessionId)).toBeDefined();
      const again = await syncOneSession(handle.engine, session);
      expect([again.status, again.warnings]).toEqual(['unchanged', []]);
    } finally {
      await strict.close();
    }
  });
});

describe('sync engine: chunks of one session in flight together', () => {
  const CHUNK = 128 * 1024;
  let big: SessionFile | undefined;

  /** A generated 2 MB session of many turns (the real fixtures' large sessions have a few long ones). */
  async function bigSession(): Promise<SessionFile> {
    if (big) return big;
    const root = join(temp.path, 'one-big-session');
    await generateCorpus({
      root,
      seed: 11,
      totalBytes: 2_400_000,
      projects: 1,
      largestSessionBytes: 2_000_000,
      maxLineBytes: 64 * 1024,
    });
    const sessions = await sessionsOf(root);
    big = sessions.reduce((a, b) => (b.size > a.size ? b : a));
    return big;
  }

  /** The most batch requests the server was handling at one time. */
  function peakOverlap(target: OpikTestServer): number {
    const batches = target.requests.filter((request) => request.path.endsWith('/batch'));
    let peak = 0;
    for (const request of batches) {
      const open = batches.filter((other) => other.at <= request.at && other.doneAt > request.at).length;
      peak = Math.max(peak, open);
    }
    return peak;
  }

  const rowIds = (target: OpikTestServer, project: string): string[] =>
    [
      ...target.traces().filter((t) => t.project_name === project),
      ...target.spans().filter((s) => s.project_name === project),
    ]
      .map((row) => row.id)
      .sort();

  it('sends the next chunk while the one before it is acknowledged; the rows are those of a one-chunk sync', async () => {
    const linked = await startOpikTestServer({ validateWithSdk: false, network: { rttMs: 30 } });
    try {
      const session = await bigSession();
      const whole = openEngine(freshStateDir(), { target: linked, project: 'whole' });
      expect((await syncOneSession(whole.engine, session)).status).toBe('synced');
      expect(peakOverlap(linked)).toBe(1); // one chunk: spans, then traces
      linked.reset();

      const chunked = openEngine(freshStateDir(), { target: linked, project: 'chunked', chunkBytes: CHUNK });
      const outcome = await syncOneSession(chunked.engine, session);
      expect(outcome.status).toBe('synced');
      const batches = linked.requests.filter((request) => request.path.endsWith('/batch')).length;
      expect(batches).toBeGreaterThan(10);
      expect(peakOverlap(linked)).toBeGreaterThanOrEqual(2);
      expect(rowIds(linked, 'chunked')).toHaveLength(outcome.created + outcome.spans);
      const again = openEngine(freshStateDir(), { target: server, project: 'whole-again' });
      await syncOneSession(again.engine, session);
      expect(rowIds(linked, 'chunked')).toEqual(rowIds(server, 'whole-again'));
    } finally {
      await linked.close();
    }
  });

  it('commits in chunk order: after a failed chunk the state holds a prefix, and a re-run completes it', async () => {
    const session = await bigSession();
    // Another server: the same mapping clock gives the same ids, which the test server would move across projects.
    const cleanServer = await startOpikTestServer({ validateWithSdk: false });
    const clean = openEngine(freshStateDir(), { target: cleanServer, project: 'prefix', chunkBytes: CHUNK });
    await syncOneSession(clean.engine, session);
    const cleanIds = rowIds(cleanServer, 'prefix');
    await cleanServer.close();
    const keys = Object.keys(clean.store.getIdentities(session.sessionId));
    const offsets = clean.store.getConversations(session.sessionId, keys);
    expect(keys.length).toBeGreaterThan(10);

    // The seventh batch request is refused for quota (402: fatal, not retried); earlier ones pass.
    server.injectFaults({ kind: 'delay', delayMs: 0, times: 6 }, { kind: 'status', status: 402 });
    const handle = openEngine(freshStateDir(), { project: 'prefix', chunkBytes: CHUNK });
    const failed = await syncOneSession(handle.engine, session);
    expect(failed).toMatchObject({ status: 'failed', fatal: true, failure: { code: 'OCS_ERR_QUOTA' } });
    const committed = handle.store.getConversations(session.sessionId, keys);
    const isCommitted = (key: string): boolean => committed[key] !== undefined;
    const done = keys.filter(isCommitted).map((key) => offsets[key]!.startOffset);
    const open = keys.filter((key) => !isCommitted(key)).map((key) => offsets[key]!.startOffset);
    expect(done.length).toBeGreaterThan(0);
    expect(open.length).toBeGreaterThan(0);
    expect(Math.max(...done)).toBeLessThan(Math.min(...open));
    expect(handle.store.getSession(session.sessionId)?.conversationCount ?? 0).toBe(done.length);

    const rerun = await syncOneSession(handle.engine, session);
    expect(rerun.status).toBe('synced');
    expect(rowIds(server, 'prefix')).toEqual(cleanIds);
  });
});
