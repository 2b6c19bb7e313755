import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createParsePool, type ParsePool } from '../src/main/parse-pool.js';
import { discoverSessions } from '../src/pipeline/discover-sessions.js';
import { parseSession } from '../src/pipeline/parse-session.js';
import { toWireResult } from '../src/pipeline/serialize-parse-result.js';
import type { ParseTask, SessionFile } from '../src/pipeline/session-model.js';
import { linkRealFixtureRoot, makeTempDir } from './support/fixture-roots.js';
import { testMappingOptions } from './support/parse-helpers.js';

let temp: { path: string; remove: () => Promise<void> };
let sessions: SessionFile[];
let pool: ParsePool;

beforeAll(async () => {
  temp = await makeTempDir();
  await linkRealFixtureRoot(temp.path);
  ({ sessions } = await discoverSessions([temp.path]));
  // Threshold 0: every task goes to a real worker thread.
  pool = createParsePool({ threads: 2, inlineThresholdBytes: 0 });
});
afterAll(async () => {
  await pool.close();
  await temp.remove();
});

function taskFor(session: SessionFile): ParseTask {
  return { session, startOffset: 0, startLine: 1, maxChunkBytes: 1e12, knownConversations: {}, knownAgentLinks: {}, changedAgentIds: session.agents.map((a) => a.agentId), options: testMappingOptions() };
}

describe('Piscina parse pool', () => {
  it('gives the same records from worker threads as inline, for every real transcript, in parallel', async () => {
    const threaded = await Promise.all(sessions.map((s) => pool.run(taskFor(s))));
    expect(pool.threads).toBeGreaterThan(0);
    for (const [i, session] of sessions.entries()) {
      const inline = toWireResult(await parseSession(taskFor(session)));
      expect(threaded[i], session.path).toEqual(inline);
    }
  });

  it('runs small work inline without starting a thread', async () => {
    const lazy = createParsePool({ threads: 2 });
    try {
      const small = sessions.find((s) => s.sessionId === 'short')!;
      const result = await lazy.run(taskFor(small));
      expect(result.conversations.length).toBeGreaterThan(0);
      expect(lazy.threads).toBe(0);
    } finally {
      await lazy.close();
    }
  });
});
