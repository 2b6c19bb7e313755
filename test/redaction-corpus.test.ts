import { describe, expect, it } from 'vitest';
import { createRedactor, type Redactor } from '../src/pipeline/privacy/redact-secrets.js';
import {
  FRESH_CORPUS,
  HELD_OUT_CORPUS,
  describeFailure,
  judge,
  loadCorpus,
  score,
} from './support/redaction-corpus.js';

function redactor(): Redactor {
  const result = createRedactor({ enabled: true });
  if ('code' in result) throw new Error(result.message);
  return result;
}

describe('held-out corpus', () => {
  const cases = loadCorpus(HELD_OUT_CORPUS);

  it('is a real corpus: positives and near-miss negatives in every family that has secrets', () => {
    expect(cases.filter((c) => c.positive).length).toBeGreaterThanOrEqual(140);
    expect(cases.filter((c) => !c.positive).length).toBeGreaterThanOrEqual(120);
    const texts = cases.map((c) => c.text);
    expect(new Set(texts).size).toBe(texts.length);
  });

  it('every secret is redacted and no negative is changed (recall 1, precision 1)', () => {
    const r = redactor();
    const verdicts = cases.map((c) => judge(c, r.redactText(c.text)));
    const result = score(verdicts);
    console.log(
      `held-out corpus: ${cases.length} cases, ${result.secrets} secrets in ${cases.filter((c) => c.positive).length} positives, ` +
        `${result.negatives} negatives; recall ${result.recall.toFixed(3)}, precision ${result.precision.toFixed(3)} ` +
        `(${result.secretsRemoved} removed, ${result.negativesChanged} negatives changed, ${result.positivesDamaged} positives over-redacted)`,
    );
    expect(result.failures.map(describeFailure)).toEqual([]);
    expect(result.recall).toBe(1);
    expect(result.precision).toBe(1);
  });

  it('gives the same verdicts through redactJson, where each case is a string field of a tool call', () => {
    const r = redactor();
    const input = { tool_use: cases.map((c) => ({ command: c.text })) };
    const out = r.redactJson(input).tool_use;
    const verdicts = cases.map((c, i) => judge(c, out[i]!.command));
    expect(score(verdicts).failures.map(describeFailure)).toEqual([]);
  });
});

describe('fresh corpus (other tools and phrasings)', () => {
  const cases = loadCorpus(FRESH_CORPUS);

  it('every secret is redacted and no negative is changed', () => {
    expect(cases.filter((c) => c.positive).length).toBeGreaterThanOrEqual(70);
    expect(cases.filter((c) => !c.positive).length).toBeGreaterThanOrEqual(70);
    const r = redactor();
    const result = score(cases.map((c) => judge(c, r.redactText(c.text))));
    expect(result.failures.map(describeFailure)).toEqual([]);
    expect([result.recall, result.precision]).toEqual([1, 1]);
  });
});
