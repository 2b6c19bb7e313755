/**
 * An Opik-compatible HTTP server for tests, the demo and benchmarks (docs/opik-contract.md, "The test server").
 *
 * The real backend needs Java 21, ClickHouse, MySQL, Redis and MinIO, none of which run here, so this
 * fake reproduces the contract the exporter depends on: auth modes, batch upserts with whole-row
 * replacement, the backend's 400/422 validation, the UUIDv7 ingestion window, read-back endpoints, and
 * injectable faults (429/5xx/drops/delays).
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { createStableUuidV7 } from '../../src/pipeline/map/stable-uuid-v7.js';
import { describeFaultStatus, FaultPlan } from './opik-test-server-faults.js';
import type { FaultDecision, FaultSpec, RandomFaultOptions } from './opik-test-server-faults.js';
import { validateSpansWithOpikSdk, validateTracesWithOpikSdk } from './opik-sdk-validator.js';
import {
  checkUpdateId,
  checkWireIds,
  inspectUpdateBody,
  inspectWireItem,
  SPAN_WRITE_KEYS,
  TRACE_WRITE_KEYS,
} from './opik-test-server-validation.js';
import type { WireKind } from './opik-test-server-validation.js';
import type { OpikSpan, OpikTrace } from '../../src/pipeline/opik-records.js';

export type { FaultSpec, RandomFaultKind, RandomFaultOptions } from './opik-test-server-faults.js';

export interface OpikTestServerOptions {
  /** oss: any authorization, workspace absent/''/'default'. cloud: exact apiKey and workspace. */
  mode?: 'oss' | 'cloud';
  apiKey?: string;
  workspace?: string;
  /**
   * When set, the create path (batch POST) refuses every id whose UUIDv7 time is outside now±window,
   * re-sends included, and PATCH refuses ids further than the window in the future (400), as the backend does.
   */
  ingestionWindowMs?: number | null;
  /** Also validate every batch item with the official `opik` SDK schemas (default true). */
  validateWithSdk?: boolean;
  /** Default 127.0.0.1 (port is always ephemeral). */
  host?: string;
  /** Serve `/__test/state|faults|reset` so another process can observe and steer the server. */
  exposeTestControl?: boolean;
  /** A network between client and server (default none): see {@link NetworkEmulation}. */
  network?: NetworkEmulation;
  /**
   * Answer every gzip-encoded request body with this status instead of inflating it: 415 as a server
   * that knows the encoding and refuses it, 400 "Unable to process JSON" as one whose JSON reader got
   * the compressed bytes (Dropwizard without `server.gzip.enabled`). Default: inflate, as the backend does.
   */
  refuseGzip?: 415 | 400;
  /**
   * A validation rule the client does not know (a newer backend's): a message refuses the item with 422,
   * as the backend's own bean validation does.
   */
  extraItemRule?: (kind: WireKind, item: Record<string, unknown>) => string | undefined;
}

/**
 * What a real network adds, for benchmarks: every API request (not `/__test/…`) is answered no sooner
 * than `rttMs` after its body has arrived (one round trip: request there, answer back), and request bodies
 * are read at most at `uplinkBytesPerSec`, one budget shared by all connections (the client's uplink). A
 * body the server does not read yet stays in the socket buffers, so the client feels TCP back-pressure.
 */
export interface NetworkEmulation {
  rttMs?: number;
  uplinkBytesPerSec?: number;
}

/** A trace as received (known wire fields only) with `project_name` defaulted. */
export interface StoredTrace extends Partial<OpikTrace> {
  id: string;
  project_name: string;
  [key: string]: unknown;
}

