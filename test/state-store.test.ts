import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { createStableUuidV7, readUuidV7Time } from '../src/pipeline/map/stable-uuid-v7.js';
import {
  defaultStateDir,
  openStateStore,
  removeLegacyLockFiles,
  resolveLmdbDir,
} from '../src/pipeline/state/state-store.js';
import type {
  ConversationState,
  SessionState,
  StateStore,
  StateStoreOptions,
} from '../src/pipeline/state/state-store.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..');
const workerScript = join(here, 'support', 'state-lease-worker.ts');

const tempDirs: string[] = [];
const openStores: StateStore[] = [];

afterEach(async () => {
  await Promise.all(openStores.splice(0).map((store) => store.close()));
  await Promise.all(tempDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function makeTempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'state-store-'));
  tempDirs.push(dir);
  return dir;
}

function openStore(dir: string, options?: StateStoreOptions): StateStore {
  const store = openStateStore(dir, options);
  openStores.push(store);
  return store;
}

/** A clock the test moves by hand. */
function makeClock(start = 1_700_000_000_000): { now: () => number; advance: (ms: number) => void } {
  let current = start;
  return { now: () => current, advance: (ms) => (current += ms) };
}

function makeState(sessionId: string, overrides: Partial<SessionState> = {}): SessionState {
  return {
    sessionId,
    path: `/home/u/.claude/projects/-home-u-app/${sessionId}.jsonl`,
    projectDir: '-home-u-app',
    cwd: '/home/u/app',
    dev: 2049,
    ino: 123456,
    size: 4096,
    mtimeMs: 1_700_000_000_123.5,
    finalOffset: 4000,
    finalLine: 12,
    resumeOffset: 2500,
    resumeLine: 8,
    conversationCount: 1,
    tailIdentities: {
      'prompt-uuid-1': {
        traceId: createStableUuidV7(1_700_000_000_000, `${sessionId}:prompt-uuid-1`),
        epochMs: 1_700_000_000_000,
      },
    },
    agents: { a1b2: { size: 900, mtimeMs: 1_700_000_000_500 } },
    agentLinks: {
      a1b2: { traceId: 'trace', parentSpanId: 'span', epochMs: 1_700_000_000_000, conversationKey: 'prompt-uuid-1' },
    },
    meta: { title: 'Fix the build', messageCount: 12, gitBranch: 'main', lastTimestamp: '2025-01-01T00:00:00.000Z' },
    exportedTraces: 1,
    exportedSpans: 5,
    firstSyncAt: 1_700_000_001_000,
    lastSyncAt: 1_700_000_001_000,
    ...overrides,
  };
}

function makeConversation(sessionId: string, key: string, startOffset: number): ConversationState {
  return {
    traceId: createStableUuidV7(1_700_000_000_000, `${sessionId}:${key}`),
    epochMs: 1_700_000_000_000,
    fingerprint: `fp-${key}`,
    startOffset,
    spanCount: 3,
    syncedAt: 1_700_000_001_000,
  };
}

function makeIdentity(sessionId: string, key: string, epochMs = 1_700_000_000_000) {
  return { traceId: createStableUuidV7(epochMs, `${sessionId}:${key}`), epochMs };
}

