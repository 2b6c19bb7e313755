import type { Failure } from '../pipeline/errors.js';
import type { SerializedRecord, WireParseResult } from '../pipeline/map/serialize-parse-result.js';
import type { ParseWarning, SessionFile } from '../pipeline/session-model.js';
import { advanceSessionState, reviseSessionState } from '../pipeline/state/advance-session-state.js';
import type { SessionPlan } from '../pipeline/state/plan-session-sync.js';
import { selectsRecords, type ChunkSelection } from '../pipeline/state/select-changed-records.js';
import type { ConversationState, SessionState, StateStore } from '../pipeline/state/state-store.js';
import type { OpikUploader } from '../pipeline/upload/opik-uploader.js';
import type { RejectedItem } from '../pipeline/upload/uploader-types.js';

/**
 * What the chunk loop (sync-engine.ts) does with each selected chunk: a sync sends it and commits its
 * state once acknowledged, two chunks on the way at once with commits in chunk order; a dry run only
 * notes what would be sent.
 */

/** A dry run's line for one conversation that would be sent. */
export interface PreviewEntry {
  conversation: string;
  name: string;
  action: 'create' | 'update';
  spans: number;
}

/** What a sync sink needs of the engine. */
export interface SinkEngine {
  store: StateStore;
  uploader: OpikUploader;
  maxChunkBytes: number;
  /** Shared by every session of a run. */
  budget: UploadBudget;
}

/** Why a session stopped before its end. */
export interface Stopped {
  failure: Failure;
  fatal?: boolean;
}

export const LOST_LEASE: Failure = {
  code: 'OCS_ERR_STATE',
  message: 'lost the session lease while syncing; another process will finish it',
};

/** One parsed chunk with what was exported of its conversations and what of it to send. */
export interface SelectedChunk {
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
export interface ChunkSink {
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
export interface UploadBudget {
  /** Record bytes of the run's chunks on the way now. */
  bytes: number;
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
export function syncSink(
  engine: SinkEngine,
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
  const budget = engine.budget;
  const budgetBytes = 2 * engine.maxChunkBytes;

  async function sendAndCommit(
    chunk: SelectedChunk,
    next: SessionState,
    previous: Promise<Stopped | undefined>,
    warnings: ParseWarning[],
  ): Promise<Stopped | undefined> {
    const sent = await sendChunk(engine.uploader, chunk.selection.traces, chunk.selection.spans);
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

  /**
   * Waits for every chunk in flight: each one settles only after the one ahead of it, so the last one
   * settles last. The first stop in chunk order wins.
   */
  async function settleWith(stop: Stopped | undefined): Promise<Stopped | undefined> {
    const last = await committed;
    return stop ?? last;
  }
}

/** Dry run: note what would be created or updated. */
export function previewSink(preview: PreviewEntry[], done: (selection: ChunkSelection) => void): ChunkSink {
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
