import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStableUuidV7 } from '../src/pipeline/map/stable-uuid-v7.js';
import { createOpikReader } from '../src/pipeline/upload/opik-reader.js';
import { createOpikUploader } from '../src/pipeline/upload/opik-uploader.js';
import { startOpikTestServer, type OpikTestServer } from './support/opik-test-server.js';

/** Reading rows back: the list API as the backend serves it (filters, exclude, pages), and its refusals. */

let server: OpikTestServer;
beforeAll(async () => {
  server = await startOpikTestServer({ validateWithSdk: false });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => server.reset());

function trace(thread: string, n: number, project = 'reader') {
  return {
    id: createStableUuidV7(Date.parse('2026-11-20T10:00:00.000Z') + n, `${thread}:${n}`),
    project_name: project,
    name: `turn ${n}`,
    start_time: new Date(Date.parse('2026-11-20T10:00:00.000Z') + n).toISOString(),
    thread_id: thread,
    input: { text: 'x'.repeat(1000) },
    output: { text: 'y' },
    metadata: { conversation_key: `k${n}` },
  };
}

async function seed(traces: ReturnType<typeof trace>[]): Promise<void> {
  const uploader = createOpikUploader({ baseUrl: server.baseUrl, workspace: 'default' });
  expect((await uploader.uploadTraces(traces)).ok).toBe(true);
  await uploader.close();
}

describe('opik reader', () => {
  it("lists one thread's traces over every page, without input and output", async () => {
    await seed([...[1, 2, 3, 4, 5].map((n) => trace('t-1', n)), trace('t-2', 6), trace('t-1', 7, 'elsewhere')]);
    const reader = createOpikReader({
      baseUrl: server.baseUrl,
      workspace: 'default',
      projectName: 'reader',
      pageSize: 2,
    });
    const listed = await reader.listThreadTraces('t-1');
    expect(
      listed.ok && listed.value.map((row) => (row.metadata as { conversation_key: string }).conversation_key).sort(),
    ).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    expect(listed.ok && listed.value.every((row) => !('input' in row) && !('output' in row))).toBe(true);
    expect(reader.requests).toBe(3);
    const threads = await reader.listThreadIds();
    expect(threads.ok && [...threads.value].sort()).toEqual(['t-1', 't-2']);
    expect(server.validationErrors).toEqual([]);
    await reader.close();
  });

  it('tells an empty or missing project from one holding traces', async () => {
    const reader = createOpikReader({ baseUrl: server.baseUrl, workspace: 'default', projectName: 'reader' });
    expect(await reader.projectHasTraces()).toEqual({ ok: true, value: false });
    await seed([trace('t-1', 1)]);
    expect(await reader.projectHasTraces()).toEqual({ ok: true, value: true });
    await reader.close();
  });

  it('the test server refuses filters and exclude values the backend refuses', async () => {
    const get = async (query: string) =>
      (await fetch(`${server.baseUrl}/v1/private/traces?project_name=reader&${query}`)).status;
    expect(await get(`filters=${encodeURIComponent('[{"field":"thread_id","operator":"=","value":"t"}]')}`)).toBe(200);
    expect(await get(`filters=${encodeURIComponent('[{"field":"thread","operator":"=","value":"t"}]')}`)).toBe(400);
    expect(await get(`filters=${encodeURIComponent('[{"field":"thread_id","operator":"in","value":"t"}]')}`)).toBe(400);
    expect(await get(`filters=${encodeURIComponent('[{"field":"thread_id","operator":"=","value":" "}]')}`)).toBe(400);
    expect(await get(`exclude=${encodeURIComponent('["input","nonsense"]')}`)).toBe(400);
    server.validationErrors.length = 0;
  });

  it('a refused key is fatal; a server that keeps failing is not', async () => {
    const cloud = await startOpikTestServer({
      mode: 'cloud',
      apiKey: 'right',
      workspace: 'ws',
      validateWithSdk: false,
    });
    try {
      const wrong = createOpikReader({ baseUrl: cloud.baseUrl, workspace: 'ws', projectName: 'p', apiKey: 'wrong' });
      expect(await wrong.listThreadTraces('t')).toMatchObject({
        ok: false,
        fatal: true,
        failure: { code: 'OCS_ERR_AUTH' },
      });
      await wrong.close();
    } finally {
      await cloud.close();
    }
    server.injectFaults({ kind: 'status', status: 503, times: 2, path: /\/v1\/private\/traces$/ });
    const flaky = createOpikReader({
      baseUrl: server.baseUrl,
      workspace: 'default',
      projectName: 'reader',
      maxAttempts: 2,
      baseBackoffMs: 1,
    });
    expect(await flaky.projectHasTraces()).toMatchObject({
      ok: false,
      fatal: false,
      failure: { code: 'OCS_ERR_RETRIES_EXHAUSTED' },
    });
    await flaky.close();
  });
});
