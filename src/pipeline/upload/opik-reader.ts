import { setTimeout as sleepFor } from 'node:timers/promises';
import type { Failure } from '../errors.js';
import type { ExportedTrace } from '../state/adopt-exported-rows.js';
import { createHttpPool } from './load-undici-pool.js';

/**
 * Reads rows back from Opik, so a destination's own rows decide what is new (see adopt-exported-rows.ts).
 *
 * `GET /v1/private/traces` with `project_name`, `filters` (a JSON array of `{field, operator, value}`;
 * `thread_id` takes `=`), `page`, `size` and `exclude` (a JSON array of trace fields not to return: the
 * input and output are most of a trace's bytes). A project that does not exist holds nothing: the
 * backend answers an empty page (or 404 on some versions). No header value ever reaches a message.
 */

export interface OpikReaderConfig {
  baseUrl: string;
  apiKey?: string;
  workspace: string;
  projectName: string;
  /** Traces per page (default 500). */
  pageSize?: number;
  maxAttempts?: number;
  requestTimeoutMs?: number;
  baseBackoffMs?: number;
  signal?: AbortSignal;
}

/** A row of a list answer: its id, and whatever else the server sent. */
type ListedRow = { id: string } & Record<string, unknown>;

export type ReadOutcome<T> = { ok: true; value: T } | { ok: false; failure: Failure; fatal: boolean };

export interface OpikReader {
  /** Whether the project holds any trace at all: an empty (or missing) project needs no look-ups. */
  projectHasTraces(): Promise<ReadOutcome<boolean>>;
  /** Every trace of one thread (a session), without input and output. */
  listThreadTraces(threadId: string): Promise<ReadOutcome<ExportedTrace[]>>;
  /**
   * The ids of every thread of the project (`GET /v1/private/traces/threads`, 1000 a page): for many
   * sessions at once, a few pages instead of a look-up per session that finds nothing.
   */
  listThreadIds(): Promise<ReadOutcome<Set<string>>>;
  /** Requests made so far (for measurements). */
  readonly requests: number;
  close(): Promise<void>;
}

interface TracePage {
  total?: number;
  content?: unknown[];
}

const EXCLUDED_FIELDS = ['input', 'output'];

