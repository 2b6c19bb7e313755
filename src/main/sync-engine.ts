import { refreshSession } from '../pipeline/transcript/discover-sessions.js';
import type { Failure } from '../pipeline/errors.js';
import type { OpikUploader } from '../pipeline/upload/opik-uploader.js';
import type { RejectedItem } from '../pipeline/upload/uploader-types.js';
import type { OpikReader } from '../pipeline/upload/opik-reader.js';
import {
  planAgentRevisits,
  planSessionSync,
  revisitCandidates,
  type AgentRevisit,
  type SessionPlan,
} from '../pipeline/state/plan-session-sync.js';
import { selectChangedRecords, selectsRecords, type ChunkSelection } from '../pipeline/state/select-changed-records.js';
import { advanceSessionState, reviseSessionState } from '../pipeline/state/advance-session-state.js';
import { adoptExportedRows } from '../pipeline/state/adopt-exported-rows.js';
import type { ConversationIdentity, MappingOptions, ParseWarning, SessionFile } from '../pipeline/session-model.js';
import type { SerializedRecord, WireParseResult } from '../pipeline/map/serialize-parse-result.js';
import { writeSessionStamp } from '../pipeline/state/session-stamp.js';
import type { ConversationState, SessionState, StateStore } from '../pipeline/state/state-store.js';
import type { ParsePool } from './parse-pool.js';
import { readSessionChunks, type ChunkReadOptions } from './read-session-chunks.js';

/**
 * The per-session pipeline: plan from stat data and state, adopt what the destination already holds,
 * parse chunk by chunk, select what changed, then (sync) reserve ids, send, commit, or (dry run) only
 * count. Both modes run the same loop (runSessionChunks) with a different ChunkSink.
 */

export type SessionStatus = 'synced' | 'unchanged' | 'busy' | 'failed' | 'dry-run';

export interface SessionOutcome {
  sessionId: string;
  path: string;
  status: SessionStatus;
  created: number;
  updated: number;
  spans: number;
  warnings: ParseWarning[];
  failure?: Failure;
  /** A failure that will stop the whole run (bad key, quota, rejected data, abort). */
  fatal?: boolean;
  /** Dry run: the records that would have been sent. */
  preview?: Array<{ conversation: string; name: string; action: 'create' | 'update'; spans: number }>;
}

export interface SyncEngineOptions {
  /** State of the destination the uploader sends to (see openStateStore's `destination`). */
  store: StateStore;
  /** Absent in a dry run: nothing is sent. */
  uploader: OpikUploader | undefined;
  /**
   * Reads the destination's rows back: a session without state there first adopts the ids its rows have
   * (adopt-exported-rows.ts). Absent: nothing is read back (a dry run, tests of the engine alone).
   */
  reader?: OpikReader;
  pool: ParsePool;
  mapping: () => MappingOptions;
  force: boolean;
  maxChunkBytes: number;
  leaseTtlMs: number;
  signal?: AbortSignal;
  /** Where to leave the stamp `hook` checks (see session-stamp.ts). */
  stateDir?: string;
}

const MAX_DIRTY_RERUNS = 20;
/** How long "the project held no trace" is believed: rows another process writes meanwhile are rare. */
const EMPTY_PROJECT_TTL_MS = 10 * 60_000;

function emptyOutcome(session: SessionFile, status: SessionStatus): SessionOutcome {
  return { sessionId: session.sessionId, path: session.path, status, created: 0, updated: 0, spans: 0, warnings: [] };
}

/** Why a session stopped before its end. */
interface Stopped {
  failure: Failure;
  fatal?: boolean;
}

const LOST_LEASE: Failure = {
  code: 'OCS_ERR_STATE',
  message: 'lost the session lease while syncing; another process will finish it',
};

/**
 * Sync one session under its lease: parse from the cursor chunk by chunk, send what changed, and commit
 * each chunk's state only after Opik acknowledged it. A session someone else holds is marked dirty and
 * left to the holder, which runs it again before letting go; so concurrent hooks, watch and `--all`
 * never upload one session twice at once and never lose an append.
 */