describe('state store: sessions and ids', () => {
  it('round-trips a committed session and its identities, across a reopen', async () => {
    const dir = await makeTempDir();
    const store = openStore(dir);
    const claim = store.claimLease('s1');
    if (!claim.claimed) throw new Error('expected to claim a free lease');
    const state = makeState('s1');
    const identities = {
      'prompt-uuid-1': makeIdentity('s1', 'prompt-uuid-1'),
      'prompt-uuid-2': makeIdentity('s1', 'prompt-uuid-2'),
    };

    expect(store.commitSession(claim.token, state, identities)).toBe(true);
    expect(store.getSession('s1')).toEqual(state);
    expect(store.listSessions()).toEqual([state]);
    expect(store.getIdentities('s1')).toEqual(identities);
    expect(store.releaseLease('s1', claim.token)).toEqual({ rerun: false });
    await store.close();
    await store.close(); // idempotent

    expect(existsSync(join(resolveLmdbDir(dir), 'data.mdb'))).toBe(true);
    const reopened = openStore(dir);
    expect(reopened.getSession('s1')).toEqual(state);
    expect(reopened.getIdentities('s1')).toEqual(identities);
    expect(reopened.getSession('nope')).toBeUndefined();
    expect(reopened.getLease('s1')).toBeUndefined();
  });

  it('keeps identities of different sessions apart, even when one id prefixes another', async () => {
    const store = openStore(await makeTempDir());
    for (const sessionId of ['ab', 'a', 'abc']) {
      const claim = store.claimLease(sessionId);
      if (!claim.claimed) throw new Error('expected claim');
      expect(store.commitSession(claim.token, makeState(sessionId), { k: makeIdentity(sessionId, 'k') })).toBe(true);
    }
    expect(store.getIdentities('a')).toEqual({ k: makeIdentity('a', 'k') });
    expect(store.getIdentities('ab')).toEqual({ k: makeIdentity('ab', 'k') });
    expect(store.getIdentities('missing')).toEqual({});
    expect(store.listSessions().map((s) => s.sessionId)).toEqual(['a', 'ab', 'abc']);
  });

  it('reads back identities of real (UUID) session ids with UUID and agent conversation keys', async () => {
    // Regression: "sid\0key" string keys came back as arrays through ordered-binary and were lost.
    const store = openStore(await makeTempDir());
    const sessionIds = ['03eb5929-52b3-4b13-ada3-b93ae35806b8', '03eb5929-52b3-4b13-ada3-b93ae35806b9', 'tool_heavy'];
    const keys = ['12f81cce-ffa9-40d4-929e-0c2c6ad7c6c9', 'agent:a1b2c3d', 'line-12'];
    for (const sessionId of sessionIds) {
      const claim = store.claimLease(sessionId);
      if (!claim.claimed) throw new Error('expected claim');
      const identities = Object.fromEntries(keys.map((k) => [k, makeIdentity(sessionId, k)]));
      expect(store.commitSession(claim.token, makeState(sessionId), identities)).toBe(true);
    }
    for (const sessionId of sessionIds) {
      expect(store.getIdentities(sessionId)).toEqual(
        Object.fromEntries(keys.map((k) => [k, makeIdentity(sessionId, k)])),
      );
    }
  });

  it('reset clears sync history (sessions and conversation states) but keeps the ids table', async () => {
    const store = openStore(await makeTempDir());
    for (const sessionId of ['s1', 's2']) {
      const claim = store.claimLease(sessionId);
      if (!claim.claimed) throw new Error('expected claim');
      store.commitSession(
        claim.token,
        makeState(sessionId),
        { p1: makeIdentity(sessionId, 'p1') },
        { p1: makeConversation(sessionId, 'p1', 0) },
      );
      store.releaseLease(sessionId, claim.token);
    }
    expect(store.getConversations('s1', ['p1', 'p2'])).toEqual({ p1: makeConversation('s1', 'p1', 0) });

    expect(store.reset('s1')).toBe(1);
    expect(store.reset('s1')).toBe(0);
    expect(store.getSession('s1')).toBeUndefined();
    expect(store.getConversations('s1', ['p1'])).toEqual({});
    expect(store.getSession('s2')).toBeDefined();
    expect(store.getConversations('s2', ['p1'])).toEqual({ p1: makeConversation('s2', 'p1', 0) });
    expect(store.reset()).toBe(1);
    expect(store.listSessions()).toEqual([]);
    expect(store.getConversations('s2', ['p1'])).toEqual({});
    expect(store.getIdentities('s1')).toEqual({ p1: makeIdentity('s1', 'p1') });
    expect(store.getIdentities('s2')).toEqual({ p1: makeIdentity('s2', 'p1') });
  });

  it('keeps conversation states out of the session record and reads only the keys asked for', async () => {
    const store = openStore(await makeTempDir());
    const claim = store.claimLease('s1');
    if (!claim.claimed) throw new Error('expected claim');
    const exported = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [`k${i}`, makeConversation('s1', `k${i}`, i * 100)]),
    );
    const identities = Object.fromEntries(
      Object.entries(exported).map(([k, c]) => [k, { traceId: c.traceId, epochMs: c.epochMs }]),
    );
    expect(store.commitSession(claim.token, makeState('s1', { conversationCount: 50 }), identities, exported)).toBe(
      true,
    );
    expect(Object.keys(store.getSession('s1')!)).not.toContain('conversations');
    expect(store.getConversations('s1', ['k3', 'k49', 'missing'])).toEqual({ k3: exported.k3, k49: exported.k49 });
    expect(store.findIdentities('s1', ['k7', 'missing'])).toEqual({ k7: identities.k7 });
    expect(store.findIdentities('s2', ['k7'])).toEqual({});
  });

  it('migrates a version 1 state dir (conversation states inside the session record) when opened', async () => {
    const dir = await makeTempDir();
    const { open } = await import('lmdb');
    const legacy = open({ path: resolveLmdbDir(dir), maxDbs: 8 });
    const { conversationCount: _count, tailIdentities: _tail, ...v1Base } = makeState('s1', { resumeOffset: 200 });
    const v1 = {
      ...v1Base,
      conversations: {
        early: makeConversation('s1', 'early', 0),
        open: makeConversation('s1', 'open', 200),
        'agent:acompact1': makeConversation('s1', 'agent:acompact1', 0),
      },
    };
    await legacy.openDB({ name: 'sessions' }).put('s1', v1);
    await legacy.openDB({ name: 'meta' }).put('schemaVersion', 1);
    await legacy.close();

    const store = openStore(dir);
    const migrated = store.getSession('s1')!;
    expect(migrated).not.toHaveProperty('conversations');
    expect(migrated.conversationCount).toBe(3);
    expect(Object.keys(migrated.tailIdentities).sort()).toEqual(['agent:acompact1', 'open']);
    expect(migrated.tailIdentities.open).toEqual({
      traceId: v1.conversations.open.traceId,
      epochMs: 1_700_000_000_000,
    });
    expect(store.getConversations('s1', ['early', 'open'])).toEqual({
      early: v1.conversations.early,
      open: v1.conversations.open,
    });
    expect({ ...migrated, conversationCount: 0, tailIdentities: {} }).toEqual({
      ...v1Base,
      conversationCount: 0,
      tailIdentities: {},
    });
    await store.close();
    // Opening again finds version 2 and leaves it alone.
    const again = openStore(dir);
    expect(again.getSession('s1')).toEqual(migrated);
  });

  it('refuses a state dir written by a newer version instead of reading it wrongly', async () => {
    const dir = await makeTempDir();
    const { open } = await import('lmdb');
    const future = open({ path: resolveLmdbDir(dir), maxDbs: 8 });
    await future.openDB({ name: 'meta' }).put('schemaVersion', 99);
    await future.close();
    expect(() => openStateStore(dir)).toThrow(/newer opik-chat-sync \(state schema 99, this version reads 3\)/);
  });
});

