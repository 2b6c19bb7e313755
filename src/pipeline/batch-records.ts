import { isSerializedRecord } from './serialize-parse-result.js';

/**
 * Splits records into request bodies for the Opik batch endpoints (≤1000 items, a byte cap).
 * Each item is serialised exactly once and the body is built by joining, so the size we check is
 * the size we send.
 */

export interface RecordBatch<T> {
  items: T[];
  /** `{"<key>":[…]}`, ready to POST. */
  body: string;
  /** UTF-8 length of `body`. */
  bytes: number;
}

export interface SplitOptions {
  maxItems?: number;
  maxBytes?: number;
}

export const OPIK_MAX_BATCH_ITEMS = 1000;
export const DEFAULT_MAX_BATCH_BYTES = 20 * 1024 * 1024;

/** `wrapperKey` is `traces` or `spans`. An item larger than `maxBytes` goes alone (the server decides). */
export function splitIntoBatches<T>(items: readonly T[], wrapperKey: string, options: SplitOptions = {}): RecordBatch<T>[] {
  const maxItems = Math.max(1, Math.min(options.maxItems ?? OPIK_MAX_BATCH_ITEMS, OPIK_MAX_BATCH_ITEMS));
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BATCH_BYTES;
  const prefix = `{${JSON.stringify(wrapperKey)}:[`;
  const suffix = ']}';
  const overhead = Buffer.byteLength(prefix) + suffix.length;

  const batches: RecordBatch<T>[] = [];
  let batchItems: T[] = [];
  let parts: string[] = [];
  let bytes = overhead;

  const flush = (): void => {
    if (parts.length === 0) return;
    batches.push({ items: batchItems, body: prefix + parts.join(',') + suffix, bytes });
    batchItems = [];
    parts = [];
    bytes = overhead;
  };

  for (const item of items) {
    // Records serialised in a worker arrive as `{ json }` and are used as they are.
    const json = isSerializedRecord(item) ? item.json : JSON.stringify(item);
    const size = Buffer.byteLength(json);
    const added = size + (parts.length > 0 ? 1 : 0);
    if (parts.length > 0 && (parts.length >= maxItems || bytes + added > maxBytes)) flush();
    bytes += size + (parts.length > 0 ? 1 : 0);
    parts.push(json);
    batchItems.push(item);
  }
  flush();
  return batches;
}