export async function syncOneSession(engine: SyncEngineOptions, discovered: SessionFile): Promise<SessionOutcome> {
  if (!engine.uploader) return previewSession(engine, discovered);
  const claim = engine.store.claimLease(discovered.sessionId);
  if (!claim.claimed) return emptyOutcome(discovered, 'busy');
  const token = claim.token;
  const renew = setInterval(
    () => engine.store.renewLease(discovered.sessionId, token),
    Math.max(1000, engine.leaseTtlMs / 3),
  );
  renew.unref();
  const total = emptyOutcome(discovered, 'unchanged');
  let released = false;
  try {
    let session = discovered;
    for (let run = 0; run <= MAX_DIRTY_RERUNS; run += 1) {
      const outcome = await syncUnderLease(engine, session, token, run === 0 && engine.force);
      total.created += outcome.created;
      total.updated += outcome.updated;
      total.spans += outcome.spans;
      total.warnings.push(...outcome.warnings);
      if (outcome.status === 'failed') {
        total.status = 'failed';
        total.failure = outcome.failure;
        total.fatal = outcome.fatal;
        break;
      }
      if (outcome.status === 'synced') total.status = 'synced';
      if (!engine.store.releaseLease(session.sessionId, token).rerun) {
        released = true;
        break;
      }
      // Someone asked for this session while we held it: what they saw may be newer than what we read.
      session = await refreshSession(session);
    }
  } finally {
    clearInterval(renew);
    // After a failure (or too many re-runs) let go for real: a pending re-run request cannot succeed now,
    // and the next hook, watch event or sync will pick the session up again.
    // A dirty lease survives its first release (that asks for a re-run); the second one removes it.
    if (!released && engine.store.releaseLease(discovered.sessionId, token).rerun) {
      engine.store.releaseLease(discovered.sessionId, token);
    }
  }
  return total;
}

async function syncUnderLease(
  engine: SyncEngineOptions,
  session: SessionFile,
  token: string,
  force: boolean,
): Promise<SessionOutcome> {
  const outcome = await runSessionChunks(engine, session, force, (state, plan, done) =>
    syncSink(engine, session, token, state, plan, done),
  );
  if (outcome.status !== 'failed') stampSession(engine, session);
  return outcome;
}

/** Dry run: parse and compare with state, take no lease, send nothing, write nothing. */
async function previewSession(engine: SyncEngineOptions, session: SessionFile): Promise<SessionOutcome> {
  const preview: NonNullable<SessionOutcome['preview']> = [];
  const outcome = await runSessionChunks(engine, session, engine.force, (_state, _plan, done) =>
    previewSink(preview, done),
  );
  return { ...outcome, preview };
}

function stampSession(engine: SyncEngineOptions, session: SessionFile): void {
  if (engine.stateDir) writeSessionStamp(engine.stateDir, session, engine.store.destination.key);
}

/** One parsed chunk with what was exported of its conversations and what of it to send. */
interface SelectedChunk {
  /** `revisit`: a closed conversation parsed again for its grown subagents; the cursor does not move. */
  kind: 'chunk' | 'revisit';
  result: WireParseResult;
  before: Record<string, ConversationState>;
  selection: ChunkSelection;
}

/**
 * What a run does with each selected chunk. `take` may return before the chunk is done (sync keeps a
 * few in flight); `settle` waits for them. Either returns why the session stopped, if it did; `done` is
 * called once per chunk that counts (sent and committed, or previewed), in chunk order.
 */
interface ChunkSink {
  take(chunk: SelectedChunk, warnings: ParseWarning[]): Promise<Stopped | undefined>;
  settle(): Promise<Stopped | undefined>;
}

/**
 * Chunks of one session uploading at once. Two overlap one chunk's round trips (spans, then its traces)
 * with the next one's upload, which keeps a large session from waiting on the link chunk by chunk; the
 * parse of the chunks after them runs meanwhile in the pool (see parsedChunks).
 */
const CHUNKS_IN_FLIGHT = 2;

/**
 * Record bytes of all sessions' chunks on the way, per run. A session's first chunk in flight always
 * goes (as without pipelining); a second one only while the run's total stays within two chunks' worth,
 * so memory stays bounded however many sessions run at once.
 */
const bytesOnTheWay = new WeakMap<SyncEngineOptions, { bytes: number }>();

function uploadBudget(engine: SyncEngineOptions): { bytes: number } {
  let budget = bytesOnTheWay.get(engine);
  if (!budget) bytesOnTheWay.set(engine, (budget = { bytes: 0 }));
  return budget;
}

function recordBytes(selection: ChunkSelection): number {
  let bytes = 0;
  for (const record of selection.traces) bytes += record.bytes.byteLength;
  for (const record of selection.spans) bytes += record.bytes.byteLength;
  return bytes;
}

