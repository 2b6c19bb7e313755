import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { jsonlParser } from 'stream-json/jsonl/parser.js';

/** One line of a JSONL file: its position, and either the parsed value or why it could not be parsed. */
export type JsonlLine =
  | { offset: number; length: number; line: number; value: unknown; error?: undefined }
  | { offset: number; length: number; line: number; value?: undefined; error: string };

const NEWLINE = 0x0a;
const TAIL_SCAN_BYTES = 64 * 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Offset just past the last `\n` at or after `from` (or `from` when none): everything before it is complete
 * lines, so a half-written last line is left for the next run and resume offsets stay exact.
 */
export async function findCompleteEnd(path: string, from: number, size: number): Promise<number> {
  if (size <= from) return from;
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(TAIL_SCAN_BYTES);
    let end = size;
    while (end > from) {
      const start = Math.max(from, end - TAIL_SCAN_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, end - start, start);
      const index = buffer.subarray(0, bytesRead).lastIndexOf(NEWLINE);
      if (index >= 0) return start + index + 1;
      end = start;
    }
    return from;
  } finally {
    await handle.close();
  }
}

/**
 * First line start at or after `offset`: `offset` itself when a newline precedes it, else just past the
 * next newline (or `size` when there is none). Lets a segment begin at any byte of a file.
 */
export async function findLineStart(path: string, offset: number, size: number): Promise<number> {
  if (offset <= 0) return 0;
  if (offset >= size) return size;
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(TAIL_SCAN_BYTES);
    let at = offset - 1;
    while (at < size) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(TAIL_SCAN_BYTES, size - at), at);
      if (bytesRead === 0) break;
      const index = buffer.subarray(0, bytesRead).indexOf(NEWLINE);
      if (index >= 0) return at + index + 1;
      at += bytesRead;
    }
    return size;
  } finally {
    await handle.close();
  }
}

/**
 * V8 quotes part of the offending text in JSON errors (`Unexpected token 'x', "…" is not valid JSON`):
 * warnings go to the terminal and the hook log, where transcript content must never appear.
 */
export function describeJsonError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/"(?:[^"\\]|\\.)*"?/g, '"…"').replace(/'[^']{0,8}'/g, "'…'").slice(0, 200);
}

interface ParseError {
  readonly parseError: string;
}

/**
 * Stream the complete lines of `[start, end)` through stream-json's JSONL line parser.
 *
 * We split lines ourselves (a Buffer scan, no line-length cap, CRLF tolerated) because the parser's own
 * front end reports neither byte offsets nor line numbers, and both are needed: offsets for exact resume,
 * line numbers for warnings that name `file:line`. A broken line is yielded as an error, never thrown.
 */
export async function* readJsonlRange(
  path: string,
  start: number,
  end: number,
  firstLine: number,
): AsyncGenerator<JsonlLine> {
  if (end <= start) return;
  const parseLine = jsonlParser({
    errorIndicator: (error: unknown): ParseError => ({
      parseError: describeJsonError(error),
    }),
  }) as (text: string) => { key: number; value: unknown } | symbol;

  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineStart = start;
  let lineNumber = firstLine;

  const toLine = (parts: Buffer[], bytes: number): JsonlLine | undefined => {
    const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts, bytes);
    let text = joined.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    const offset = lineStart;
    const line = lineNumber;
    if (text.trim() === '') return undefined;
    const result = parseLine(text);
    if (typeof result === 'symbol') return undefined;
    const value = result.value;
    if (value && typeof value === 'object' && 'parseError' in value) {
      return { offset, length: bytes + 1, line, error: `invalid JSON: ${(value as ParseError).parseError}` };
    }
    return { offset, length: bytes + 1, line, value };
  };

  const stream = createReadStream(path, { start, end: end - 1, highWaterMark: READ_CHUNK_BYTES });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    let from = 0;
    for (;;) {
      const index = chunk.indexOf(NEWLINE, from);
      if (index < 0) break;
      const piece = chunk.subarray(from, index);
      pending.push(piece);
      pendingBytes += piece.length;
      const parsed = toLine(pending, pendingBytes);
      lineStart += pendingBytes + 1;
      lineNumber += 1;
      pending = [];
      pendingBytes = 0;
      from = index + 1;
      if (parsed) yield parsed;
    }
    if (from < chunk.length) {
      // Copy: the stream may reuse its chunk buffer, and a long line spans many chunks.
      const rest = Buffer.from(chunk.subarray(from));
      pending.push(rest);
      pendingBytes += rest.length;
    }
  }
  // `end` is always just past a newline, so nothing is left over; a leftover means the file changed under us.
  if (pendingBytes > 0) {
    yield { offset: lineStart, length: pendingBytes, line: lineNumber, error: 'file changed while reading (incomplete line)' };
  }
}
