import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startOpikTestServer, type OpikTestServer, type StoredTrace } from './support/opik-test-server.js';
import { copyOwnFixtureRoot, makeTempDir, OWN_SESSION_ID } from './support/fixture-roots.js';
import { cliEnv, runCli } from './support/run-cli.js';
import { appendAgentCall } from './support/grow-transcript.js';

/**
 * Issue 14, points 7 and 8, through the CLI: a same-length edit of a transcript is sent (the secret a user
 * scrubbed with `sed -i` leaves Opik), and a subagent that grows after its turn was exported updates that
 * turn's trace (end time, span count, wrapper span), not only its own spans.
 */

let server: OpikTestServer;
let temp: { path: string; remove: () => Promise<void> };
let env: NodeJS.ProcessEnv;
let claude: string;
let run = 0;

const PROJECT_DIR = '-home-dev-demo-app';

beforeAll(async () => {
  server = await startOpikTestServer();
  temp = await makeTempDir();
});
afterAll(async () => {
  await server.close();
  await temp.remove();
});
beforeEach(async () => {
  server.reset();
  run += 1;
  claude = join(temp.path, `claude-${run}`);
  await copyOwnFixtureRoot(claude);
  env = cliEnv(join(temp.path, `home-${run}`), {
    OPIK_URL_OVERRIDE: server.baseUrl,
    OPIK_CHAT_SYNC_STATE_DIR: join(temp.path, `state-${run}`),
    CLAUDE_CONFIG_DIR: claude,
  });
});

const trunk = (): string => join(claude, 'projects', PROJECT_DIR, `${OWN_SESSION_ID}.jsonl`);

async function sync(): Promise<{ created: number; updated: number }> {
  const result = await runCli(['sync', '--all', '--json'], env);
  // 1 when a read passes the fixture's broken line (reported on purpose; the rest is synced).
  expect([0, 1], result.stderr).toContain(result.code);
  const report = JSON.parse(result.stdout) as { totals: { created: number; updated: number } };
  return { created: report.totals.created, updated: report.totals.updated };
}

function traceOf(key: string): StoredTrace {
  const trace = server.traces().find((t) => (t.metadata as Record<string, unknown>).conversation_key === key);
  if (!trace) throw new Error(`no trace for ${key}`);
  return trace;
}

describe('change detection by content (issue 14, point 7)', () => {
  it('a same-length sed -i edit is seen and re-sent, and so is one written in place', async () => {
    await sync();
    const first = traceOf('u1');
    expect(first.input).toEqual({ text: 'Add a health check endpoint' });

    // sed -i: a new file renamed over the old one, every length the same.
    const text = await readFile(trunk(), 'utf8');
    await writeFile(`${trunk()}.sed`, text.replace('Add a health check', 'Add a wealth check'));
    await rename(`${trunk()}.sed`, trunk());
    expect(await sync()).toEqual({ created: 0, updated: 1 });
    expect(server.trace(first.id)?.input).toEqual({ text: 'Add a wealth check endpoint' });

    // The same file written over in place: same inode, same size.
    await writeFile(trunk(), (await readFile(trunk(), 'utf8')).replace('a wealth check', 'a health check'));
    expect(await sync()).toEqual({ created: 0, updated: 1 });
    expect(server.trace(first.id)?.input).toEqual({ text: 'Add a health check endpoint' });
    expect(server.traces()).toHaveLength(3);
  });
});

describe('subagent growth updates its trace (issue 14, point 8)', () => {
  it('a Task subagent of a closed turn: the turn ends later and counts the new span', async () => {
    await sync();
    const owner = traceOf('u4');
    const spans = (owner.metadata as { span_count: number }).span_count;
    const agent = join(claude, 'projects', PROJECT_DIR, OWN_SESSION_ID, 'subagents', 'agent-a1b2c3d.jsonl');
    // After everything the turn holds (its compaction ends at 10:10:01), before the next prompt.
    await appendAgentCall(agent, '2026-11-20T10:10:30.000Z', 'grown');
    expect(await sync()).toEqual({ created: 0, updated: 1 });
    const after = server.trace(owner.id)!;
    expect(after.end_time).toBe('2026-11-20T10:10:30.000Z');
    expect((after.metadata as { span_count: number }).span_count).toBe(spans + 1);
    expect(server.spans().filter((span) => span.trace_id === owner.id)).toHaveLength(spans + 1);
  });

  it('a Warmup no tool call spawned: its wrapper span ends later and its turn counts the new span', async () => {
    await sync();
    const wrapper = server.spans().find((span) => span.name === 'warmup')!;
    const owner = server.trace(wrapper.trace_id!)!;
    const spans = (owner.metadata as { span_count: number }).span_count;
    await appendAgentCall(
      join(claude, 'projects', PROJECT_DIR, 'agent-wwarm01.jsonl'),
      '2026-11-20T09:59:59.000Z',
      'grown',
    );
    expect(await sync()).toEqual({ created: 0, updated: 1 });
    expect(server.span(wrapper.id)?.end_time).toBe('2026-11-20T09:59:59.000Z');
    expect((server.trace(owner.id)!.metadata as { span_count: number }).span_count).toBe(spans + 1);
  });
});