/**
 * Sync: reserve the ids, send, and commit each chunk's state once Opik acknowledged it, in chunk order:
 * a chunk acknowledged before the one ahead of it waits for that one's commit, and nothing is committed
 * after a chunk that failed (its successors were sent with reserved ids, so a re-run upserts them).
 */
function syncSink(
  engine: SyncEngineOptions,
  session: SessionFile,
  token: string,
  initial: SessionState | undefined,
  plan: SessionPlan & { action: 'parse' },
  done: (selection: ChunkSelection) => void,
): ChunkSink {
  let state = initial;
  let fromScratch = plan.fromScratch;
  /** The last chunk's commit: every chunk commits after it, so the chain keeps chunk order. */
  let committed: Promise<Stopped | undefined> = Promise.resolve(undefined);
  const inFlight = new Set<Promise<Stopped | undefined>>();
  let stopped: Stopped | undefined;
  const budget = uploadBudget(engine);
  const budgetBytes = 2 * engine.maxChunkBytes;

  async function sendAndCommit(
    chunk: SelectedChunk,
    next: SessionState,
    previous: Promise<Stopped | undefined>,
    warnings: ParseWarning[],
  ): Promise<Stopped | undefined> {
    const sent = await sendChunk(engine.uploader!, chunk.selection.traces, chunk.selection.spans);
    const ahead = await previous;
    if (ahead) return ahead;
    if (!sent.ok) return { failure: sent.failure, fatal: sent.fatal };
    for (const refused of sent.rejected) warnings.push(describeRefusedRecord(session, chunk.result, refused));
    if (!engine.store.commitSession(token, next, chunk.selection.identities, chunk.selection.conversations))
      return { failure: LOST_LEASE };
    done(chunk.selection);
    return undefined;
  }

  return {
    async take(chunk, warnings) {
      if (stopped) return stopped;
      const { kind, result, selection } = chunk;
      // Ids are reserved before anything that uses them is sent; a chunk with nothing to send needs none.
      if (selectsRecords(selection) && !engine.store.reserveIdentities(session.sessionId, token, selection.identities))
        return (stopped = await settleWith({ failure: LOST_LEASE }));
      const now = Date.now();
      const next =
        kind === 'revisit' && state
          ? reviseSessionState(state, result, selection, now)
          : advanceSessionState(state, session, result, selection, fromScratch, now);
      state = next;
      if (kind === 'chunk') fromScratch = false;
      const bytes = recordBytes(selection);
      const overBudget = (): boolean => inFlight.size > 0 && budget.bytes + bytes > budgetBytes;
      while ((inFlight.size >= CHUNKS_IN_FLIGHT || overBudget()) && !stopped) stopped = await Promise.race(inFlight);
      // A stopped session lets go of its lease only once nothing of it is on the way any more.
      if (stopped) return (stopped = await settleWith(stopped));
      budget.bytes += bytes;
      const commit = sendAndCommit(chunk, next, committed, warnings);
      committed = commit;
      inFlight.add(commit);
      const remove = (): void => {
        inFlight.delete(commit);
        budget.bytes -= bytes;
      };
      void commit.then(remove, remove); // a throw still reaches whoever awaits the chunk
      return undefined;
    },
    async settle() {
      return (stopped = await settleWith(stopped));
    },
  };

  /** Waits for every chunk in flight; the first stop in chunk order wins. */
  async function settleWith(stop: Stopped | undefined): Promise<Stopped | undefined> {
    const last = await committed;
    await Promise.all(inFlight);
    return stop ?? last;
  }
}

/** Dry run: note what would be created or updated. */
function previewSink(
  preview: NonNullable<SessionOutcome['preview']>,
  done: (selection: ChunkSelection) => void,
): ChunkSink {
  return {
    take({ result, before, selection }) {
      for (const conversation of result.conversations) {
        if (!selection.conversations[conversation.key] || !selection.traces.includes(conversation.trace)) continue;
        preview.push({
          conversation: conversation.key,
          name: conversation.name,
          action: before[conversation.key] ? 'update' : 'create',
          spans: conversation.spans.length,
        });
      }
      done(selection);
      return Promise.resolve(undefined);
    },
    settle: () => Promise.resolve(undefined),
  };
}

/**
 * Spans before their trace: a trace in Opik then means every span of its fingerprint was acknowledged,
 * which is what adopting a conversation from its trace relies on (sync-metadata.ts).
 */
