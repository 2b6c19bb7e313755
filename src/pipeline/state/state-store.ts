import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Database } from 'lmdb';
import { SyncError } from '../errors.js';
import type { AgentLink, ConversationIdentity, SessionSummaryMeta } from '../session-model.js';
import { importCcsyncIdentities } from './ccsync-import.js';
import type { Destination, DestinationRecord } from './destination.js';
import { listDestinations, resolveDestination } from './state-destinations.js';
import { createLeaseOperations } from './state-leases.js';
import { KEY_RANGE_END, openStateTables, type ConversationKey, type StateTables } from './state-tables.js';

/**
 * Sync state in one LMDB env: per-session cursors, the ids table, per-session leases and run history, each
 * kept per destination (Opik URL, workspace, project; see destination.ts). State is a cache of what a
 * destination holds: a destination without state for a session gets all of it, and the engine first
 * adopts the ids its rows already have there (adopt-exported-rows.ts), so losing state duplicates nothing.
 *
 * Every read-modify-write is one `transactionSync` with `putSync`/`removeSync` only: LMDB has a single
 * writer across all processes, so claim/release/commit are atomic between concurrent hook processes.
 * (An async `put` inside `transactionSync` makes lmdb's `close()` hang forever.)
 */

export interface ConversationState {
  traceId: string;
  epochMs: number;
  /** Hash of the conversation's bytes and its subagent files' bytes (see parse-session.ts). */
  fingerprint: string;
  startOffset: number;
  /** Line number of `startOffset`: a grown subagent's turn is parsed again from here. Absent before 0.3. */
  startLine?: number;
  spanCount: number;
  syncedAt: number;
  /**
   * Read back from the destination rather than committed here (see adopt-exported-rows.ts): the
   * conversation exists there; a parse with the same fingerprint sends nothing and commits a real state.
   */
  adopted?: boolean;
}

export interface SessionState {
  sessionId: string;
  path: string;
  projectDir: string;
  cwd?: string;
  /** File identity at the last successful sync. */
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  /** Lines before this offset are final and exported. */
  finalOffset: number;
  finalLine: number;
  /** Start of the open (last) conversation. */
  resumeOffset: number;
  resumeLine: number;
  /** Conversations exported so far; their states live in their own table (see getConversations). */
  conversationCount: number;
  /**
   * Identities of the conversations a resumed parse will meet again: the open one at `resumeOffset`, and
   * subagent-only conversations (`agent:<id>`), which come back when their file grows. Any other key a
   * resumed parse meets is checked against the ids table before use (see findIdentities).
   */
  tailIdentities: Record<string, ConversationIdentity>;
  /** Subagent files at the last sync. */
  agents: Record<string, { size: number; mtimeMs: number }>;
  agentLinks: Record<string, AgentLink>;
  meta: SessionSummaryMeta;
  exportedTraces: number;
  exportedSpans: number;
  firstSyncAt: number;
  lastSyncAt: number;
}

export interface Lease {
  pid: number;
  host: string;
  token: string;
  expiresAt: number;
  /** Someone asked for this session while it was held: the holder must run it again before releasing. */
  dirty: boolean;
}

export type ClaimResult = { claimed: true; token: string } | { claimed: false; holder: Lease };

export interface RunRecord {
  runId: string;
  startedAt: number;
  endedAt: number;
  command: string;
  sessions: number;
  traces: number;
  spans: number;
  failures: number;
  /** destinationKey() of the destination the run synced to. */
  destination?: string;
}

export interface CcsyncImportResult {
  /** Sessions that got at least one new identity. */
  sessions: number;
  /** Identities written (conversations already known are kept as they are and not counted). */
  conversations: number;
  /** Conversations skipped because the ids table already had them (a re-import). */
  alreadyKnown: number;
  warnings: string[];
}

export interface CcsyncImportRecord {
  at: number;
  filePath: string;
  sessions: number;
  conversations: number;
  warnings: number;
}

