import { refreshSession } from '../pipeline/transcript/discover-sessions.js';
import type { Failure } from '../pipeline/errors.js';
import type { OpikUploader } from '../pipeline/upload/opik-uploader.js';
import type { OpikReader } from '../pipeline/upload/opik-reader.js';
import {
  planAgentRevisits,
  planSessionSync,
  revisitCandidates,
  type AgentRevisit,
  type SessionPlan,
} from '../pipeline/state/plan-session-sync.js';
import { selectChangedRecords, selectsRecords, type ChunkSelection } from '../pipeline/state/select-changed-records.js';
import type { ConversationIdentity, MappingOptions, ParseWarning, SessionFile } from '../pipeline/session-model.js';
import type { WireParseResult } from '../pipeline/map/serialize-parse-result.js';
import { writeSessionStamp } from '../pipeline/state/session-stamp.js';
import type { ConversationState, SessionState, StateStore } from '../pipeline/state/state-store.js';
import type { ParsePool } from './parse-pool.js';
import { readSessionChunks, type ChunkReadOptions } from './read-session-chunks.js';
import {
  previewSink,
  syncSink,
  type ChunkSink,
  type PreviewEntry,
  type SinkEngine,
  type Stopped,
  type UploadBudget,
} from './chunk-sinks.js';
import { adoptFromDestination, forgetThreadList, listThreadsForRun } from './adopt-from-destination.js';

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
  preview?: PreviewEntry[];
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
/** Record bytes on the way, per run (see chunk-sinks.ts). */
const budgets = new WeakMap<SyncEngineOptions, UploadBudget>();

function sinkEngine(engine: SyncEngineOptions): SinkEngine {
  let budget = budgets.get(engine);
  if (!budget) budgets.set(engine, (budget = { bytes: 0 }));
  return { store: engine.store, uploader: engine.uploader!, maxChunkBytes: engine.maxChunkBytes, budget };
}

function emptyOutcome(session: SessionFile, status: SessionStatus): SessionOutcome {
  return { sessionId: session.sessionId, path: session.path, status, created: 0, updated: 0, spans: 0, warnings: [] };
}

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
    syncSink(sinkEngine(engine), session, token, state, plan, done),
  );
  if (outcome.status !== 'failed') stampSession(engine, session);
  return outcome;
}

/** Dry run: parse and compare with state, take no lease, send nothing, write nothing. */
async function previewSession(engine: SyncEngineOptions, session: SessionFile): Promise<SessionOutcome> {
  const preview: PreviewEntry[] = [];
  const outcome = await runSessionChunks(engine, session, engine.force, (_state, _plan, done) =>
    previewSink(preview, done),
  );
  return { ...outcome, preview };
}

function stampSession(engine: SyncEngineOptions, session: SessionFile): void {
  if (engine.stateDir) writeSessionStamp(engine.stateDir, session, engine.store.destination.key);
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
  forgetThreadList(engine);
  return fatal ? { outcomes, fatal } : { outcomes };
}
