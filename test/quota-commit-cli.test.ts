import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverSessions } from '../src/pipeline/transcript/discover-sessions.js';
import { startOpikTestServer, type OpikTestServer } from './support/opik-test-server.js';
import { linkRealFixtureRoot, makeTempDir } from './support/fixture-roots.js';
import { parseWholeSession } from './support/parse-helpers.js';
import { cliEnv, runCli } from './support/run-cli.js';

/**
 * "402 advances no state", made exact: after a quota refusal in the middle of `sync --all`, a session is
 * committed if and only if Opik acknowledged every one of its rows; the refused one and those never
 * started are not, and a re-run completes exactly the rest.
 */

let server: OpikTestServer;
let temp: { path: string; remove: () => Promise<void> };
let claude: string;
/** Per session: the rows one clean sync makes. */
const expected = new Map<string, { traces: number; spans: number }>();

beforeAll(async () => {
  server = await startOpikTestServer({ validateWithSdk: false });
  temp = await makeTempDir();
  claude = join(temp.path, 'claude');
  await linkRealFixtureRoot(claude);
  for (const session of (await discoverSessions([claude])).sessions) {
    const parsed = await parseWholeSession(session);
    expected.set(session.sessionId, {
      traces: parsed.conversations.length,
      spans:
        parsed.conversations.reduce((n, c) => n + c.spans.length, 0) +
        parsed.agentRecords.reduce((n, r) => n + r.spans.length, 0),
    });
  }
});
afterAll(async () => {
  await server.close();
  await temp.remove();
});

function rowsOnServer(sessionId: string): { traces: number; spans: number } {
  const traceIds = new Set(
    server
      .traces()
      .filter((t) => t.thread_id === sessionId)
      .map((t) => t.id),
  );
  return { traces: traceIds.size, spans: server.spans().filter((s) => traceIds.has(String(s.trace_id))).length };
}

describe('a quota refusal (402) in the middle of sync --all', () => {
  it('commits exactly the sessions whose every row Opik acknowledged, and a re-run completes the rest', async () => {
    const env = cliEnv(join(temp.path, 'home'), {
      OPIK_URL_OVERRIDE: server.baseUrl,
      OPIK_CHAT_SYNC_STATE_DIR: join(temp.path, 'state'),
      CLAUDE_CONFIG_DIR: claude,
    });
    // Five batch requests pass, the sixth is refused.
    server.injectFaults({ kind: 'delay', delayMs: 0, times: 5 }, { kind: 'status', status: 402, times: 1 });
    const result = await runCli(['sync', '--all'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/OCS_ERR_QUOTA/);
    const shown = JSON.parse((await runCli(['state', '--show', '--json'], env)).stdout) as {
      sessions: Array<{ sessionId: string; exportedTraces: number; exportedSpans: number }>;
    };
    const committed = new Map(shown.sessions.map((s) => [s.sessionId, s]));

    let refused = 0;
    for (const [sessionId, rows] of expected) {
      if (rows.traces === 0 && rows.spans === 0) continue;
      const onServer = rowsOnServer(sessionId);
      const complete = onServer.traces === rows.traces && onServer.spans === rows.spans;
      expect(committed.has(sessionId), `${sessionId}: committed iff all its rows arrived`).toBe(complete);
      if (complete)
        expect(committed.get(sessionId)).toMatchObject({ exportedTraces: rows.traces, exportedSpans: rows.spans });
      else refused += 1;
    }
    // The refused session at least, and no session with rows is committed without them.
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(committed.size).toBeGreaterThanOrEqual(1);

    const rerun = await runCli(['sync', '--all', '--json'], env);
    expect(rerun.code).toBe(0);
    const totals = (JSON.parse(rerun.stdout) as { totals: { created: number } }).totals;
    // Only what was not committed is new now: committed sessions are skipped by a stat.
    const missing = [...expected].filter(([id]) => !committed.has(id)).reduce((n, [, rows]) => n + rows.traces, 0);
    expect(totals.created).toBe(missing);
    for (const [sessionId, rows] of expected) expect(rowsOnServer(sessionId), sessionId).toEqual(rows);
    expect(server.traces()).toHaveLength([...expected.values()].reduce((n, rows) => n + rows.traces, 0));
  });
});
