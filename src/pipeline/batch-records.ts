import { isSerializedRecord } from './serialize-parse-result.js';

/**
 * Splits records into request bodies for the Opik batch endpoints (≤1000 items, a byte cap).
 * Records arrive as UTF-8 JSON bytes (see serialize-parse-result.ts) and bodies are assembled by copying
 * them, so the size we check is the size we send and no text is encoded twice.
 */

export interface RecordBatch<T> {
  items: T[];
  /** `{"<key>":[…]}` as UTF-8, ready to POST. */
  body: Buffer;
  /** `body.length`. */
  bytes: number;
}

export interface SplitOptions {
  maxItems?: number;
  maxBytes?: number;
}

export const OPIK_MAX_BATCH_ITEMS = 1000;
export const DEFAULT_MAX_BATCH_BYTES = 20 * 1024 * 1024;

const COMMA = 0x2c;

/** `wrapperKey` is `traces` or `spans`. An item larger than `maxBytes` goes alone (the server decides). */
export function splitIntoBatches<T>(items: readonly T[], wrapperKey: string, options: SplitOptions = {}): RecordBatch<T>[] {
  const maxItems = Math.max(1, Math.min(options.maxItems ?? OPIK_MAX_BATCH_ITEMS, OPIK_MAX_BATCH_ITEMS));
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BATCH_BYTES;
  const prefix = Buffer.from(`{${JSON.stringify(wrapperKey)}:[`);
  const suffix = Buffer.from(']}');
  const overhead = prefix.length + suffix.length;

  const batches: RecordBatch<T>[] = [];
  let batchItems: T[] = [];
  let parts: Uint8Array[] = [];
  let bytes = overhead;

  const flush = (): void => {
    if (parts.length === 0) return;
    const body = Buffer.allocUnsafe(bytes);
    let at = prefix.copy(body, 0);
    parts.forEach((part, index) => {
      if (index > 0) body[at++] = COMMA;
      body.set(part, at);
      at += part.length;
    });
    suffix.copy(body, at);
    batches.push({ items: batchItems, body, bytes });
    batchItems = [];
    parts = [];
    bytes = overhead;
  };

  for (const item of items) {
    // Records from the parser are bytes already; plain objects (tests, callers) are serialised here once.
    const part = isSerializedRecord(item) ? item.bytes : Buffer.from(JSON.stringify(item));
    const added = part.length + (parts.length > 0 ? 1 : 0);
    if (parts.length > 0 && (parts.length >= maxItems || bytes + added > maxBytes)) flush();
    bytes += part.length + (parts.length > 0 ? 1 : 0);
    parts.push(part);
    batchItems.push(item);
  }
  flush();
  return batches;
}