export interface StateStore {
  /** The destination this store reads and writes. */
  readonly destination: DestinationRecord;
  /** Every destination this state dir was used with. */
  listDestinations(): DestinationRecord[];
  getSession(id: string): SessionState | undefined;
  listSessions(): SessionState[];
  /** Ids survive `reset`: conversation key -> identity, so a re-send after reset reuses ids (no duplicates). */
  getIdentities(sessionId: string): Record<string, ConversationIdentity>;
  /** The stored identities of these conversation keys (those that have one). */
  findIdentities(sessionId: string, keys: string[]): Record<string, ConversationIdentity>;
  /** What was exported of these conversations (those that were). */
  getConversations(sessionId: string, keys: string[]): Record<string, ConversationState>;
  /** Free, expired, or held by a dead pid on this host -> take it; else mark the lease dirty and refuse. */
  claimLease(sessionId: string): ClaimResult;
  renewLease(sessionId: string, token: string): boolean;
  /** Ours and dirty -> clear dirty, keep (and extend) it, `rerun: true`; ours and clean -> delete it; not ours -> `lost: true`. */
  releaseLease(sessionId: string, token: string): { rerun: boolean; lost?: boolean };
  /**
   * Writes the session state, the states of the conversations just exported and their identities in one
   * transaction, only while `token` holds the lease.
   */
  commitSession(
    token: string,
    state: SessionState,
    identities: Record<string, ConversationIdentity>,
    conversations?: Record<string, ConversationState>,
  ): boolean;
  /**
   * Write-ahead for ids: records identities not yet known, before their records are sent, so a crash
   * between upload and commit re-sends with the same ids (an upsert) instead of new ones (a duplicate).
   */
  reserveIdentities(sessionId: string, token: string, identities: Record<string, ConversationIdentity>): boolean;
  getLease(sessionId: string): Lease | undefined;
  listLeases(): Array<{ sessionId: string; lease: Lease }>;
  /** Appends to the export history, which keeps the last 1000 runs. */
  recordRun(run: RunRecord): void;
  /** Newest first. */
  listRuns(limit?: number): RunRecord[];
  /**
   * Clears this destination's per-session sync history but keeps its ids table. Returns how many sessions
   * were cleared.
   */
  reset(sessionId?: string): number;
  /**
   * Removes expired leases and leases of dead pids on this host (of every destination), and clears stale
   * LMDB reader slots.
   */
  clean(): { leasesRemoved: number; staleReaders: number };
  /** Imports ccsync's `sessions.json` (read only) as identities. Idempotent. */
  importCcsyncState(filePath: string): CcsyncImportResult;
  lastCcsyncImport(): CcsyncImportRecord | undefined;
  close(): Promise<void>;
}

export interface StateStoreOptions {
  /**
   * The destination to read and write; registered on first use. Absent: the one the last sync named
   * (for readers such as `list-sessions`).
   */
  destination?: Destination;
  /** False: read and write the destination's state without registering it (`state`). Default true. */
  register?: boolean;
  leaseTtlMs?: number;
  now?: () => number;
  pid?: number;
  host?: string;
  isProcessAlive?: (pid: number) => boolean;
}

const DEFAULT_LEASE_TTL_MS = 60_000;
const MAX_RUNS = 1000;

export { defaultStateDir } from './state-paths.js';
export { resolveLmdbDir } from './state-tables.js';

/**
 * Deletes the lock files ccsync left in the state dir (`sessions.lock` and any other `*.lock`).
 * LMDB's own `lock.mdb` lives in a sub-folder and never matches; it is guarded anyway because deleting
 * it while any process has the env open corrupts the env.
 */
export function removeLegacyLockFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.endsWith('.lock') || name === 'lock.mdb') continue;
    const path = join(dir, name);
    try {
      if (!statSync(path).isFile()) continue;
      unlinkSync(path);
      removed.push(path);
    } catch {
      // Gone already (another process cleaned it) or not ours to delete: nothing to report.
    }
  }
  return removed;
}

