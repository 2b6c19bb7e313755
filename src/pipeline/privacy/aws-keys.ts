import { hasDigit, marker, type Rule, type Span, spliceSpans, type Tally } from './redaction-rule.js';

/**
 * AWS key ids (`AKIA…`, `ASIA…`, and the other IAM unique-id prefixes) and the secret access key
 * pasted next to one. A secret key has no prefix: it is any 40-character base64 word, which text is
 * full of, so one counts only near a key id (the console's CSV, `aws configure` output, a pair
 * pasted into a chat). A name like `aws_secret_access_key=` is the assignment rule's job.
 */

const KEY_ID = /(?<![A-Za-z0-9])(AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|A3T[A-Z0-9])[A-Z0-9]{16}(?![A-Za-z0-9])/g;
const KEY_ID_PRECHECK = /A(?:KIA|SIA|GPA|IDA|ROA|IPA|NPA|NVA|3T)/;
/** How far from a key id (either side) its secret key is looked for. */
const PAIR_WINDOW = 300;
const BASE64_RUN = /[A-Za-z0-9/+]{40,}/g;
const BASE64_CHAR = /[A-Za-z0-9/+]/;

/** A real secret key is random: upper and lower case, and a digit, `/` or `+` (a git SHA has no capital). */
function isSecretKeyShape(word: string): boolean {
  return /[a-z]/.test(word) && /[A-Z]/.test(word) && (hasDigit(word) || /[/+]/.test(word));
}

function secretKeysNear(s: string, ids: readonly Span[], out: Span[]): void {
  let scannedTo = 0;
  for (const id of ids) {
    // Windows may overlap by a key's length, so a key straddling the previous window's end is seen whole.
    const from = Math.max(scannedTo - 41, id.start - PAIR_WINDOW, 0);
    const to = Math.min(s.length, id.end + PAIR_WINDOW);
    if (from >= to) continue;
    scannedTo = to;
    const window = s.slice(from, to);
    BASE64_RUN.lastIndex = 0;
    let m: RegExpExecArray | null;
    while ((m = BASE64_RUN.exec(window)) !== null) {
      const start = from + m.index;
      const end = start + m[0].length;
      // Exactly 40 characters, not a piece of a longer base64 run cut by the window or padded with `=`.
      if (m[0].length !== 40 || (start > 0 && BASE64_CHAR.test(s[start - 1]!))) continue;
      if (end < s.length && (BASE64_CHAR.test(s[end]!) || s[end] === '=')) continue;
      if (!isSecretKeyShape(m[0])) continue;
      out.push({ start, end, text: marker('aws-secret-key') });
    }
  }
}

function redactAwsKeys(s: string, tally: Tally): string {
  const ids: Span[] = [];
  const accessKeyIds: Span[] = [];
  KEY_ID.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = KEY_ID.exec(s)) !== null) {
    const prefix = m[1]!;
    const accessKey = prefix === 'AKIA' || prefix === 'ASIA';
    const span = {
      start: m.index + prefix.length,
      end: m.index + m[0].length,
      text: marker(accessKey ? 'aws-access-key-id' : 'aws-unique-id'),
    };
    ids.push(span);
    if (accessKey) accessKeyIds.push(span);
  }
  if (ids.length === 0) return s;
  const spans = [...ids];
  secretKeysNear(s, accessKeyIds, spans);
  spans.sort((a, b) => a.start - b.start);
  return spliceSpans(s, spans, tally);
}

export const awsKeyRule: Rule = { mayMatch: (s) => KEY_ID_PRECHECK.test(s), apply: redactAwsKeys };