describe('state store: leases', () => {
  it('refuses a commit, renew and release once the lease was lost', async () => {
    const dir = await makeTempDir();
    const clock = makeClock();
    const first = openStore(dir, { leaseTtlMs: 1000, now: clock.now, pid: 101, host: 'h', isProcessAlive: () => true });
    const second = openStore(dir, {
      leaseTtlMs: 1000,
      now: clock.now,
      pid: 202,
      host: 'h',
      isProcessAlive: () => true,
    });
    const lost = first.claimLease('s1');
    if (!lost.claimed) throw new Error('expected claim');
    clock.advance(1001);
    const taken = second.claimLease('s1');
    expect(taken.claimed).toBe(true);

    expect(first.commitSession(lost.token, makeState('s1'), { p: makeIdentity('s1', 'p') })).toBe(false);
    expect(first.getSession('s1')).toBeUndefined();
    expect(first.getIdentities('s1')).toEqual({});
    expect(first.renewLease('s1', lost.token)).toBe(false);
    expect(first.releaseLease('s1', lost.token)).toEqual({ rerun: false, lost: true });
    // The thief's lease survived the loser's release attempt.
    expect(second.getLease('s1')?.pid).toBe(202);
  });

  it('a second process is refused and marks the lease dirty; the holder re-runs exactly once', async () => {
    const dir = await makeTempDir();
    const alive = () => true;
    const holder = openStore(dir, { pid: 101, host: 'h', isProcessAlive: alive });
    const other = openStore(dir, { pid: 202, host: 'h', isProcessAlive: alive });
    const claim = holder.claimLease('s1');
    if (!claim.claimed) throw new Error('expected claim');
    expect(holder.getLease('s1')?.dirty).toBe(false);

    const refused = other.claimLease('s1');
    expect(refused).toMatchObject({ claimed: false, holder: { pid: 101, host: 'h', dirty: true } });
    expect(other.claimLease('s1').claimed).toBe(false);
    expect(holder.getLease('s1')?.dirty).toBe(true);

    expect(holder.releaseLease('s1', claim.token)).toEqual({ rerun: true });
    expect(holder.getLease('s1')).toMatchObject({ pid: 101, dirty: false });
    expect(holder.releaseLease('s1', claim.token)).toEqual({ rerun: false });
    expect(holder.getLease('s1')).toBeUndefined();
    expect(other.claimLease('s1').claimed).toBe(true);
  });

  it('renewing extends the expiry so nobody takes the lease over', async () => {
    const dir = await makeTempDir();
    const clock = makeClock();
    const options = { leaseTtlMs: 1000, now: clock.now, host: 'h', isProcessAlive: () => true };
    const holder = openStore(dir, { ...options, pid: 101 });
    const other = openStore(dir, { ...options, pid: 202 });
    const claim = holder.claimLease('s1');
    if (!claim.claimed) throw new Error('expected claim');
    clock.advance(800);
    expect(holder.renewLease('s1', claim.token)).toBe(true);
    clock.advance(800);
    expect(other.claimLease('s1').claimed).toBe(false);
    expect(holder.getLease('s1')?.expiresAt).toBe(clock.now() + 200);
  });

  it('takes over an expired lease, but a live lease of another host only once it expired', async () => {
    const dir = await makeTempDir();
    const clock = makeClock();
    const remote = openStore(dir, {
      leaseTtlMs: 1000,
      now: clock.now,
      pid: 101,
      host: 'laptop',
      isProcessAlive: () => true,
    });
    // Our side believes pid 101 is dead, but that pid lives on another host, so it must not matter.
    const local = openStore(dir, {
      leaseTtlMs: 1000,
      now: clock.now,
      pid: 101,
      host: 'desktop',
      isProcessAlive: () => false,
    });
    expect(remote.claimLease('s1').claimed).toBe(true);
    expect(local.claimLease('s1').claimed).toBe(false);

    clock.advance(1000);
    const taken = local.claimLease('s1');
    expect(taken.claimed).toBe(true);
    expect(local.getLease('s1')).toMatchObject({ host: 'desktop', dirty: false, expiresAt: clock.now() + 1000 });
  });

  it('takes over the lease of a dead local pid, and clean() removes such leases', async () => {
    const dir = await makeTempDir();
    const clock = makeClock();
    const crashed = openStore(dir, {
      leaseTtlMs: 60_000,
      now: clock.now,
      pid: 4242,
      host: 'h',
      isProcessAlive: () => true,
    });
    const deadPids = new Set([4242]);
    const survivor = openStore(dir, {
      leaseTtlMs: 60_000,
      now: clock.now,
      pid: 5151,
      host: 'h',
      isProcessAlive: (pid) => !deadPids.has(pid),
    });
    const liveOnly = openStore(dir, {
      leaseTtlMs: 60_000,
      now: clock.now,
      pid: 6161,
      host: 'h',
      isProcessAlive: () => true,
    });

    expect(crashed.claimLease('s1').claimed).toBe(true);
    expect(survivor.claimLease('s1').claimed).toBe(true);
    expect(survivor.getLease('s1')?.pid).toBe(5151);

    expect(crashed.claimLease('s2').claimed).toBe(true);
    expect(crashed.claimLease('s3').claimed).toBe(true);
    expect(liveOnly.claimLease('s4').claimed).toBe(true);
    expect(liveOnly.clean().leasesRemoved).toBe(0);
    const cleaned = survivor.clean();
    expect(cleaned.leasesRemoved).toBe(2);
    expect(cleaned.staleReaders).toBeGreaterThanOrEqual(0);
    expect(survivor.listLeases().map((entry) => entry.sessionId)).toEqual(['s1', 's4']);

    // Expired leases go too, whoever holds them.
    clock.advance(60_000);
    expect(liveOnly.clean().leasesRemoved).toBe(2);
    expect(liveOnly.listLeases()).toEqual([]);
  });

  it('the default pid check sees this process alive and an unused pid dead', async () => {
    const dir = await makeTempDir();
    const clock = makeClock();
    const ghost = openStore(dir, { now: clock.now, pid: 2 ** 22 + 12345, host: 'h' });
    const me = openStore(dir, { now: clock.now, pid: process.pid, host: 'h' });
    const other = openStore(dir, { now: clock.now, pid: 2 ** 22 + 999, host: 'h' });
    expect(ghost.claimLease('s1').claimed).toBe(true);
    expect(me.claimLease('s1').claimed).toBe(true); // beyond pid_max: no such process
    expect(other.claimLease('s1').claimed).toBe(false); // the test process is alive
  });
});

