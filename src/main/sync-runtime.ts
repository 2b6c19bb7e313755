import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Failure } from '../pipeline/errors.js';
import { createRedactor } from '../pipeline/privacy/redact-secrets.js';
import type { SessionFile } from '../pipeline/session-model.js';
import { openStateStore, type StateStore } from '../pipeline/state/state-store.js';
import { createOpikUploader, type OpikUploader } from '../pipeline/upload/opik-uploader.js';
import type { Output } from './output.js';
import { createParsePool, type ParsePool } from './parse-pool.js';
import { isConfigFailure, mappingOptionsFor, resolveConfig } from './runtime-config.js';
import {
  describeMissingClaudeData,
  REDACT_PATTERNS_VARIABLE,
  redactPatternsFromEnvironment,
  resolveClaudeRoots,
  resolveStateDir,
  type GlobalFlags,
} from './runtime-context.js';
import type { Selector } from './select-sessions.js';
import { reportOutcome } from './sync-report.js';
import { syncSessions, type SessionOutcome, type SyncEngineOptions } from './sync-engine.js';

/** What `sync` (and watch and the hook's detached sync) runs with: state, workers, HTTP, opened once. */

export interface SyncFlags extends GlobalFlags, Selector {
  watch?: boolean;
  force?: boolean;
  dryRun?: boolean;
  verbose?: boolean;
  json?: boolean;
  redact?: boolean;
  redactPattern?: string[];
  threads?: number;
  debounce?: number;
  chunkMb?: number;
  retries?: number;
  /** `--no-compress` sets it false: request bodies go as plain JSON. */
  compress?: boolean;
}

export const LEASE_TTL_MS = 60_000;

/** Everything a sync needs, opened once: state, workers, HTTP. Closed by `close()` in reverse order. */
export interface SyncRuntime {
  engine: SyncEngineOptions;
  roots: string[];
  store: StateStore;
  pool: ParsePool;
  uploader: OpikUploader | undefined;
  close(): Promise<void>;
}

export async function openSyncRuntime(
  flags: SyncFlags,
  output: Output,
  options: { keepWarm?: boolean; signal?: AbortSignal } = {},
): Promise<SyncRuntime | Failure> {
  // A dry run reads and counts only: it works before the API key is set up (`sync --all --dry-run` first).
  const config = resolveConfig(flags, { allowMissingApiKey: flags.dryRun === true });
  if (isConfigFailure(config)) return config;
  for (const warning of config.warnings) output.warn(warning);
  const fromEnvironment = redactPatternsFromEnvironment();
  const extraPatterns = [...fromEnvironment, ...(flags.redactPattern ?? [])];
  const redactor = createRedactor({ enabled: flags.redact !== false, extraPatterns });
  if ('code' in redactor) {
    if (fromEnvironment.length === 0) return redactor;
    const origin = `patterns are numbered from 0: ${fromEnvironment.length} from ${REDACT_PATTERNS_VARIABLE}, then ${flags.redactPattern?.length ?? 0} from --redact-pattern`;
    return { code: redactor.code, message: `${redactor.message} (${origin})` };
  }
  const roots = await resolveClaudeRoots(flags);
  if (roots.length === 0) {
    return {
      code: 'OCS_ERR_CONFIG',
      message: describeMissingClaudeData(flags),
    };
  }
  const stateDir = resolveStateDir(flags);
  let store: StateStore;
  try {
    store = openStateStore(stateDir, { leaseTtlMs: LEASE_TTL_MS });
  } catch (error) {
    return { code: 'OCS_ERR_STATE', message: (error as Error).message };
  }
  importCcsyncOnce(store, stateDir, output);
  const pool = createParsePool({ threads: flags.threads, keepWarm: options.keepWarm });
  const uploader = flags.dryRun
    ? undefined
    : createOpikUploader({
        baseUrl: config.baseUrl,
        apiKey: config.apiKey,
        workspace: config.workspace,
        signal: options.signal,
        ...(flags.retries !== undefined ? { maxAttempts: flags.retries + 1 } : {}),
        compress: flags.compress !== false,
        onEvent: (event) => {
          if (event.type === 'retry')
            output.detail(`retrying upload (attempt ${event.attempt}, in ${event.delayMs} ms): ${event.reason}`);
          else if (event.type === 'rate-limited') output.detail(`rate limited by Opik: waiting ${event.resetMs} ms`);
          else if (event.type === 'updated')
            output.detail(`updated ${event.items} rows created over a day ago, one PATCH each, in ${event.ms} ms`);
          else if (event.type === 'compression-refused')
            output.detail(`Opik refused a gzip body (HTTP ${event.status}): sending plain JSON from now on`);
          else
            output.detail(
              `sent ${event.items} items (${(event.bytes / 1024).toFixed(0)} KiB, ${(event.wireBytes / 1024).toFixed(0)} KiB on the wire) in ${event.ms} ms`,
            );
        },
      });
  const engine: SyncEngineOptions = {
    store,
    uploader,
    pool,
    // A dry run shows counts and names only: its records carry no content (see MappingOptions.payloads).
    mapping: mappingOptionsFor(config, flags.redact !== false, extraPatterns, !flags.dryRun),
    force: Boolean(flags.force),
    maxChunkBytes: Math.max(1, flags.chunkMb ?? 6) * 1024 * 1024,
    leaseTtlMs: LEASE_TTL_MS,
    signal: options.signal,
    stateDir,
  };
  return {
    engine,
    roots,
    store,
    pool,
    uploader,
    async close() {
      await pool.close();
      await uploader?.close();
      await store.close();
    },
  };
}

/**
 * Users of the earlier @opik/ccsync keep its state in the same folder: take over its trace ids on the
 * first run, so their conversations are updated in Opik instead of exported a second time.
 */
function importCcsyncOnce(store: StateStore, stateDir: string, output: Output): void {
  const legacy = join(stateDir, 'sessions.json');
  if (store.lastCcsyncImport() || !existsSync(legacy)) return;
  const result = store.importCcsyncState(legacy);
  for (const warning of result.warnings) output.warn(warning);
  output.line(
    `Imported ${result.conversations} trace ids of ${result.sessions} sessions from @opik/ccsync (${legacy}).`,
  );
}

export async function runSyncOnce(
  runtime: SyncRuntime,
  sessions: SessionFile[],
  output: Output,
): Promise<{ outcomes: SessionOutcome[]; fatal?: Failure }> {
  let done = 0;
  // A session per parser thread and one more, so one can upload while the others parse. (The pool starts
  // lazily: `threads` is still 0 here, `maxThreads` is what it will use.)
  const concurrency = Math.max(2, runtime.pool.maxThreads) + 1;
  // Largest first: the biggest session is the longest single job, so it must not start last.
  const bytes = (s: SessionFile): number => s.size + s.agents.reduce((n, a) => n + a.size, 0);
  const ordered = [...sessions].sort((a, b) => bytes(b) - bytes(a));
  const result = await syncSessions(runtime.engine, ordered, concurrency, (outcome) => {
    done += 1;
    if (!output.json) reportOutcome(output, outcome);
    output.progress(done, sessions.length, outcome.sessionId);
  });
  output.endProgress();
  return result;
}