export function createOpikReader(config: OpikReaderConfig): OpikReader {
  const base = new URL(config.baseUrl);
  const basePath = base.pathname.replace(/\/+$/, '');
  const pageSize = Math.max(1, config.pageSize ?? 500);
  const maxAttempts = Math.max(1, config.maxAttempts ?? 6);
  const timeoutMs = config.requestTimeoutMs ?? 30_000;
  const backoffMs = config.baseBackoffMs ?? 250;
  const pool = createHttpPool(base.origin, {
    connections: 2,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  const headers: Record<string, string> = { accept: 'application/json', 'comet-workspace': config.workspace };
  if (config.apiKey) headers.authorization = config.apiKey;
  let requests = 0;
  /** Servers that refuse `exclude` (older versions may not know a field) are asked without it. */
  let useExclude = true;

  async function getOnce(resource: string, query: URLSearchParams): Promise<{ status: number; text: string }> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const onAbort = (): void => controller.abort();
    config.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      requests += 1;
      const response = await pool.request({
        method: 'GET',
        path: `${basePath}/v1/private/${resource}?${query.toString()}`,
        headers,
        signal: controller.signal,
      });
      return { status: response.statusCode, text: await response.body.text() };
    } finally {
      clearTimeout(timer);
      config.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** One page, retried on 429, 5xx, timeouts and network errors; `undefined` for a project not found. */
  async function getPage(
    params: Record<string, string>,
    resource: 'traces' | 'traces/threads' = 'traces',
  ): Promise<ReadOutcome<TracePage | undefined>> {
    let lastReason = '';
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      if (config.signal?.aborted) return aborted();
      const query = new URLSearchParams({ project_name: config.projectName, ...params });
      if (useExclude && resource === 'traces') query.set('exclude', JSON.stringify(EXCLUDED_FIELDS));
      let answer: { status: number; text: string };
      try {
        answer = await getOnce(resource, query);
      } catch (error) {
        if (config.signal?.aborted) return aborted();
        lastReason = describeNetworkError(error);
        await pause(attempt);
        continue;
      }
      const { status, text } = answer;
      if (status >= 200 && status < 300) return parsePage(text);
      if (status === 400 && useExclude && /exclude/i.test(text)) {
        useExclude = false;
        attempt -= 1;
        continue;
      }
      if (status === 404 && !/workspace/i.test(text)) return { ok: true, value: undefined };
      if (status === 429 || status === 408 || status >= 500) {
        lastReason = `HTTP ${status}`;
        await pause(attempt);
        continue;
      }
      return { ok: false, fatal: true, failure: describeRefusal(status) };
    }
    return {
      ok: false,
      fatal: false,
      failure: {
        code: 'OCS_ERR_RETRIES_EXHAUSTED',
        message: `Gave up reading traces back from ${base.host} after ${maxAttempts} attempts; last error: ${lastReason}.`,
      },
    };
  }

  async function pause(attempt: number): Promise<void> {
    const ceiling = Math.min(30_000, backoffMs * 2 ** (attempt - 1));
    try {
      await sleepFor(Math.floor(Math.random() * ceiling), undefined, { signal: config.signal });
    } catch {
      // aborted: the next attempt sees it
    }
  }

  function parsePage(text: string): ReadOutcome<TracePage> {
    try {
      const page = JSON.parse(text) as TracePage;
      if (typeof page === 'object' && page !== null && (page.content === undefined || Array.isArray(page.content)))
        return { ok: true, value: page };
    } catch {
      // fall through
    }
    return {
      ok: false,
      fatal: true,
      failure: { code: 'OCS_ERR_REJECTED', message: `Opik at ${base.host} answered a trace list that is not a page.` },
    };
  }

  function describeRefusal(status: number): Failure {
    if (status === 401) return { code: 'OCS_ERR_AUTH', message: `Opik rejected the API key (401) at ${base.host}.` };
    if (status === 403)
      return { code: 'OCS_ERR_FORBIDDEN', message: `Opik refused access to workspace "${config.workspace}" (403).` };
    if (status === 404)
      return {
        code: 'OCS_ERR_WORKSPACE',
        message: `Opik at ${base.host} does not know workspace "${config.workspace}" (404 Workspace not found).`,
      };
    return { code: 'OCS_ERR_REJECTED', message: `Opik refused to list traces (${status}).` };
  }

  /** Every row with a string `id`, over all pages of a list. */
  async function listRows(
    params: Record<string, string>,
    size: number,
    resource: 'traces' | 'traces/threads',
  ): Promise<ReadOutcome<ListedRow[]>> {
    const rows: ListedRow[] = [];
    for (let page = 1; ; page++) {
      const answer = await getPage({ ...params, page: String(page), size: String(size) }, resource);
      if (!answer.ok) return answer;
      const content = answer.value?.content ?? [];
      for (const row of content) {
        if (typeof row === 'object' && row !== null && typeof (row as { id?: unknown }).id === 'string')
          rows.push(row as ListedRow);
      }
      const total = answer.value?.total;
      if (content.length < size || (typeof total === 'number' && page * size >= total))
        return { ok: true, value: rows };
    }
  }

  return {
    get requests() {
      return requests;
    },

    async projectHasTraces() {
      const page = await getPage({ page: '1', size: '1' });
      if (!page.ok) return page;
      const value = page.value;
      return { ok: true, value: value !== undefined && ((value.total ?? 0) > 0 || (value.content?.length ?? 0) > 0) };
    },

    async listThreadTraces(threadId) {
      const filters = JSON.stringify([{ field: 'thread_id', operator: '=', value: threadId }]);
      return listRows({ filters }, pageSize, 'traces');
    },

    async listThreadIds() {
      const rows = await listRows({ truncate: 'true' }, 1000, 'traces/threads');
      return rows.ok ? { ok: true, value: new Set(rows.value.map((row) => row.id)) } : rows;
    },

    async close() {
      if (!pool.closed) await pool.close();
    },
  };
}

function aborted(): { ok: false; failure: Failure; fatal: boolean } {
  return { ok: false, fatal: true, failure: { code: 'OCS_ERR_ABORTED', message: 'Upload aborted.' } };
}

/** A short reason built only from the error's code and name, never from request details. */
function describeNetworkError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'network error';
}