describe('state store: runs, ccsync import and legacy files', () => {
  it('keeps the last 1000 runs, newest first', async () => {
    const store = openStore(await makeTempDir());
    for (let i = 0; i < 1005; i++) {
      store.recordRun({
        runId: `run-${i}`,
        startedAt: 1_000_000 + i,
        endedAt: 1_000_500 + i,
        command: 'sync',
        sessions: 1,
        traces: i,
        spans: 2 * i,
        failures: 0,
      });
    }
    const all = store.listRuns();
    expect(all).toHaveLength(1000);
    expect(all[0]).toMatchObject({ runId: 'run-1004', traces: 1004, spans: 2008 });
    expect(all[999]?.runId).toBe('run-5');
    expect(store.listRuns(3).map((run) => run.runId)).toEqual(['run-1004', 'run-1003', 'run-1002']);
  });

  it('imports ccsync sessions.json as identities, idempotently, without touching the file', async () => {
    const dir = await makeTempDir();
    const t1 = Date.UTC(2025, 0, 10, 12);
    const t2 = Date.UTC(2025, 1, 3, 9);
    const trace1 = createStableUuidV7(t1, 'ccsync-1');
    const trace2 = createStableUuidV7(t1 + 5000, 'ccsync-2');
    const trace3 = createStableUuidV7(t2, 'ccsync-3');
    const ccsyncState = {
      sessions: {
        'aaaaaaaa-1111-4111-8111-111111111111': {
          fingerprint: 'f'.repeat(64),
          messageCount: 40,
          lastMessageTime: '2025-01-10T12:30:00.000Z',
          lastSyncTime: '2025-01-10T12:31:00.000Z',
          syncedGroups: [
            { traceId: trace1, userMessageUuid: 'u-1', lastMessageUuid: 'u-5', messageCount: 5 },
            { traceId: trace2, userMessageUuid: 'u-6', lastMessageUuid: 'u-9', messageCount: 4 },
            {
              traceId: '3f2c9a8e-1b2c-4d5e-8f90-123456789abc',
              userMessageUuid: 'u-10',
              lastMessageUuid: 'u-11',
              messageCount: 2,
            },
          ],
        },
        'bbbbbbbb-2222-4222-8222-222222222222': {
          fingerprint: 'e'.repeat(64),
          messageCount: 3,
          lastMessageTime: '2025-02-03T09:00:00.000Z',
          lastSyncTime: '2025-02-03T09:01:00.000Z',
          syncedGroups: [{ traceId: trace3, userMessageUuid: 'v-1', lastMessageUuid: 'v-3', messageCount: 3 }],
        },
        'cccccccc-3333-4333-8333-333333333333': { fingerprint: 'd', messageCount: 0, syncedGroups: [] },
      },
      lastUpdated: '2025-02-03T09:01:00.000Z',
    };
    const file = join(dir, 'sessions.json');
    const text = JSON.stringify(ccsyncState, null, 2);
    await writeFile(file, text);
    const store = openStore(dir);

    const first = store.importCcsyncState(file);
    expect(first).toMatchObject({ sessions: 2, conversations: 3, alreadyKnown: 0 });
    expect(first.warnings).toHaveLength(1);
    expect(first.warnings[0]).toContain('not a UUIDv7');
    expect(store.getIdentities('aaaaaaaa-1111-4111-8111-111111111111')).toEqual({
      'u-1': { traceId: trace1, epochMs: t1 },
      'u-6': { traceId: trace2, epochMs: t1 + 5000 },
    });
    expect(store.getIdentities('bbbbbbbb-2222-4222-8222-222222222222')).toEqual({
      'v-1': { traceId: trace3, epochMs: readUuidV7Time(trace3) },
    });
    expect(store.lastCcsyncImport()).toMatchObject({ filePath: file, sessions: 2, conversations: 3, warnings: 1 });

    const second = store.importCcsyncState(file);
    expect(second).toMatchObject({ sessions: 0, conversations: 0, alreadyKnown: 3 });
    expect(store.getIdentities('aaaaaaaa-1111-4111-8111-111111111111')['u-1']?.traceId).toBe(trace1);
    expect(await readFile(file, 'utf8')).toBe(text);
    // Only ccsync's file and our env folder: nothing else was written next to it.
    expect((await readdir(dir)).sort()).toEqual(['lmdb', 'sessions.json']);
  });

  it('reports a missing or malformed ccsync file as a warning', async () => {
    const dir = await makeTempDir();
    const store = openStore(dir);
    const missing = store.importCcsyncState(join(dir, 'nope.json'));
    expect(missing).toMatchObject({ sessions: 0, conversations: 0 });
    expect(missing.warnings[0]).toContain('no ccsync state');
    await writeFile(join(dir, 'bad.json'), '{"sessions": [');
    expect(store.importCcsyncState(join(dir, 'bad.json')).warnings[0]).toContain('cannot read');
    await writeFile(join(dir, 'odd.json'), '{"lastUpdated": "x"}');
    expect(store.importCcsyncState(join(dir, 'odd.json')).warnings[0]).toContain('no "sessions"');
  });

  it('removes ccsync lock files but never lock.mdb', async () => {
    const dir = await makeTempDir();
    expect(defaultStateDir('/home/u')).toBe(join('/home/u', '.opik', 'sync-state'));
    const store = openStore(dir);
    store.recordRun({
      runId: 'r',
      startedAt: 1,
      endedAt: 2,
      command: 'sync',
      sessions: 0,
      traces: 0,
      spans: 0,
      failures: 0,
    });
    await writeFile(join(dir, 'sessions.lock'), '123:1700000000000');
    await writeFile(join(dir, 'old.lock'), '');
    await writeFile(join(dir, 'sessions.json'), '{}');
    await mkdir(join(dir, 'folder.lock'));

    const removed = removeLegacyLockFiles(dir);
    expect(removed.sort()).toEqual([join(dir, 'old.lock'), join(dir, 'sessions.lock')]);
    expect((await readdir(dir)).sort()).toEqual(['folder.lock', 'lmdb', 'sessions.json']);
    expect(existsSync(join(resolveLmdbDir(dir), 'lock.mdb'))).toBe(true);
    expect(store.listRuns()).toHaveLength(1);
    expect(removeLegacyLockFiles(join(dir, 'missing'))).toEqual([]);
  });
});

