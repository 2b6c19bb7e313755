import type { MappedConversation, ParseResult } from './session-model.js';

/** A record as its UTF-8 JSON text: a view into the one buffer that holds all records of its chunk. */
export interface SerializedRecord {
  readonly bytes: Uint8Array;
}

export interface WireConversation extends Omit<MappedConversation, 'trace' | 'spans'> {
  name: string;
  trace: SerializedRecord;
  spans: SerializedRecord[];
}

export interface WireParseResult extends Omit<ParseResult, 'conversations' | 'agentRecords'> {
  conversations: WireConversation[];
  agentRecords: Array<{ agentId: string; spans: SerializedRecord[] }>;
  /** The buffer every record of this result is a view into (a worker transfers it instead of copying). */
  records: ArrayBuffer;
}

/**
 * Records leave the parser as UTF-8 JSON bytes in one buffer per chunk. A worker hands the buffer over
 * without a copy (a transfer), where a structured clone of the record objects cost more than parsing
 * them did and even JSON strings were copied, deserialised and, for any non-ASCII text, held at two bytes
 * a character on the main thread; the uploader joins byte ranges into request bodies with plain memory
 * copies and never encodes text.
 */
export function toWireResult(result: ParseResult): WireParseResult {
  const texts: string[] = [];
  const lengths: number[] = [];
  let total = 0;
  const add = (record: unknown): number => {
    const text = JSON.stringify(record);
    const length = Buffer.byteLength(text);
    texts.push(text);
    lengths.push(length);
    total += length;
    return texts.length - 1;
  };
  const conversations = result.conversations.map(({ trace, spans, ...rest }) => ({ rest, name: trace.name, trace: add(trace), spans: spans.map(add) }));
  const agentRecords = result.agentRecords.map(({ agentId, spans }) => ({ agentId, spans: spans.map(add) }));

  // Never pooled: a pooled Buffer shares its ArrayBuffer with unrelated small buffers, which a transfer would take along.
  const buffer = Buffer.allocUnsafeSlow(total);
  const views: SerializedRecord[] = [];
  let offset = 0;
  texts.forEach((text, index) => {
    const length = lengths[index]!;
    buffer.write(text, offset, length, 'utf8');
    views.push({ bytes: new Uint8Array(buffer.buffer, buffer.byteOffset + offset, length) });
    offset += length;
  });
  return {
    ...result,
    conversations: conversations.map(({ rest, name, trace, spans }) => ({ ...rest, name, trace: views[trace]!, spans: spans.map((i) => views[i]!) })),
    agentRecords: agentRecords.map(({ agentId, spans }) => ({ agentId, spans: spans.map((i) => views[i]!) })),
    records: buffer.buffer as ArrayBuffer,
  };
}

export function isSerializedRecord(value: unknown): value is SerializedRecord {
  return typeof value === 'object' && value !== null && (value as SerializedRecord).bytes instanceof Uint8Array && Object.keys(value).length === 1;
}

/** The JSON text of a record (tests, debugging): the pipeline itself only ever copies bytes. */
export function recordText(record: SerializedRecord): string {
  return Buffer.from(record.bytes.buffer, record.bytes.byteOffset, record.bytes.length).toString('utf8');
}
