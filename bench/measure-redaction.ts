/**
 * What secret redaction costs per MB, against a baseline measured in the same run on the same data:
 * `JSON.stringify` of the same records (which every record pays anyway on its way to Opik).
 *
 *   node --import tsx bench/measure-redaction.ts [--repeats 7] [--copies 4]
 *
 * Data: every line of the vendored real transcripts (test/fixtures/claude-real and test/fixtures/claude),
 * parsed once, `--copies` times over; and a secret-dense set, the redaction corpora's lines repeated
 * to a similar size. Prints the median MB/s (MB of the records' JSON) of:
 *   - stringify:         JSON.stringify(record) (the baseline)
 *   - redactJson off:    createRedactor({ enabled: false }).redactJson(record) (the walk and copy only)
 *   - redactJson on:     createRedactor({ enabled: true }).redactJson(record) (the default)
 *   - secretlint/record: secretlint's recommended preset (@secretlint/core `lintSource`) on each record's
 *                        JSON, serialised outside the timing; it only finds, replacing would cost more
 *   - secretlint/text:   the same, one `lintSource` over all the records' JSON joined by newlines (its
 *                        scanning alone, without the per-call set-up; a floor for secretlint as an engine)
 * The secretlint rows are timed with fewer passes (--secretlint-repeats, default 3) and with its profiler's
 * performance marks turned into no-ops (see measureSecretlint).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lintSource } from '@secretlint/core';
import { creator as recommendedPreset } from '@secretlint/secretlint-rule-preset-recommend';
import { createRedactor, type Redactor } from '../src/pipeline/privacy/redact-secrets.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

function jsonlFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) jsonlFiles(path, out);
    else if (path.endsWith('.jsonl')) out.push(path);
  }
  return out;
}

function transcriptRecords(): unknown[] {
  const records: unknown[] = [];
  for (const dir of ['test/fixtures/claude-real', 'test/fixtures/claude']) {
    for (const file of jsonlFiles(join(root, dir))) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line.trim() === '') continue;
        try {
          records.push(JSON.parse(line));
        } catch {
          // the fixtures' deliberately broken lines
        }
      }
    }
  }
  return records;
}

/** Corpus lines (placeholders left as they are: they still look like commands and tokens) as tool calls. */
function denseRecords(targetBytes: number): unknown[] {
  const lines: string[] = [];
  for (const name of ['held-out.txt', 'fresh.txt']) {
    const text = readFileSync(join(root, 'test/fixtures/redaction-corpus', name), 'utf8');
    for (const line of text.split('\n')) if (/^[+-] /.test(line)) lines.push(line.slice(2).replace(/[⟦⟧]/g, ''));
  }
  const records: unknown[] = [];
  let bytes = 0;
  for (let k = 0; bytes < targetBytes; k++) {
    const command = lines.slice(k % lines.length, (k % lines.length) + 8).join('\n');
    const record = {
      type: 'assistant',
      message: { content: [{ type: 'tool_use', name: 'Bash', input: { command } }] },
    };
    bytes += JSON.stringify(record).length;
    records.push(record);
  }
  return records;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function redactorOrThrow(enabled: boolean): Redactor {
  const r = createRedactor({ enabled });
  if ('code' in r) throw new Error(r.message);
  return r;
}

const SECRETLINT_CONFIG: Parameters<typeof lintSource>[0]['options']['config'] = {
  rules: [
    {
      // As in test/secretlint-differential.test.ts: the preset plus the AWS key-id scan.
      id: '@secretlint/secretlint-rule-preset-recommend',
      rule: recommendedPreset,
      rules: [{ id: '@secretlint/secretlint-rule-aws', options: { enableIDScanRule: true } }],
    },
  ],
};

async function secretlintCount(content: string): Promise<number> {
  const result = await lintSource({
    source: { content, filePath: 'transcript.jsonl', ext: '.jsonl', contentType: 'text' },
    options: { config: SECRETLINT_CONFIG, noPhysicFilePath: true },
  });
  return result.messages.length;
}

async function measureSecretlint(
  records: readonly unknown[],
  mb: number,
  repeats: number,
): Promise<{ perRecord: number; oneText: number; findings: number }> {
  const jsons = records.map((r) => JSON.stringify(r));
  const joined = jsons.join('\n');
  const perRecordRates: number[] = [];
  const oneTextRates: number[] = [];
  let findings = 0;
  // secretlint 12's always-on profiler (a module singleton) puts ~50 performance marks per lintSource
  // call in the global buffer and keeps every one in an array its PerformanceObserver scans on each
  // "end" mark, after the caller's await, so outside any timing: O(n²), over 10 min of CPU and 1 GB
  // after one run of this bench. Marks are no-ops while secretlint is timed (its best case).
  const mark = performance.mark.bind(performance);
  performance.mark = (() => undefined) as unknown as typeof performance.mark;
  try {
    for (let k = 0; k <= repeats; k++) {
      let start = performance.now();
      for (const json of jsons) await secretlintCount(json);
      if (k > 0) perRecordRates.push(mb / ((performance.now() - start) / 1000));
      start = performance.now();
      findings = await secretlintCount(joined);
      if (k > 0) oneTextRates.push(mb / ((performance.now() - start) / 1000));
    }
  } finally {
    performance.mark = mark;
  }
  return { perRecord: median(perRecordRates), oneText: median(oneTextRates), findings };
}

function measure(records: readonly unknown[], repeats: number): Record<string, number> {
  const mb = records.reduce<number>((sum, r) => sum + Buffer.byteLength(JSON.stringify(r)), 0) / 1e6;
  // One redactor per configuration, as a worker has one, built outside the timed loop.
  const off = redactorOrThrow(false);
  const on = redactorOrThrow(true);
  const runs: Record<string, (r: unknown) => unknown> = {
    stringify: (r) => JSON.stringify(r),
    'redactJson off': (r) => off.redactJson(r),
    'redactJson on': (r) => on.redactJson(r),
  };
  const result: Record<string, number> = { MB: mb };
  for (const [name, fn] of Object.entries(runs)) {
    const rates: number[] = [];
    for (let k = 0; k <= repeats; k++) {
      const start = performance.now();
      for (const record of records) fn(record);
      const seconds = (performance.now() - start) / 1000;
      if (k > 0) rates.push(mb / seconds); // the first pass warms the JIT up
    }
    result[name] = median(rates);
  }
  return result;
}

const repeats = option('repeats', 7);
const secretlintRepeats = option('secretlint-repeats', 3);
const copies = option('copies', 4);
const base = transcriptRecords();
const transcripts = Array.from({ length: copies }, () => base).flat();
const sets: Record<string, unknown[]> = { 'real transcripts': transcripts };
const transcriptBytes = transcripts.reduce<number>((sum, r) => sum + JSON.stringify(r).length, 0);
sets['secret-dense commands'] = denseRecords(Math.min(transcriptBytes, 20e6));

console.log(
  `node ${process.version}, ${repeats} timed passes each (secretlint ${secretlintRepeats}), median; MB = MB of the records' JSON`,
);
for (const [name, records] of Object.entries(sets)) {
  const r = measure(records, repeats);
  const on = r['redactJson on']!;
  const cost = 1000 / on - 1000 / r['stringify']!;
  const sl = await measureSecretlint(records, r.MB!, secretlintRepeats);
  console.log(
    `${name}: ${records.length} records, ${r.MB!.toFixed(1)} MB | stringify ${r['stringify']!.toFixed(0)} MB/s | ` +
      `redactJson off ${r['redactJson off']!.toFixed(0)} MB/s | redactJson on ${on.toFixed(0)} MB/s ` +
      `(${(1000 / on).toFixed(1)} ms/MB, ${cost >= 0 ? '+' : ''}${cost.toFixed(1)} ms/MB over stringify) | ` +
      `secretlint/record ${sl.perRecord.toFixed(1)} MB/s (${(1000 / sl.perRecord).toFixed(0)} ms/MB) | ` +
      `secretlint/text ${sl.oneText.toFixed(1)} MB/s (${(1000 / sl.oneText).toFixed(0)} ms/MB, ${sl.findings} findings)`,
  );
}