async function sendChunk(
  uploader: OpikUploader,
  traces: SerializedRecord[],
  spans: SerializedRecord[],
): Promise<{ ok: true; rejected: RejectedItem[] } | { ok: false; failure: Failure; fatal: boolean }> {
  const rejected: RejectedItem[] = [];
  for (const records of [spans, traces]) {
    if (records.length === 0) continue;
    const sent = records === spans ? await uploader.uploadSpans(records) : await uploader.uploadTraces(records);
    if (!sent.ok) return sent;
    // Records Opik refused one by one (when the uploader narrows a refused batch down): the rest went.
    rejected.push(...(sent.rejected ?? []));
  }
  return { ok: true, rejected };
}

/**
 * A record Opik refused, as a warning at the line its turn starts on. The turn's state is committed
 * like the rest (sending it again as it is would be refused again); `sync --force` re-sends it.
 */
function describeRefusedRecord(session: SessionFile, result: WireParseResult, refused: RejectedItem): ParseWarning {
  for (const conversation of result.conversations) {
    const kind =
      conversation.trace === refused.item
        ? 'trace'
        : conversation.spans.includes(refused.item as SerializedRecord)
          ? 'a span'
          : undefined;
    if (kind === undefined) continue;
    return {
      file: session.path,
      line: conversation.startLine,
      message: `Opik refused ${kind} of the turn starting here, the rest was sent: ${refused.message}`,
    };
  }
  return { file: session.path, line: 0, message: `Opik refused a record, the rest was sent: ${refused.message}` };
}

/**
 * The one chunk loop of sync and dry run: plan, prepare (adopt, revisits), then for every chunk select
 * what changed and hand it to the sink.
 */
async function runSessionChunks(
  engine: SyncEngineOptions,
  session: SessionFile,
  force: boolean,
  makeSink: (
    state: SessionState | undefined,
    plan: SessionPlan & { action: 'parse' },
    done: (selection: ChunkSelection) => void,
  ) => ChunkSink,
): Promise<SessionOutcome> {
  const outcome = emptyOutcome(session, 'unchanged');
  const state = engine.store.getSession(session.sessionId);
  const plan = planSessionSync(session, state, force);
  if (plan.action === 'skip') return outcome;
  const prepared = await prepareSession(engine, session, plan, state);
  if ('failure' in prepared) return { ...outcome, status: 'failed', ...prepared };
  const sink = makeSink(state, plan, (selection) => {
    outcome.created += selection.created;
    outcome.updated += selection.updated;
    outcome.spans += selection.spans.length;
    if (selectsRecords(selection)) outcome.status = engine.uploader ? 'synced' : 'dry-run';
  });
  for await (const { kind, result } of parsedChunks(engine, session, plan, state, prepared)) {
    if (engine.signal?.aborted) {
      await sink.settle();
      return {
        ...outcome,
        status: 'failed',
        fatal: true,
        failure: { code: 'OCS_ERR_ABORTED', message: 'interrupted' },
      };
    }
    outcome.warnings.push(...result.warnings);
    // Compared with every conversation ever exported, even when re-reading from 0: an identical
    // conversation is not re-sent, and a forced one counts as updated, not new. A chunk still in flight
    // holds other conversations than this one (chunks split between conversations).
    const before = exportedBefore(engine, session, result, prepared.adopted);
    const selection = selectChangedRecords(result, before, force, Date.now());
    Object.assign(prepared.identities, selection.identities);
    const stopped = await sink.take({ kind, result, before, selection }, outcome.warnings);
    if (stopped) return { ...outcome, status: 'failed', ...stopped };
  }
  const stopped = await sink.settle();
  if (stopped) return { ...outcome, status: 'failed', ...stopped };
  return outcome;
}

interface PreparedSession {
  /** Identities to parse with; grows as chunks are read. */
  identities: Record<string, ConversationIdentity>;
  /** Conversation states read back from the destination (see adoptFromDestination). */
  adopted: Record<string, ConversationState>;
  revisits: AgentRevisit[];
  /** Changed subagents the resumed parse handles (those of revisited conversations are taken out). */
  changedAgentIds: string[];
}