interface WorkerTally {
  committed: number;
  lostCommits: number;
  claims: number;
  refused: number;
  reruns: number;
  overlaps: number;
  lostReleases: number;
}

function runWorker(args: string[]): Promise<WorkerTally> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', workerScript, ...args], {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`worker exited with ${code}: ${stderr}`));
      else resolve(JSON.parse(stdout) as WorkerTally);
    });
  });
}

describe('state store: real processes', () => {
  it('6 processes x 200 claims: no lost updates and never two holders at once', async () => {
    const dir = await makeTempDir();
    const stateDir = join(dir, 'state');
    const markerPath = join(dir, 'held.marker');
    const goPath = join(dir, 'go');
    const workers = 6;
    const iterations = 200;
    const readyPaths = Array.from({ length: workers }, (_, i) => join(dir, `ready-${i}`));
    const tallies = Promise.all(
      readyPaths.map((readyPath) => runWorker([stateDir, markerPath, String(iterations), readyPath, goPath])),
    );
    // Start them together so they contend; a failed worker ends the wait through `tallies`.
    let failed: unknown;
    tallies.catch((error: unknown) => (failed = error));
    while (!readyPaths.every((path) => existsSync(path)) && failed === undefined) await sleep(20);
    await writeFile(goPath, '');
    const results = await tallies;

    const store = openStore(stateDir);
    const committed = results.reduce((sum, tally) => sum + tally.committed, 0);
    expect(results.reduce((sum, tally) => sum + tally.overlaps, 0)).toBe(0);
    expect(results.reduce((sum, tally) => sum + tally.lostCommits + tally.lostReleases, 0)).toBe(0);
    expect(results.reduce((sum, tally) => sum + tally.claims + tally.refused, 0)).toBe(workers * iterations);
    expect(committed).toBe(results.reduce((sum, tally) => sum + tally.claims + tally.reruns, 0));
    expect(committed).toBeGreaterThan(0);
    // They did contend: every refusal marks the lease dirty, which the holder must answer with a re-run.
    expect(results.reduce((sum, tally) => sum + tally.refused, 0)).toBeGreaterThan(0);
    expect(results.reduce((sum, tally) => sum + tally.reruns, 0)).toBeGreaterThan(0);
    expect(store.getSession('shared-session')?.exportedTraces).toBe(committed);
    expect(store.getLease('shared-session')).toBeUndefined();
  });
});