/** A span as received (known wire fields only) with `project_name` defaulted. */
export interface StoredSpan extends Partial<OpikSpan> {
  id: string;
  project_name: string;
  [key: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  path: string;
  /** 0 when the request was dropped by a fault. */
  status: number;
  itemCount: number;
  /** Body bytes as sent (compressed size for gzip bodies). */
  bytes: number;
  /** A non-empty `authorization` header was present (its value is never kept). */
  hadAuthorization: boolean;
  workspace: string | undefined;
  at: number;
  /** When the answer was sent (0 while it is being handled). */
  doneAt: number;
}

export interface OpikTestServer {
  /** What a client uses as url_override, e.g. http://127.0.0.1:PORT/api. */
  readonly baseUrl: string;
  readonly origin: string;
  traces(): StoredTrace[];
  spans(): StoredSpan[];
  trace(id: string): StoredTrace | undefined;
  span(id: string): StoredSpan | undefined;
  /** How many times an id was written (every accepted batch item or PATCH counts). */
  writeCount(id: string): number;
  /** How many times an id was written through PATCH. */
  updateCount(id: string): number;
  readonly requests: RecordedRequest[];
  /** Every 400/413/422 validation message produced; tests assert it stays empty. */
  readonly validationErrors: string[];
  injectFaults(...faults: FaultSpec[]): void;
  /** Moves the server's clock (ingestion window, upsert versions) by this much: a past or future server. */
  setClockOffset(offsetMs: number): void;
  setRandomFaults(opts: RandomFaultOptions | null): void;
  /** Replaces the network emulation (reset() keeps it: it is configuration, like the mode). */
  setNetwork(network: NetworkEmulation): void;
  /** Replaces the refuse-gzip mode (undefined: inflate gzip bodies). */
  setRefuseGzip(status: 415 | 400 | undefined): void;
  reset(): void;
  close(): Promise<void>;
}

type Row = Record<string, unknown> & { id: string; project_name: string };

interface Table {
  rows: Map<string, Row>;
  /** Upsert version per id: last_updated_at if sent, else arrival time (ReplacingMergeTree semantics). */
  versions: Map<string, number>;
}

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const DEFAULT_PROJECT = 'Default Project';
const MAX_BATCH = 1000;
/** Jackson's maxDocumentLength on the real backend. */
const MAX_BODY_BYTES = 512 * 1024 * 1024;
const gunzipAsync = promisify(gunzip);

const NOT_FOUND: Reply = { status: 404, body: { code: 404, message: 'HTTP 404 Not Found' } };
const METHOD_NOT_ALLOWED: Reply = { status: 405, body: { code: 405, message: 'HTTP 405 Method Not Allowed' } };
const FORGOTTEN: Reply = {
  status: 503,
  body: { code: 503, message: 'opik-test-server was reset while this request was in flight' },
};
const BAD_JSON: Reply = { status: 400, body: { code: 400, message: 'Unable to process JSON' } };

function normaliseProjectName(value: unknown): string {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : DEFAULT_PROJECT;
}

function sameProject(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Newest first, like the backend's `ORDER BY id DESC` (UUIDv7 ids sort by time). */
function byIdDescending(a: Row, b: Row): number {
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

function readPaging(query: URLSearchParams): { page: number; size: number } {
  const page = Number.parseInt(query.get('page') ?? '1', 10);
  const size = Number.parseInt(query.get('size') ?? '10', 10);
  return { page: Number.isFinite(page) && page > 0 ? page : 1, size: Number.isFinite(size) && size > 0 ? size : 10 };
}

function pageOf(rows: readonly unknown[], query: URLSearchParams): Reply {
  const { page, size } = readPaging(query);
  const content = rows.slice((page - 1) * size, page * size);
  return { status: 200, body: { page, size, total: rows.length, content, sortable_by: [] } };
}

/** Trace fields `filters` accepts here (TraceField): strings take `=` and `!=`, metadata a key and `=`. */
const TRACE_FILTER_STRING_FIELDS = new Set(['id', 'name', 'thread_id']);
/** Trace.TraceField: what `exclude` may name. */
const TRACE_EXCLUDABLE = new Set([
  'name',
  'start_time',
  'end_time',
  'input',
  'output',
  'metadata',
  'tags',
  'error_info',
  'usage',
  'created_at',
  'created_by',
  'last_updated_by',
  'feedback_scores',
  'comments',
  'guardrails_validations',
  'total_estimated_cost',
  'span_count',
  'llm_span_count',
  'duration',
  'thread_id',
  'visibility_mode',
]);

/**
 * `filters` of GET /traces as the backend reads it (FiltersFactory): a JSON array of `{field, operator,
 * value, key?}`, ANDed; a malformed array, an unknown field or operator, or a blank value is a 400.
 */
function readTraceFilters(raw: string | null): Array<{ matches: (row: Row) => boolean }> | string {
  if (raw === null || raw.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return `Invalid filters query parameter '${raw}'`;
  }
  if (!Array.isArray(parsed)) return `Invalid filters query parameter '${raw}'`;
  const filters: Array<{ matches: (row: Row) => boolean }> = [];
  for (const entry of parsed as unknown[]) {
    const filter = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const { field, operator, value, key } = filter;
    if (typeof field !== 'string' || (!TRACE_FILTER_STRING_FIELDS.has(field) && field !== 'metadata'))
      return `Invalid filters query parameter '${raw}'`;
    if (operator !== '=' && operator !== '!=') return `Invalid operator '${String(operator)}' for field '${field}'`;
    if (typeof value !== 'string' || value.trim() === '' || (field === 'metadata' && typeof key !== 'string'))
      return `Invalid value '${String(value)}' or key '${String(key)}' for field '${field}'`;
    const read = (row: Row): unknown =>
      field === 'metadata' ? (row.metadata as Record<string, unknown> | undefined)?.[key as string] : row[field];
    filters.push({
      matches: (row) => {
        const found = read(row);
        const text = typeof found === 'string' ? found : found === undefined ? undefined : JSON.stringify(found);
        return operator === '=' ? text === value : text !== value;
      },
    });
  }
  return filters;
}

/** `exclude` of GET /traces: a JSON array of Trace.TraceField values; anything else is a 400. */
function readTraceExclude(raw: string | null): Set<string> | string {
  if (raw === null || raw === '') return new Set();
  try {
    const parsed: unknown = JSON.parse(raw);
    if (Array.isArray(parsed) && parsed.every((field) => typeof field === 'string' && TRACE_EXCLUDABLE.has(field)))
      return new Set(parsed as string[]);
  } catch {
    // fall through
  }
  return `Invalid query param exclude '${raw}'`;
}

function timeOf(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/**
 * The shared uplink: each chunk is read when the link has carried the chunks before it (of every
 * connection), so the read rate never exceeds the cap. No burst allowance.
 */
function createUplink(): { setRate(bytesPerSec: number | undefined): void; carry(bytes: number): Promise<void> } {
  let rate: number | undefined;
  let freeAt = 0;
  return {
    setRate(bytesPerSec) {
      rate = bytesPerSec !== undefined && bytesPerSec > 0 && Number.isFinite(bytesPerSec) ? bytesPerSec : undefined;
      freeAt = 0;
    },
    async carry(bytes) {
      if (rate === undefined) return;
      const now = performance.now();
      freeAt = Math.max(now, freeAt) + (bytes / rate) * 1000;
      const wait = freeAt - now;
      if (wait >= 1) await sleep(wait);
    },
  };
}

async function readBody(
  req: IncomingMessage,
  carry?: (bytes: number) => Promise<void>,
): Promise<{ raw: Buffer; tooLarge: boolean }> {
  const chunks: Buffer[] = [];
  let total = 0;
  let tooLarge = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    // Not reading on while the uplink is busy leaves the rest in the socket: the client waits too.
    if (carry !== undefined) await carry(chunk.length);
    total += chunk.length;
    // Keep draining past the limit so the client sees an answer rather than a reset.
    if (total > MAX_BODY_BYTES) tooLarge = true;
    else chunks.push(chunk);
  }
  return { raw: tooLarge ? Buffer.alloc(0) : Buffer.concat(chunks, total), tooLarge };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export async function startOpikTestServer(options: OpikTestServerOptions = {}): Promise<OpikTestServer> {
  const mode = options.mode ?? 'oss';
  const windowMs = options.ingestionWindowMs ?? null;
  const validateWithSdk = options.validateWithSdk ?? true;
  const tables: Record<WireKind, Table> = {
    trace: { rows: new Map(), versions: new Map() },
    span: { rows: new Map(), versions: new Map() },
  };
  const writeCounts = new Map<string, number>();
  const updateCounts = new Map<string, number>();
  const requests: RecordedRequest[] = [];
  const validationErrors: string[] = [];
  const faults = new FaultPlan();
  const uplink = createUplink();
  let rttMs = 0;
  const setNetwork = (network: NetworkEmulation): void => {
    rttMs = Math.max(0, network.rttMs ?? 0);
    uplink.setRate(network.uplinkBytesPerSec);
  };
  setNetwork(options.network ?? {});
  let refuseGzip = options.refuseGzip;
  let clockOffsetMs = 0;
  const now = (): number => Date.now() + clockOffsetMs;
  // Requests still running (delayed, validating) when reset() is called belong to an earlier test:
  // they must neither store rows nor show up in `requests` afterwards.
  const inFlight = new Set<RecordedRequest>();
  const forgotten = new WeakSet<RecordedRequest>();

  function reject(status: number, messages: string[], body?: unknown): Reply {
    validationErrors.push(...messages);
    return { status, body: body ?? { errors: messages } };
  }

  function authorize(req: IncomingMessage): Reply | undefined {
    const workspace = headerValue(req, 'comet-workspace');
    if (mode === 'oss') {
      if (workspace === undefined || workspace === '' || workspace === 'default') return undefined;
      return { status: 404, body: { errors: ['Workspace not found'] } };
    }
    // Same order as RemoteAuthService: default workspace, then key, then workspace permission.
    if (workspace === undefined || workspace.trim() === '' || workspace.toLowerCase() === 'default') {
      return { status: 403, body: { code: 403, message: 'HTTP 403 Forbidden' } };
    }
    if (headerValue(req, 'authorization') !== options.apiKey || options.apiKey === undefined) {
      return { status: 401, body: describeFaultStatus(401) };
    }
    if (workspace !== options.workspace) return { status: 403, body: describeFaultStatus(403) };
    return undefined;
  }

  function storeItem(kind: WireKind, item: Record<string, unknown>, nowMs: number): void {
    const keys = kind === 'trace' ? TRACE_WRITE_KEYS : SPAN_WRITE_KEYS;
    const row = Object.fromEntries(Object.entries(item).filter(([key]) => keys.has(key))) as Row;
    // The backend generates a v7 id when none is sent.
    row.id = typeof item.id === 'string' ? item.id : createStableUuidV7(nowMs, randomUUID());
    row.project_name = normaliseProjectName(item.project_name);
    const table = tables[kind];
    const version = timeOf(item.last_updated_at) ?? nowMs;
    const stored = table.versions.get(row.id);
    writeCounts.set(row.id, (writeCounts.get(row.id) ?? 0) + 1);
    // Ties go to the later arrival, as within one batch (PR #2365).
    if (stored !== undefined && stored > version) return;
    table.rows.set(row.id, row);
    table.versions.set(row.id, version);
  }

  async function handleBatch(kind: WireKind, raw: Buffer, record: RecordedRequest): Promise<Reply> {
    const key = kind === 'trace' ? 'traces' : 'spans';
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch {
      return reject(400, ['Unable to process JSON'], BAD_JSON.body);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return reject(400, ['Unable to process JSON'], BAD_JSON.body);
    const items = (parsed as Record<string, unknown>)[key];
    if (items === undefined || items === null) return reject(422, [`${key} must not be null`]);
    if (!Array.isArray(items)) return reject(400, ['Unable to process JSON'], BAD_JSON.body);
    record.itemCount = items.length;
    if (items.length < 1 || items.length > MAX_BATCH)
      return reject(422, [`${key} size must be between 1 and ${MAX_BATCH}`]);

    const malformed: string[] = [];
    const invalid: string[] = [];
    items.forEach((item, i) => {
      const problems = inspectWireItem(kind, item, `${key}[${i}]`);
      malformed.push(...problems.malformed);
      invalid.push(...problems.invalid);
      const extra = options.extraItemRule?.(kind, item as Record<string, unknown>);
      if (extra !== undefined) invalid.push(`${key}[${i}]: ${extra}`);
    });
    if (malformed.length > 0)
      return reject(400, malformed, { code: 400, message: `Unable to process JSON: ${malformed.join('; ')}` });
    if (invalid.length > 0) return reject(422, invalid);
    if (validateWithSdk) {
      const sdkProblems = await (kind === 'trace' ? validateTracesWithOpikSdk(items) : validateSpansWithOpikSdk(items));
      if (sdkProblems.length > 0)
        return reject(
          422,
          sdkProblems.map((message) => `opik SDK schema: ${message}`),
        );
    }

    if (forgotten.has(record)) return FORGOTTEN;
    const nowMs = now();
    for (const item of items as Record<string, unknown>[]) {
      const problem = checkWireIds(kind, item, { nowMs, windowMs });
      if (problem !== undefined) {
        const text = problem.details === undefined ? problem.message : `${problem.message}: ${problem.details}`;
        return reject(400, [text], { code: 400, ...problem });
      }
    }
    for (const item of items as Record<string, unknown>[]) storeItem(kind, item, nowMs);
    return { status: 204 };
  }

  /**
   * `PATCH /traces/{id}` and `/spans/{id}`: a field-level update of the newest row. A missing id gets a
   * placeholder row with start_time at the epoch (`partialInsert`), which a later batch create replaces.
   */
  function handleUpdate(kind: WireKind, id: string, raw: Buffer, record: RecordedRequest): Reply {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return reject(400, ['Unable to process JSON'], BAD_JSON.body);
    }
    record.itemCount = 1;
    const problems = inspectUpdateBody(kind, body);
    if (problems.malformed.length > 0)
      return reject(400, problems.malformed, {
        code: 400,
        message: `Unable to process JSON: ${problems.malformed.join('; ')}`,
      });
    if (problems.invalid.length > 0) return reject(422, problems.invalid);
    const nowMs = now();
    const idProblem = checkUpdateId(kind, id, { nowMs, windowMs });
    if (idProblem !== undefined) {
      const text = idProblem.details === undefined ? idProblem.message : `${idProblem.message}: ${idProblem.details}`;
      return reject(400, [text], { code: 400, ...idProblem });
    }
    const update = body as Record<string, unknown>;
    const projectName = normaliseProjectName(update.project_name);
    const table = tables[kind];
    const existing = table.rows.get(id);
    if (existing !== undefined && !sameProject(existing.project_name, projectName)) {
      return reject(409, ['Project name and workspace name do not match the existing ' + kind]);
    }
    // A span's trace and parent cannot move (absent and present count as different).
    if (kind === 'span' && existing !== undefined) {
      if (
        existing.trace_id !== update.trace_id ||
        (existing.parent_span_id ?? null) !== (update.parent_span_id ?? null)
      ) {
        return reject(409, ['trace_id or parent_span_id does not match the existing span']);
      }
    }
    const row: Row =
      existing !== undefined
        ? { ...existing }
        : { id, project_name: projectName, start_time: new Date(0).toISOString() };
    for (const [key, value] of Object.entries(update)) {
      if (
        value === null ||
        value === undefined ||
        key === 'project_id' ||
        key === 'tags_to_add' ||
        key === 'tags_to_remove'
      )
        continue;
      row[key] = value;
    }
    row.project_name = existing?.project_name ?? projectName;
    if (Array.isArray(update.tags_to_add) || Array.isArray(update.tags_to_remove)) {
      const tags = new Set(Array.isArray(row.tags) ? (row.tags as string[]) : []);
      for (const tag of (update.tags_to_add as string[] | undefined) ?? []) tags.add(tag);
      for (const tag of (update.tags_to_remove as string[] | undefined) ?? []) tags.delete(tag);
      row.tags = [...tags];
    }
    writeCounts.set(id, (writeCounts.get(id) ?? 0) + 1);
    updateCounts.set(id, (updateCounts.get(id) ?? 0) + 1);
    table.rows.set(id, row);
    table.versions.set(id, nowMs);
    return { status: 204 };
  }

  function listTraces(query: URLSearchParams): Reply {
    const project = query.get('project_name');
    if (project === null || project.trim() === '') {
      return reject(400, ["Either 'project_name' or 'project_id' query params must be provided"], {
        code: 400,
        message: "Either 'project_name' or 'project_id' query params must be provided",
      });
    }
    const threadId = query.get('thread_id');
    const filters = readTraceFilters(query.get('filters'));
    if (typeof filters === 'string') return reject(400, [filters], { code: 400, message: filters });
    const exclude = readTraceExclude(query.get('exclude'));
    if (typeof exclude === 'string') return reject(400, [exclude], { code: 400, message: exclude });
    const rows = [...tables.trace.rows.values()].filter(
      (row) =>
        sameProject(row.project_name, project.trim()) &&
        (threadId === null || row.thread_id === threadId) &&
        filters.every((filter) => filter.matches(row)),
    );
    const page = pageOf(rows.sort(byIdDescending), query);
    if (exclude.size === 0) return page;
    const body = page.body as { content: Row[] };
    body.content = body.content.map(
      (row) => Object.fromEntries(Object.entries(row).filter(([key]) => !exclude.has(key))) as Row,
    );
    return page;
  }

  function listSpans(query: URLSearchParams): Reply {
    const project = query.get('project_name');
    if (project === null || project.trim() === '') {
      return reject(400, ["Either 'project_name' or 'project_id' query params must be provided"], {
        code: 400,
        message: "Either 'project_name' or 'project_id' query params must be provided",
      });
    }
    const traceId = query.get('trace_id');
    const type = query.get('type');
    const rows = [...tables.span.rows.values()].filter(
      (row) =>
        sameProject(row.project_name, project.trim()) &&
        (traceId === null || row.trace_id === traceId) &&
        (type === null || row.type === type),
    );
    return pageOf(rows.sort(byIdDescending), query);
  }

  /** Threads are implicit: traces sharing a thread_id within a project (docs/opik-contract.md, "Threads"). */
  function listThreads(query: URLSearchParams): Reply {
    const project = query.get('project_name');
    if (project === null || project.trim() === '') {
      return reject(400, ["Either 'project_name' or 'project_id' query params must be provided"], {
        code: 400,
        message: "Either 'project_name' or 'project_id' query params must be provided",
      });
    }
    const groups = new Map<string, Row[]>();
    for (const row of tables.trace.rows.values()) {
      if (!sameProject(row.project_name, project.trim()) || typeof row.thread_id !== 'string') continue;
      const group = groups.get(row.thread_id) ?? [];
      group.push(row);
      groups.set(row.thread_id, group);
    }
    const threads = [...groups.entries()].map(([threadId, rows]) => {
      const ordered = [...rows].sort((a, b) => (timeOf(a.start_time) ?? 0) - (timeOf(b.start_time) ?? 0));
      const first = ordered[0]!;
      const last = ordered[ordered.length - 1]!;
      const startMs = timeOf(first.start_time) ?? 0;
      const endMs = Math.max(...ordered.map((row) => timeOf(row.end_time) ?? timeOf(row.start_time) ?? 0));
      return {
        id: threadId,
        thread_model_id: createStableUuidV7(startMs, `${first.project_name}\u0000${threadId}`),
        project_name: first.project_name,
        start_time: new Date(startMs).toISOString(),
        end_time: new Date(endMs).toISOString(),
        duration: endMs - startMs,
        number_of_messages: rows.length,
        first_message: first.input,
        last_message: last.output,
        status: 'active',
        tags: [],
        last_updated_at: new Date(endMs).toISOString(),
      };
    });
    threads.sort((a, b) => (a.end_time < b.end_time ? 1 : a.end_time > b.end_time ? -1 : 0));
    return pageOf(threads, query);
  }

  async function route(
    req: IncomingMessage,
    path: string,
    query: URLSearchParams,
    raw: Buffer,
    record: RecordedRequest,
  ): Promise<Reply> {
    const method = record.method;
    if (path === '/is-alive/ping')
      return method === 'GET'
        ? { status: 200, body: { message: 'Healthy Server', healthy: true } }
        : METHOD_NOT_ALLOWED;
    if (path === '/is-alive/ver')
      return method === 'GET' ? { status: 200, body: { version: 'opik-test-server' } } : METHOD_NOT_ALLOWED;
    if (!path.startsWith('/v1/private/')) return NOT_FOUND;
    const denied = authorize(req);
    if (denied !== undefined) return denied;
    const rest = path.slice('/v1/private'.length);
    if (rest === '/auth') return method === 'POST' ? { status: 204 } : METHOD_NOT_ALLOWED;
    if (rest === '/auth/workspace') {
      return method === 'GET'
        ? { status: 200, body: { workspace_name: record.workspace || 'default' } }
        : METHOD_NOT_ALLOWED;
    }
    if (rest === '/traces/batch') return method === 'POST' ? handleBatch('trace', raw, record) : METHOD_NOT_ALLOWED;
    if (rest === '/spans/batch') return method === 'POST' ? handleBatch('span', raw, record) : METHOD_NOT_ALLOWED;
    const updated = /^\/(traces|spans)\/([^/]+)$/.exec(rest);
    if (method === 'PATCH' && updated !== null)
      return handleUpdate(updated[1] === 'traces' ? 'trace' : 'span', decodeURIComponent(updated[2]!), raw, record);
    if (method !== 'GET')
      return rest.startsWith('/traces') || rest.startsWith('/spans') ? METHOD_NOT_ALLOWED : NOT_FOUND;
    if (rest === '/traces') return listTraces(query);
    if (rest === '/traces/threads') return listThreads(query);
    if (rest === '/spans') return listSpans(query);
    const byId = /^\/(traces|spans)\/([^/]+)$/.exec(rest);
    if (byId !== null) {
      const kind: WireKind = byId[1] === 'traces' ? 'trace' : 'span';
      const row = tables[kind].rows.get(decodeURIComponent(byId[2]!));
      if (row !== undefined) return { status: 200, body: row };
      return { status: 404, body: { errors: [kind === 'trace' ? 'Trace not found' : 'Span not found'] } };
    }
    return NOT_FOUND;
  }

  function reset(): void {
    for (const table of Object.values(tables)) {
      table.rows.clear();
      table.versions.clear();
    }
    writeCounts.clear();
    updateCounts.clear();
    for (const record of inFlight) forgotten.add(record);
    // Cleared in place: callers may hold the arrays.
    requests.length = 0;
    validationErrors.length = 0;
    faults.clear();
  }

  function writeCountsObject(): Record<string, number> {
    return Object.fromEntries(writeCounts);
  }

  function controlReply(method: string, path: string, raw: Buffer): Reply {
    if (path === '/__test/state' && method === 'GET') {
      return {
        status: 200,
        body: {
          traces: [...tables.trace.rows.values()],
          spans: [...tables.span.rows.values()],
          writeCounts: writeCountsObject(),
          requests: requests.length,
          validationErrors,
        },
      };
    }
    if (path === '/__test/reset' && method === 'POST') {
      reset();
      return { status: 204 };
    }
    if (path === '/__test/network' && method === 'POST') {
      const body = JSON.parse(raw.toString('utf8') || '{}') as { rttMs?: unknown; uplinkBytesPerSec?: unknown };
      setNetwork({
        rttMs: typeof body.rttMs === 'number' ? body.rttMs : 0,
        uplinkBytesPerSec: typeof body.uplinkBytesPerSec === 'number' ? body.uplinkBytesPerSec : undefined,
      });
      return { status: 204 };
    }
    if (path === '/__test/faults' && method === 'POST') {
      try {
        applyRemoteFaults(JSON.parse(raw.toString('utf8')) as unknown);
        return { status: 204 };
      } catch (error) {
        return { status: 400, body: { errors: [error instanceof Error ? error.message : String(error)] } };
      }
    }
    return NOT_FOUND;
  }

  /** `[FaultSpec with path as a regex source]` or `{"random": {...} | null}`. */
  function applyRemoteFaults(body: unknown): void {
    if (Array.isArray(body)) {
      faults.inject(
        body.map((entry: unknown) => {
          const spec = entry as Omit<FaultSpec, 'path'> & { path?: string };
          if (spec.kind !== 'status' && spec.kind !== 'drop' && spec.kind !== 'delay')
            throw new Error('fault kind must be status, drop or delay');
          return { ...spec, path: typeof spec.path === 'string' ? new RegExp(spec.path) : undefined };
        }),
      );
      return;
    }
    if (typeof body === 'object' && body !== null && 'random' in body) {
      faults.setRandom((body as { random: RandomFaultOptions | null }).random);
      return;
    }
    throw new Error('expected an array of faults or {"random": ...}');
  }

  function send(res: ServerResponse, reply: Reply): void {
    const payload = reply.body === undefined ? undefined : Buffer.from(JSON.stringify(reply.body));
    const headers: Record<string, string | number> = { ...reply.headers };
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = payload.length;
    }
    res.writeHead(reply.status, headers);
    res.end(payload);
  }

  async function decodeBody(req: IncomingMessage, raw: Buffer): Promise<Buffer | Reply> {
    const encoding = (headerValue(req, 'content-encoding') ?? 'identity').trim().toLowerCase();
    if (encoding === 'identity' || encoding === '' || raw.length === 0) return raw;
    // A configured refusal, not a client mistake: it stays out of validationErrors.
    if (encoding === 'gzip' && refuseGzip === 415)
      return { status: 415, body: { code: 415, message: 'HTTP 415 Unsupported Media Type' } };
    if (encoding === 'gzip' && refuseGzip === 400) return BAD_JSON;
    if (encoding !== 'gzip')
      return reject(400, [`Unsupported Content-Encoding: ${encoding}`], {
        code: 400,
        message: `Unsupported Content-Encoding: ${encoding}`,
      });
    try {
      return await gunzipAsync(raw, { maxOutputLength: MAX_BODY_BYTES });
    } catch {
      return reject(400, ['Unable to decompress gzip body'], { code: 400, message: 'Unable to decompress gzip body' });
    }
  }

  async function applyFault(
    fault: FaultDecision | undefined,
    res: ServerResponse,
    record: RecordedRequest,
  ): Promise<boolean> {
    if (fault === undefined) return false;
    if (fault.kind === 'delay') {
      await sleep(fault.delayMs);
      return false;
    }
    if (fault.kind === 'drop') {
      record.status = 0;
      res.socket?.destroy();
      return true;
    }
    record.status = fault.status;
    send(res, { status: fault.status, body: describeFaultStatus(fault.status), headers: fault.headers });
    return true;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = new URL(req.url ?? '/', 'http://opik-test-server.local');
    const path =
      url.pathname === '/api' || url.pathname.startsWith('/api/') ? url.pathname.slice(4) || '/' : url.pathname;
    const method = req.method ?? 'GET';
    const control = options.exposeTestControl === true && path.startsWith('/__test/');
    const { raw, tooLarge } = await readBody(req, control ? undefined : (bytes) => uplink.carry(bytes));
    if (control) {
      send(res, controlReply(method, path, raw));
      return;
    }
    // The round trip: the answer leaves one RTT after the body arrived (handling time comes on top).
    if (rttMs > 0) await sleep(rttMs);
    const authorization = headerValue(req, 'authorization');
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      status: 0,
      itemCount: 0,
      bytes: raw.length,
      hadAuthorization: authorization !== undefined && authorization !== '',
      workspace: headerValue(req, 'comet-workspace'),
      at,
      doneAt: 0,
    };
    try {
      inFlight.add(record);
      if (await applyFault(faults.next(url.pathname), res, record)) return;
      let reply: Reply;
      if (forgotten.has(record)) {
        reply = FORGOTTEN;
      } else if (tooLarge) {
        reply = reject(413, ['Request Entity Too Large'], describeFaultStatus(413));
      } else {
        const decoded = await decodeBody(req, raw);
        reply = Buffer.isBuffer(decoded) ? await route(req, path, url.searchParams, decoded, record) : decoded;
      }
      record.status = reply.status;
      send(res, reply);
    } finally {
      record.doneAt = Date.now();
      inFlight.delete(record);
      if (!forgotten.has(record)) requests.push(record);
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // A bug in the fake must surface as a 500 the test can see, not as a hung request.
      if (!res.headersSent)
        send(res, { status: 500, body: { code: 500, message: `opik-test-server: ${String(error)}` } });
      else res.destroy();
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    baseUrl: `${origin}/api`,
    origin,
    traces: () => [...tables.trace.rows.values()] as StoredTrace[],
    spans: () => [...tables.span.rows.values()] as StoredSpan[],
    trace: (id) => tables.trace.rows.get(id),
    span: (id) => tables.span.rows.get(id),
    writeCount: (id) => writeCounts.get(id) ?? 0,
    updateCount: (id) => updateCounts.get(id) ?? 0,
    requests,
    validationErrors,
    injectFaults: (...specs) => faults.inject(specs),
    setClockOffset: (offsetMs) => {
      clockOffsetMs = offsetMs;
    },
    setRandomFaults: (opts) => faults.setRandom(opts),
    setNetwork,
    setRefuseGzip: (status) => {
      refuseGzip = status;
    },
    reset,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        // Keep-alive sockets from clients would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}
