/** Opik wire records (snake_case JSON, exactly what `POST /v1/private/{traces,spans}/batch` accepts). */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface OpikErrorInfo {
  exception_type: string;
  message?: string;
  traceback: string;
}

export interface OpikTrace {
  id: string;
  project_name: string;
  name: string;
  start_time: string;
  end_time?: string;
  input?: JsonObject;
  output?: JsonObject;
  metadata?: JsonObject;
  tags?: string[];
  thread_id: string;
  error_info?: OpikErrorInfo;
}

export type OpikSpanType = 'general' | 'tool' | 'llm' | 'guardrail';

export interface OpikSpan {
  id: string;
  project_name: string;
  trace_id: string;
  parent_span_id?: string;
  name: string;
  type: OpikSpanType;
  start_time: string;
  end_time?: string;
  input?: JsonObject;
  output?: JsonObject;
  metadata?: JsonObject;
  model?: string;
  provider?: string;
  usage?: Record<string, number>;
  tags?: string[];
  error_info?: OpikErrorInfo;
}