/** `kill(pid, 0)`: ESRCH means gone; EPERM means it exists but belongs to someone else. */
export function checkProcessAlive(pid: number): boolean {
  // pid 0 and negatives address process groups, never a single holder.
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Opens the state of one destination: the env and its tables (migrated when older), the destination's
 * number, then the operations on sessions, leases and runs bound to it.
 */
export function openStateStore(dir: string, options: StateStoreOptions = {}): StateStore {
  const now = options.now ?? Date.now;
  const tables = openStateTables(dir);
  let destination: DestinationRecord;
  try {
    destination = resolveDestination(tables, options.destination, now(), options.register ?? true);
  } catch (error) {
    void tables.root.close();
    throw new SyncError('OCS_ERR_STATE', `cannot read the state in ${dir}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const leases = createLeaseOperations(tables, destination.id, {
    now,
    leaseTtlMs: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
    pid: options.pid ?? process.pid,
    host: options.host ?? hostname(),
    isProcessAlive: options.isProcessAlive ?? checkProcessAlive,
  });
  const records = createSessionRecords(tables, destination.id, leases.holds);
  const { root, runs, meta } = tables;

  /**
   * Reads outside a write txn use lmdb-js's shared read snapshot, which it only renews on the next tick or
   * after a write by this handle. Another process's (or handle's) commit in between would be missed, so
   * every public read starts from a fresh snapshot (a cheap txn reset).
   */
  function readFresh<T>(read: () => T): T {
    root.resetReadTxn();
    return read();
  }

  function recordRun(run: RunRecord): void {
    root.transactionSync(() => {
      runs.putSync([run.startedAt, run.runId], { destination: destination.key || undefined, ...run });
      const excess = runs.getCount() - MAX_RUNS;
      if (excess <= 0) return;
      // Keys sort by start time, so the first `excess` keys are the oldest runs.
      for (const key of [...runs.getKeys({ limit: excess })]) runs.removeSync(key);
    });
  }

  let closing: Promise<void> | undefined;
  return {
    destination,
    listDestinations: () => readFresh(() => listDestinations(tables)),
    getSession: (id) => readFresh(() => records.getSession(id)),
    listSessions: () => readFresh(records.listSessions),
    getIdentities: (sessionId) => readFresh(() => records.readIdentities(sessionId)),
    findIdentities: (sessionId, keys) => readFresh(() => records.findIdentities(sessionId, keys)),
    getConversations: (sessionId, keys) => readFresh(() => records.getConversations(sessionId, keys)),
    claimLease: leases.claimLease,
    renewLease: leases.renewLease,
    releaseLease: leases.releaseLease,
    commitSession: records.commitSession,
    reserveIdentities: records.reserveIdentities,
    getLease: (sessionId) => readFresh(() => leases.getLease(sessionId)),
    listLeases: () => readFresh(leases.listLeases),
    recordRun,
    listRuns: (limit = MAX_RUNS) =>
      readFresh(() => [...runs.getRange({ reverse: true, limit })].map(({ value }) => value)),
    reset: records.reset,
    clean: () => ({ leasesRemoved: leases.removeAbandoned(), staleReaders: root.readerCheck() }),
    importCcsyncState: (filePath) => importCcsyncIdentities(tables, destination.id, filePath, now()),
    lastCcsyncImport: () => readFresh(() => meta.get('ccsyncImport') as CcsyncImportRecord | undefined),
    close: () => (closing ??= root.close()),
  };
}

/** Sessions, conversation states and identities of one destination; writes only while a lease is held. */
function createSessionRecords(
  tables: StateTables,
  destinationId: number,
  holds: (sessionId: string, token: string) => boolean,
) {
  const { root, sessions, conversations, ids } = tables;
  const d = destinationId;
  const conversationKey = (sessionId: string, key: string): ConversationKey => [d, sessionId, key];
  const sessionRange = (sessionId: string) => ({ start: [d, sessionId], end: [d, sessionId, KEY_RANGE_END] });

  function readIdentities(sessionId: string): Record<string, ConversationIdentity> {
    const result: Record<string, ConversationIdentity> = {};
    for (const { key, value } of ids.getRange(sessionRange(sessionId))) {
      if (key[0] === d && key[1] === sessionId) result[key[2]] = value;
    }
    return result;
  }

  /** The entries of these conversation keys (those that exist). */
  function readByKeys<T>(table: Database<T, ConversationKey>, sessionId: string, keys: string[]): Record<string, T> {
    const result: Record<string, T> = {};
    for (const key of keys) {
      const value = table.get(conversationKey(sessionId, key));
      if (value !== undefined) result[key] = value;
    }
    return result;
  }

  function commitSession(
    token: string,
    state: SessionState,
    identities: Record<string, ConversationIdentity>,
    exported: Record<string, ConversationState> = {},
  ): boolean {
    return root.transactionSync(() => {
      if (!holds(state.sessionId, token)) return false;
      sessions.putSync([d, state.sessionId], state);
      for (const [key, conversation] of Object.entries(exported)) {
        conversations.putSync(conversationKey(state.sessionId, key), conversation);
      }
      for (const [key, identity] of Object.entries(identities)) {
        const known = ids.get(conversationKey(state.sessionId, key));
        const stored = storedIdentity(identity);
        if (known !== undefined && JSON.stringify(storedIdentity(known)) === JSON.stringify(stored)) continue;
        ids.putSync(conversationKey(state.sessionId, key), stored);
      }
      return true;
    });
  }

  function reserveIdentities(
    sessionId: string,
    token: string,
    identities: Record<string, ConversationIdentity>,
  ): boolean {
    return root.transactionSync(() => {
      if (!holds(sessionId, token)) return false;
      for (const [key, identity] of Object.entries(identities)) {
        const known = ids.get(conversationKey(sessionId, key));
        if (known === undefined) {
          // Not acknowledged yet: nothing of it counts as sent.
          const { sentUntilMs: _unsent, ...reserved } = storedIdentity(identity);
          ids.putSync(conversationKey(sessionId, key), reserved);
        } else if (
          (identity.reanchors?.length ?? 0) > (known.reanchors?.length ?? 0) &&
          known.traceId === identity.traceId
        ) {
          // A new anchor is written before the spans that use it are sent, so a crash cannot change their ids.
          ids.putSync(conversationKey(sessionId, key), { ...storedIdentity(known), reanchors: identity.reanchors! });
        }
      }
      return true;
    });
  }

  function reset(sessionId?: string): number {
    return root.transactionSync(() => {
      if (sessionId !== undefined) {
        for (const key of [...conversations.getKeys(sessionRange(sessionId))]) {
          if (key[0] === d && key[1] === sessionId) conversations.removeSync(key);
        }
        return sessions.removeSync([d, sessionId]) ? 1 : 0;
      }
      const all = { start: [d], end: [d + 1] };
      const keys = [...sessions.getKeys(all)].filter((key) => key[0] === d);
      for (const key of keys) sessions.removeSync(key);
      for (const key of [...conversations.getKeys(all)]) if (key[0] === d) conversations.removeSync(key);
      return keys.length;
    });
  }

  return {
    getSession: (sessionId: string) => sessions.get([d, sessionId]),
    listSessions: () =>
      [...sessions.getRange({ start: [d], end: [d + 1] })].filter(({ key }) => key[0] === d).map(({ value }) => value),
    readIdentities,
    findIdentities: (sessionId: string, keys: string[]) => readByKeys(ids, sessionId, keys),
    getConversations: (sessionId: string, keys: string[]) => readByKeys(conversations, sessionId, keys),
    commitSession,
    reserveIdentities,
    reset,
  };
}

/** Only the identity's own fields: a caller's object may carry more. */
function storedIdentity(identity: ConversationIdentity): ConversationIdentity {
  const stored: ConversationIdentity = { traceId: identity.traceId, epochMs: identity.epochMs };
  if (identity.anchorMs !== undefined) stored.anchorMs = identity.anchorMs;
  if (identity.reanchors !== undefined)
    stored.reanchors = identity.reanchors.map(({ fromMs, anchorMs }) => ({ fromMs, anchorMs }));
  if (identity.sentUntilMs !== undefined) stored.sentUntilMs = identity.sentUntilMs;
  return stored;
}