/** Before the first chunk: the identities to parse with, adopted ones included, and the revisits. */
async function prepareSession(
  engine: SyncEngineOptions,
  session: SessionFile,
  plan: SessionPlan & { action: 'parse' },
  state: SessionState | undefined,
): Promise<PreparedSession | Stopped> {
  const identities = knownIdentities(engine, session, plan, state);
  const prepared: PreparedSession = { identities, adopted: {}, revisits: [], changedAgentIds: plan.changedAgentIds };
  if (!state && Object.keys(identities).length === 0) {
    const adopted = await adoptFromDestination(engine, session);
    if ('failure' in adopted) return adopted;
    // Written with the chunk that uses them (reserve, commit). After a crash before that, the next run
    // has no state and no ids for the session, so it adopts them again.
    Object.assign(identities, adopted.identities);
    prepared.adopted = adopted.conversations;
  }
  if (!plan.fromScratch && state) {
    const owners = engine.store.getConversations(session.sessionId, revisitCandidates(state, plan.changedAgentIds));
    const { revisits, changedAgentIds } = planAgentRevisits(session, state, plan.changedAgentIds, owners);
    prepared.revisits = revisits;
    prepared.changedAgentIds = changedAgentIds;
    const keys = revisits.map((revisit) => revisit.conversationKey);
    Object.assign(identities, engine.store.findIdentities(session.sessionId, keys));
  }
  return prepared;
}

/**
 * A session this destination has no state for may still have rows there (state deleted, another machine,
 * another state dir): their ids are adopted before anything is parsed. A project that held no trace when
 * first asked needs no look-up per session, which keeps a backfill into a new project as fast as before.
 */
async function adoptFromDestination(
  engine: SyncEngineOptions,
  session: SessionFile,
): Promise<
  { identities: Record<string, ConversationIdentity>; conversations: Record<string, ConversationState> } | Stopped
> {
  const none = { identities: {}, conversations: {} };
  const reader = engine.reader;
  if (!reader) return none;
  const holds = await projectHoldsTraces(reader);
  if (!holds.ok) return holds;
  if (!holds.value) return none;
  const threads = await runThreads.get(engine);
  if (threads?.ok && !threads.value.has(session.sessionId)) return none;
  const rows = await reader.listThreadTraces(session.sessionId);
  if (!rows.ok) return rows;
  const adopted = adoptExportedRows(session.sessionId, rows.value, Date.now());
  return { identities: adopted.identities, conversations: adopted.conversations };
}

const projectProbes = new WeakMap<
  OpikReader,
  { at: number; holds: Promise<Awaited<ReturnType<OpikReader['projectHasTraces']>>> }
>();

/** Asked once per reader (and again after EMPTY_PROJECT_TTL_MS while it is empty); failures are not kept. */
async function projectHoldsTraces(reader: OpikReader): ReturnType<OpikReader['projectHasTraces']> {
  const cached = projectProbes.get(reader);
  if (cached && Date.now() - cached.at < EMPTY_PROJECT_TTL_MS) return cached.holds;
  const probe = { at: Date.now(), holds: reader.projectHasTraces() };
  projectProbes.set(reader, probe);
  const holds = await probe.holds;
  // Failed: ask again next time. Holding traces: it will not become empty; keep the answer.
  if (!holds.ok) projectProbes.delete(reader);
  else if (holds.value) probe.at = Infinity;
  return holds;
}

/** Closed conversations parsed again for grown subagents, then the session from its cursor. */
async function* parsedChunks(
  engine: SyncEngineOptions,
  session: SessionFile,
  plan: SessionPlan & { action: 'parse' },
  state: SessionState | undefined,
  prepared: PreparedSession,
): AsyncGenerator<{ kind: 'chunk' | 'revisit'; result: WireParseResult }> {
  let changedAgentIds = prepared.changedAgentIds;
  for (const revisit of prepared.revisits) {
    const result = await engine.pool.run({
      session,
      startOffset: revisit.startOffset,
      startLine: revisit.startLine,
      // Stops at the first prompt after the conversation's own: exactly that conversation is read.
      stopOffset: revisit.startOffset + 1,
      maxChunkBytes: engine.maxChunkBytes,
      knownConversations: prepared.identities,
      knownAgentLinks: state?.agentLinks ?? {},
      changedAgentIds: revisit.agentIds,
      options: engine.mapping(),
    });
    const conversations = result.conversations.filter((c) => c.key === revisit.conversationKey);
    if (conversations.length === 0) {
      // The file no longer has it where state says: the resumed parse sends the agents' spans alone.
      changedAgentIds = [...changedAgentIds, ...revisit.agentIds.filter((id) => plan.changedAgentIds.includes(id))];
      continue;
    }
    yield { kind: 'revisit', result: { ...result, conversations, agentRecords: [] } };
  }
  for await (const result of readSessionChunks(
    chunkReadOptions(engine, session, { ...plan, changedAgentIds }, prepared.identities, state),
  )) {
    yield { kind: 'chunk', result };
  }
}