describe('state store: destinations', () => {
  const destinationA = { baseUrl: 'http://127.0.0.1:5173/api', workspace: 'default', projectName: 'claude-code' };
  const destinationB = { ...destinationA, projectName: 'other-project' };

  function commitOne(store: StateStore, sessionId: string, key: string): void {
    const claim = store.claimLease(sessionId);
    if (!claim.claimed) throw new Error('expected the lease');
    const identities = { [key]: makeIdentity(sessionId, key) };
    expect(
      store.commitSession(claim.token, makeState(sessionId), identities, {
        [key]: makeConversation(sessionId, key, 0),
      }),
    ).toBe(true);
    store.releaseLease(sessionId, claim.token);
  }

  it('keeps sessions, conversations, ids and leases of each destination apart', async () => {
    const dir = await makeTempDir();
    const a = openStore(dir, { destination: destinationA });
    commitOne(a, 's1', 'k1');
    await a.close();
    const b = openStore(dir, { destination: destinationB });
    expect(b.destination).toMatchObject({ id: 1, projectName: 'other-project' });
    expect(b.getSession('s1')).toBeUndefined();
    expect(b.getIdentities('s1')).toEqual({});
    expect(b.getConversations('s1', ['k1'])).toEqual({});
    // Leases are per destination: syncing one session to two destinations at once is fine.
    expect(b.claimLease('s1').claimed).toBe(true);
    commitOne(openStore(dir, { destination: destinationA }), 's2', 'k2');
    expect(b.reset()).toBe(0);
    const again = openStore(dir, { destination: { ...destinationA, projectName: 'Claude-Code' } });
    // Opik compares project names without case: the same destination.
    expect(again.destination.id).toBe(0);
    expect(
      again
        .listSessions()
        .map((s) => s.sessionId)
        .sort(),
    ).toEqual(['s1', 's2']);
    expect(again.listDestinations().map((d) => d.id)).toEqual([0, 1]);
  });

  it('a store opened without a destination reads the last one a sync named', async () => {
    const dir = await makeTempDir();
    commitOne(openStore(dir, { destination: destinationA }), 's1', 'k1');
    commitOne(openStore(dir, { destination: destinationB }), 's2', 'k2');
    expect(
      openStore(dir)
        .listSessions()
        .map((s) => s.sessionId),
    ).toEqual(['s2']);
    openStore(dir, { destination: destinationA });
    expect(
      openStore(dir)
        .listSessions()
        .map((s) => s.sessionId),
    ).toEqual(['s1']);
  });

  it('migrates a version 2 state dir into the first destination a sync names', async () => {
    const dir = await makeTempDir();
    const { open } = await import('lmdb');
    const legacy = open({ path: resolveLmdbDir(dir), maxDbs: 8 });
    await legacy.openDB({ name: 'sessions' }).put('s1', makeState('s1'));
    await legacy.openDB({ name: 'conversations' }).put(['s1', 'k1'], makeConversation('s1', 'k1', 0));
    await legacy.openDB({ name: 'ids' }).put(['s1', 'k1'], makeIdentity('s1', 'k1'));
    await legacy.openDB({ name: 'meta' }).put('schemaVersion', 2);
    await legacy.close();

    const first = openStore(dir, { destination: destinationA });
    expect(first.destination.id).toBe(0);
    expect(first.getSession('s1')).toEqual(makeState('s1'));
    expect(first.getIdentities('s1')).toEqual({ k1: makeIdentity('s1', 'k1') });
    expect(first.getConversations('s1', ['k1'])).toEqual({ k1: makeConversation('s1', 'k1', 0) });
    expect(openStore(dir, { destination: destinationB }).getSession('s1')).toBeUndefined();
  });
});
