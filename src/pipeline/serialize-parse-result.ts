import type { MappedConversation, ParseResult } from './session-model.js';

/** A record already turned into its JSON wire text. */
export interface SerializedRecord {
  readonly json: string;
}

export interface WireConversation extends Omit<MappedConversation, 'trace' | 'spans'> {
  name: string;
  trace: SerializedRecord;
  spans: SerializedRecord[];
}

export interface WireParseResult extends Omit<ParseResult, 'conversations' | 'agentRecords'> {
  conversations: WireConversation[];
  agentRecords: Array<{ agentId: string; spans: SerializedRecord[] }>;
}

const serialize = (record: unknown): SerializedRecord => ({ json: JSON.stringify(record) });

/**
 * Records leave the worker as JSON text: a string crosses the thread boundary as one copy, where a
 * structured clone of the same object graph costs more than parsing it did, and the uploader needs
 * the text anyway. The main thread never rebuilds the objects.
 */
export function toWireResult(result: ParseResult): WireParseResult {
  return {
    ...result,
    conversations: result.conversations.map(({ trace, spans, ...rest }) => ({
      ...rest,
      name: trace.name,
      trace: serialize(trace),
      spans: spans.map(serialize),
    })),
    agentRecords: result.agentRecords.map(({ agentId, spans }) => ({ agentId, spans: spans.map(serialize) })),
  };
}

export function isSerializedRecord(value: unknown): value is SerializedRecord {
  return typeof value === 'object' && value !== null && typeof (value as SerializedRecord).json === 'string' && Object.keys(value).length === 1;
}
