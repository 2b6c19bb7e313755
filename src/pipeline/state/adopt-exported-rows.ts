import { idTimeFor } from '../map/id-times.js';
import { createStableUuidV7, isUuidV7, readUuidV7Time } from '../map/stable-uuid-v7.js';
import { readSyncMetadata } from '../map/sync-metadata.js';
import type { ConversationIdentity } from '../session-model.js';
import type { ConversationState } from './state-store.js';

/**
 * Opik is the truth, state a cache: a session with no state for a destination first takes over the ids
 * its rows already have there, so lost state, a new machine or a second state dir re-send under the same
 * ids (an update) instead of new ones (a duplicate).
 *
 * A trace is found by its thread (the session id) and `metadata.conversation_key`. Its span ids follow
 * from the conversation's identity (map-conversation.ts): the trace id, its time, and the anchors the
 * trace carries in `metadata.opik_chat_sync` (sync-metadata.ts). Traces written before that metadata
 * existed give their anchor back through their own id: the id is recomputed for candidate anchors until
 * it matches exactly; one of the first versions' ids (all spans at the trace id's time) has no anchor.
 */

/** The fields of a trace row adoption reads. */
export interface ExportedTrace {
  id: string;
  start_time?: unknown;
  metadata?: unknown;
}

export interface AdoptedRows {
  identities: Record<string, ConversationIdentity>;
  /** As stored states, marked `adopted`: the content fingerprint (when the row has one) and span count. */
  conversations: Record<string, ConversationState>;
  /** Conversations with more than one trace there (exported twice by an older version): the oldest is kept. */
  duplicates: number;
}

export function adoptExportedRows(sessionId: string, traces: readonly ExportedTrace[], now: number): AdoptedRows {
  const adopted: AdoptedRows = { identities: {}, conversations: {}, duplicates: 0 };
  // Oldest first: of two traces for one conversation, the first export is the one to keep.
  const ordered = [...traces].filter((trace) => isUuidV7(trace.id)).sort((a, b) => (a.id < b.id ? -1 : 1));
  for (const trace of ordered) {
    const metadata = isObject(trace.metadata) ? trace.metadata : {};
    const key = metadata.conversation_key;
    if (typeof key !== 'string' || key === '') continue;
    if (key in adopted.identities) {
      adopted.duplicates += 1;
      continue;
    }
    const identity = identityOf(sessionId, key, trace, metadata);
    adopted.identities[key] = identity;
    const sync = readSyncMetadata(metadata);
    adopted.conversations[key] = {
      traceId: identity.traceId,
      epochMs: identity.epochMs,
      // Without one, the conversation is re-sent: same ids, complete rows.
      fingerprint: sync.fingerprint ?? '',
      startOffset: -1,
      spanCount: typeof metadata.span_count === 'number' ? metadata.span_count : 0,
      syncedAt: now,
      adopted: true,
    };
  }
  return adopted;
}

function identityOf(
  sessionId: string,
  key: string,
  trace: ExportedTrace,
  metadata: Record<string, unknown>,
): ConversationIdentity {
  const identity: ConversationIdentity = { traceId: trace.id, epochMs: readUuidV7Time(trace.id) };
  const sync = readSyncMetadata(metadata);
  const anchorMs =
    sync.anchorMs ??
    inferAnchor(sessionId, key, trace.id, typeof trace.start_time === 'string' ? trace.start_time : '');
  if (anchorMs === undefined) return identity;
  identity.anchorMs = anchorMs;
  if (sync.reanchors) identity.reanchors = sync.reanchors;
  if (sync.sentUntilMs !== undefined) identity.sentUntilMs = sync.sentUntilMs;
  return identity;
}

/** The fraction-of-a-millisecond bits a v7 id carries after its time (see createStableUuidV7). */
function readFraction(id: string): number {
  const hex = id.replace(/-/g, '');
  const byte = (index: number): number => parseInt(hex.slice(index * 2, index * 2 + 2), 16);
  return ((byte(6) & 0x0f) << 26) + (byte(7) << 18) + ((byte(8) & 0x3f) << 12) + (byte(9) << 4) + (byte(10) >> 4);
}

const MAX_ANCHOR_SEARCH_MS = 50 * 365 * 24 * 3_600_000;
const UNSQUEEZED_ANCHOR_LEAD_MS = 3_600_000;

/**
 * The anchor a trace id was made with, for traces that do not carry it: undefined for ids of the first
 * versions (no anchor: every span id embeds the trace id's time), else the anchor whose id matches exactly.
 */
export function inferAnchor(sessionId: string, key: string, traceId: string, startTime: string): number | undefined {
  const idKey = `${sessionId}:trace:${key}`;
  const ms = readUuidV7Time(traceId);
  if (createStableUuidV7(ms, idKey) === traceId) return undefined;
  const start = Date.parse(startTime);
  if (!Number.isFinite(start)) return undefined;
  const fraction = readFraction(traceId);
  // At or after its anchor an event embeds its own time: any anchor up to the start gives this id. An hour
  // before it keeps what ran just before the prompt (a Warmup) at its own time too, as its anchor (the
  // export, 20 h back) almost surely did.
  if (fraction === 0 && ms === Math.floor(start) && createStableUuidV7(ms, idKey, 0) === traceId)
    return ms - UNSQUEEZED_ANCHOR_LEAD_MS;
  // Squeezed before its anchor: the id time grows with the anchor, so search for it.
  const before = (anchor: number): boolean => {
    const time = idTimeFor(start, anchor);
    return time.ms < ms || (time.ms === ms && time.fraction < fraction);
  };
  let low = Math.floor(start) + 1;
  let high = low + MAX_ANCHOR_SEARCH_MS;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    if (before(middle)) low = middle + 1;
    else high = middle;
  }
  for (let anchor = low - 2; anchor <= low + 2; anchor++) {
    const time = idTimeFor(start, anchor);
    if (createStableUuidV7(time.ms, idKey, time.fraction) === traceId) return anchor;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
