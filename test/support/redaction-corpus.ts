import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fakeChars } from './planted-secrets.js';

/**
 * Loads a redaction corpus (format in the header of test/fixtures/redaction-corpus/held-out.txt) and
 * scores a redactor on it. Secrets are generated at load time from `«alphabet:N»` templates, so the
 * fixture holds no provider-shaped token verbatim, while every run sees the same strings.
 */

export interface CorpusCase {
  family: string;
  /** 1-based line in the fixture, for messages. */
  line: number;
  positive: boolean;
  /** The text as the redactor sees it. */
  text: string;
  /** Positives: the secrets, in order; each must be gone. */
  secrets: string[];
  /** Positives: the text around the secrets (secrets.length + 1 pieces), each of which must stay. */
  context: string[];
}

/** The alphabets of `«name:N»` templates, also for secrets generated elsewhere in the tests. */
export const ALPHABETS = {
  alnum: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789',
  alpha: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz',
  upper: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  lower: 'abcdefghijklmnopqrstuvwxyz',
  digits: '0123456789',
  hex: '0123456789abcdef',
  updig: 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
  b64: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
  b64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
};

function unescape(s: string): string {
  return s.replace(/\\([nt\\])/g, (_, c: string) => (c === 'n' ? '\n' : c === 't' ? '\t' : '\\'));
}

function expandTemplates(s: string, line: number): string {
  let k = 0;
  return s.replace(/«(\w+):(\d+)»/g, (whole, name: string, length: string) => {
    const alphabet = (ALPHABETS as Record<string, string | undefined>)[name];
    if (alphabet === undefined) throw new Error(`line ${line}: unknown alphabet in ${whole}`);
    return fakeChars(line * 100 + k++, Number(length), alphabet);
  });
}

export function loadCorpus(path: string): CorpusCase[] {
  const cases: CorpusCase[] = [];
  let family = '(none)';
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((raw, index) => {
      const line = index + 1;
      if (raw.startsWith('## ')) {
        family = raw.slice(3).trim();
        return;
      }
      const kind = raw.slice(0, 2);
      if (kind !== '+ ' && kind !== '- ') return;
      const expanded = expandTemplates(unescape(raw.slice(2)), line);
      const pieces = expanded.split(/⟦|⟧/);
      if (pieces.length % 2 === 0) throw new Error(`line ${line}: unbalanced ⟦⟧`);
      const context = pieces.filter((_, i) => i % 2 === 0);
      const secrets = pieces.filter((_, i) => i % 2 === 1);
      const positive = kind === '+ ';
      if (positive !== secrets.length > 0) throw new Error(`line ${line}: a positive needs ⟦…⟧, a negative none`);
      cases.push({ family, line, positive, text: pieces.join(''), secrets, context });
    });
  return cases;
}

export const HELD_OUT_CORPUS = fileURLToPath(new URL('../fixtures/redaction-corpus/held-out.txt', import.meta.url));
/** A second corpus, written after the command-line rules: other tools and phrasings, same format. */
export const FRESH_CORPUS = fileURLToPath(new URL('../fixtures/redaction-corpus/fresh.txt', import.meta.url));

export interface CaseVerdict {
  case: CorpusCase;
  output: string;
  /** Secrets still present (in part of 8+ characters, or whole when shorter). */
  leaked: string[];
  /** Positives: the context around the secrets did not come through intact (over-redaction). */
  damaged: boolean;
  /** Negatives: the text changed. */
  changed: boolean;
}

/** A secret counts as gone when it is not there whole and, for a long one, not its last 8 characters either. */
export function survives(secret: string, output: string): boolean {
  if (output.includes(secret)) return true;
  // A token whose prefix is kept (`ghp_[REDACTED…]`) has lost its secret part; a long tail left behind has not.
  const tail = secret.length > 12 ? secret.slice(-8) : null;
  return tail !== null && output.includes(tail);
}

function contextIntact(c: CorpusCase, output: string): boolean {
  const escaped = c.context.map((piece) => piece.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  // What stands in place of a secret is the leak check's business; here only the text around it counts.
  return new RegExp(`^${escaped.join('[\\s\\S]*?')}$`).test(output);
}

export function judge(c: CorpusCase, output: string): CaseVerdict {
  if (!c.positive) return { case: c, output, leaked: [], damaged: false, changed: output !== c.text };
  const leaked = c.secrets.filter((secret) => survives(secret, output));
  return { case: c, output, leaked, damaged: !contextIntact(c, output), changed: output !== c.text };
}

export interface CorpusScore {
  secrets: number;
  secretsRemoved: number;
  negatives: number;
  negativesChanged: number;
  positivesDamaged: number;
  /** Removed secrets over all secrets. */
  recall: number;
  /** Correct changes over all changes: removed secrets over (removed + changed negatives + damaged positives). */
  precision: number;
  failures: CaseVerdict[];
}

export function score(verdicts: readonly CaseVerdict[]): CorpusScore {
  let secrets = 0;
  let secretsRemoved = 0;
  let negatives = 0;
  let negativesChanged = 0;
  let positivesDamaged = 0;
  const failures: CaseVerdict[] = [];
  for (const v of verdicts) {
    if (v.case.positive) {
      secrets += v.case.secrets.length;
      secretsRemoved += v.case.secrets.length - v.leaked.length;
      if (v.damaged) positivesDamaged++;
      if (v.leaked.length > 0 || v.damaged) failures.push(v);
    } else {
      negatives++;
      if (v.changed) {
        negativesChanged++;
        failures.push(v);
      }
    }
  }
  const wrong = negativesChanged + positivesDamaged;
  return {
    secrets,
    secretsRemoved,
    negatives,
    negativesChanged,
    positivesDamaged,
    recall: secrets === 0 ? 1 : secretsRemoved / secrets,
    precision: secretsRemoved + wrong === 0 ? 1 : secretsRemoved / (secretsRemoved + wrong),
    failures,
  };
}

/** One line per failing case, with the text cut so a report stays readable. */
export function describeFailure(v: CaseVerdict): string {
  const what = v.case.positive
    ? [v.leaked.length > 0 ? `leaked ${v.leaked.length}` : '', v.damaged ? 'context damaged' : '']
        .filter(Boolean)
        .join(', ')
    : 'negative changed';
  const show = (s: string): string => JSON.stringify(s.length > 160 ? `${s.slice(0, 157)}…` : s);
  return `line ${v.case.line} [${v.case.family}] ${what}: ${show(v.case.text)} -> ${show(v.output)}`;
}
