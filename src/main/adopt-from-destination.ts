import type { SessionFile, ConversationIdentity } from '../pipeline/session-model.js';
import { adoptExportedRows } from '../pipeline/state/adopt-exported-rows.js';
import type { ConversationState, StateStore } from '../pipeline/state/state-store.js';
import type { OpikReader } from '../pipeline/upload/opik-reader.js';
import type { OpikUploader } from '../pipeline/upload/opik-uploader.js';
import type { Stopped } from './chunk-sinks.js';

/** What adoption needs of the engine (the engine object itself: it keys the run's thread list). */
export interface AdoptionEngine {
  store: StateStore;
  uploader: OpikUploader | undefined;
  reader?: OpikReader;
}

/** How long "the project held no trace" is believed: rows another process writes meanwhile are rare. */
const EMPTY_PROJECT_TTL_MS = 10 * 60_000;

/**
 * A session this destination has no state for may still have rows there (state deleted, another machine,
 * another state dir): their ids are adopted before anything is parsed. A project that held no trace when
 * first asked needs no look-up per session, which keeps a backfill into a new project as fast as before.
 */
export async function adoptFromDestination(
  engine: AdoptionEngine,
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

/** From this many sessions without state in one run, the project's thread ids are listed once instead. */
const THREAD_LIST_FROM = 50;
/** A run's list of the project's threads (see listThreadsForRun); failed lists are not used. */
const runThreads = new WeakMap<AdoptionEngine, Promise<Awaited<ReturnType<OpikReader['listThreadIds']>>>>();

/**
 * Many sessions without state in one run (a new machine, a lost or second state dir, a project that
 * holds other sessions): one listing of the project's threads tells which of them can have rows there,
 * so only those are looked up. Not for an empty project (the probe says so) nor for a few sessions.
 */
export async function listThreadsForRun(engine: AdoptionEngine, sessions: SessionFile[]): Promise<void> {
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

/** Forgets the run's thread list (end of syncSessions). */
export function forgetThreadList(engine: AdoptionEngine): void {
  runThreads.delete(engine);
}
