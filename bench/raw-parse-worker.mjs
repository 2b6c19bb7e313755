/**
 * Worker for the "split + JSON.parse on all cores" baseline (bench/baseline-raw-parse.ts). Plain JS so
 * it needs no loader. Protocol: post `{ ready: true }`, receive `{ files }`, parse them in order, post
 * `{ bytes, lines }` (or `{ error }`), exit.
 */
import { createReadStream } from 'node:fs';
import { parentPort } from 'node:worker_threads';

const CHUNK_BYTES = 1024 * 1024;

/** Lines are separated by `\n`; an empty line is skipped, a last line without `\n` still counts. */
async function parseFile(file) {
  let bytes = 0;
  let lines = 0;
  /** Pieces of a line that spans chunk boundaries (20 MB lines span many 1 MiB chunks). */
  let carry = [];
  for await (const chunk of createReadStream(file, { highWaterMark: CHUNK_BYTES })) {
    bytes += chunk.length;
    let start = 0;
    let newline = chunk.indexOf(10);
    while (newline !== -1) {
      let text;
      if (carry.length > 0) {
        carry.push(chunk.subarray(start, newline));
        text = Buffer.concat(carry).toString('utf8');
        carry = [];
      } else {
        text = chunk.toString('utf8', start, newline);
      }
      if (text.length > 0) {
        JSON.parse(text);
        lines++;
      }
      start = newline + 1;
      newline = chunk.indexOf(10, start);
    }
    if (start < chunk.length) carry.push(chunk.subarray(start));
  }
  if (carry.length > 0) {
    const text = Buffer.concat(carry).toString('utf8');
    if (text.trim().length > 0) {
      JSON.parse(text);
      lines++;
    }
  }
  return { bytes, lines };
}

parentPort.once('message', async ({ files }) => {
  try {
    let bytes = 0;
    let lines = 0;
    for (const file of files) {
      const result = await parseFile(file);
      bytes += result.bytes;
      lines += result.lines;
    }
    parentPort.postMessage({ bytes, lines });
  } catch (error) {
    parentPort.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
parentPort.postMessage({ ready: true });