/**
 * Identities to parse with. Re-reading from 0 (first sync, --force, after `state --reset`, a replaced
 * file) needs every id ever given to this session; a resumed parse needs only the tail's, and checks any
 * other key it meets against the ids table (see readSessionChunks), which on a long session saves reading
 * thousands of ids on every hook call.
 */
function knownIdentities(
  engine: SyncEngineOptions,
  session: SessionFile,
  plan: { fromScratch: boolean },
  state: SessionState | undefined,
): Record<string, ConversationIdentity> {
  if (plan.fromScratch || !state) return engine.store.getIdentities(session.sessionId);
  return { ...(state.tailIdentities ?? {}) };
}

/** What was exported before of the conversations in this chunk, to tell new, changed and unchanged apart. */
function exportedBefore(
  engine: SyncEngineOptions,
  session: SessionFile,
  result: WireParseResult,
  adopted: Record<string, ConversationState>,
): Record<string, ConversationState> {
  const keys = result.conversations.map((c) => c.key);
  const stored = engine.store.getConversations(session.sessionId, keys);
  for (const key of keys) if (!(key in stored) && key in adopted) stored[key] = adopted[key]!;
  return stored;
}

function chunkReadOptions(
  engine: SyncEngineOptions,
  session: SessionFile,
  plan: { startOffset: number; startLine: number; changedAgentIds: string[]; fromScratch: boolean },
  identities: Record<string, ConversationIdentity>,
  state: SessionState | undefined,
): ChunkReadOptions {
  return {
    run: (task) => engine.pool.run(task),
    base: { session, maxChunkBytes: engine.maxChunkBytes, knownConversations: identities, options: engine.mapping() },
    startOffset: plan.startOffset,
    startLine: plan.startLine,
    knownAgentLinks: plan.fromScratch ? {} : (state?.agentLinks ?? {}),
    changedAgentIds: plan.changedAgentIds,
    // As many chunks of one session in flight as threads: one more only held finished results longer (RSS).
    window: engine.pool.maxThreads,
    ...(plan.fromScratch || !state
      ? {}
      : { findIdentities: (keys: string[]) => engine.store.findIdentities(session.sessionId, keys) }),
  };
}

/** From this many sessions without state in one run, the project's thread ids are listed once instead. */
const THREAD_LIST_FROM = 50;
/** A run's list of the project's threads (see listThreadsForRun); failed lists are not used. */
const runThreads = new WeakMap<SyncEngineOptions, Promise<Awaited<ReturnType<OpikReader['listThreadIds']>>>>();

/**
 * Many sessions without state in one run (a new machine, a lost or second state dir, a project that
 * holds other sessions): one listing of the project's threads tells which of them can have rows there,
 * so only those are looked up. Not for an empty project (the probe says so) nor for a few sessions.
 */
async function listThreadsForRun(engine: SyncEngineOptions, sessions: SessionFile[]): Promise<void> {
  const reader = engine.reader;
  if (!reader || !engine.uploader) return;
  let stateless = 0;
  for (const session of sessions) {
    if (engine.store.getSession(session.sessionId) === undefined) stateless += 1;
    if (stateless >= THREAD_LIST_FROM) break;
  }
  if (stateless < THREAD_LIST_FROM) return;
  const holds = await projectHoldsTraces(reader);
  if (!holds.ok || !holds.value) return;
  runThreads.set(engine, reader.listThreadIds());
}

/** Run sessions with bounded concurrency; a fatal failure stops starting new ones. */
export async function syncSessions(
  engine: SyncEngineOptions,
  sessions: SessionFile[],
  concurrency: number,
  onDone: (outcome: SessionOutcome) => void,
): Promise<{ outcomes: SessionOutcome[]; fatal?: Failure }> {
  await listThreadsForRun(engine, sessions);
  const outcomes: SessionOutcome[] = [];
  let fatal: Failure | undefined;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sessions.length && !fatal && !engine.signal?.aborted) {
      const session = sessions[next++]!;
      let outcome: SessionOutcome;
      try {
        outcome = await syncOneSession(engine, session);
      } catch (error) {
        outcome = {
          ...emptyOutcome(session, 'failed'),
          failure: { code: 'OCS_ERR_READ', message: (error as Error).message },
        };
      }
      outcomes.push(outcome);
      if (outcome.fatal && outcome.failure) fatal ??= outcome.failure;
      onDone(outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
  runThreads.delete(engine);
  return fatal ? { outcomes, fatal } : { outcomes };
}
