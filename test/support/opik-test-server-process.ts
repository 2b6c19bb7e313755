/**
 * Runs the Opik test server as its own process, for kill -9 tests, the demo and benchmarks:
 *
 *   node --import tsx test/support/opik-test-server-process.ts [--mode cloud --api-key K --workspace W]
 *        [--window-ms N] [--no-sdk-validation] [--host H]
 *
 * Prints one JSON line `{"baseUrl": "...", "pid": N}` once listening; closes on SIGTERM/SIGINT.
 * Control routes (`GET /__test/state`, `POST /__test/faults`, `POST /__test/reset`) are enabled.
 */
import { parseArgs } from 'node:util';
import { startOpikTestServer } from './opik-test-server.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'oss' },
    'api-key': { type: 'string' },
    workspace: { type: 'string' },
    'window-ms': { type: 'string' },
    'no-sdk-validation': { type: 'boolean', default: false },
    host: { type: 'string' },
  },
  strict: true,
});

if (values.mode !== 'oss' && values.mode !== 'cloud') throw new Error(`--mode must be oss or cloud, got ${values.mode}`);
const windowMs = values['window-ms'] === undefined ? null : Number(values['window-ms']);
if (windowMs !== null && !(windowMs > 0)) throw new Error('--window-ms must be a positive number');

const server = await startOpikTestServer({
  mode: values.mode,
  apiKey: values['api-key'],
  workspace: values.workspace,
  ingestionWindowMs: windowMs,
  validateWithSdk: !values['no-sdk-validation'],
  host: values.host,
  exposeTestControl: true,
});

process.stdout.write(`${JSON.stringify({ baseUrl: server.baseUrl, pid: process.pid })}\n`);

let closing = false;
function shutDown(): void {
  if (closing) return;
  closing = true;
  // Closing the listener and its sockets leaves nothing on the event loop, so the process ends by itself.
  void server.close();
}
process.once('SIGTERM', shutDown);
process.once('SIGINT', shutDown);
