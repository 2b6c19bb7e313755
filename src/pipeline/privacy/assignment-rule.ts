import { isBlank, isQuote, type Rule, type Tally } from './redaction-rule.js';
import { describeName, MAX_NAME_CHARS } from './secret-names.js';
import { isCommandLineSecret, isSecretValue, looksLikeFile, type NameInfo } from './secret-values.js';

/**
 * `NAME=value`, `export NAME=value`, `NAME: value`, `"name": "value"` where NAME looks secret: a
 * hand-written scanner whose cursor only moves forward, so it stays linear on any input.
 */

const SECRET_WORD_SCAN = /key|secret|token|pass|pwd|credential|auth|private/gi;
/** A quoted value whose closing quote is further than this is not a secret literal. */
const MAX_QUOTED_CHARS = 4096;
const TRAILING_PUNCTUATION = new Set(['.', ',', ';', ':', ')', ']', '}', '>']);

function charTable(chars: string): Uint8Array {
  const table = new Uint8Array(128);
  for (const ch of chars) table[ch.charCodeAt(0)] = 1;
  return table;
}
const NAME_CHARS = charTable('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-');
/** In `NAME=value` (shell, .env, URL queries) whitespace, quotes and `&` end an unquoted value. */
const ENV_STOPS = charTable(' \t\n\r\f\v"\'`&');
/** In `name: value` / `name = value` (code, YAML) punctuation ends it too, so `f(a, b)` splits. */
const CODE_STOPS = charTable(' \t\n\r\f\v"\'`,;(){}[]<>|&');

const isNameChar = (c: number): boolean => c < 128 && NAME_CHARS[c] === 1;
const isNameStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const isStop = (table: Uint8Array, c: number): boolean => c < 128 && table[c] === 1;

/**
 * `indexOf` memoised for the few characters a value scan looks for (quotes, newline); valid
 * because the scanner's cursor only moves forward. Entries start at -2, "not looked yet".
 */
class NextIndex {
  private readonly found = [-2, -2, -2, -2];
  constructor(private readonly s: string) {}
  of(ch: '"' | "'" | '`' | '\n', from: number): number {
    const slot = ch === '"' ? 0 : ch === "'" ? 1 : ch === '`' ? 2 : 3;
    const cached = this.found[slot]!;
    if (cached === -1 || cached >= from) return cached;
    const next = this.s.indexOf(ch, from);
    this.found[slot] = next;
    return next;
  }
}

interface ValueSpan {
  start: number;
  end: number;
  resume: number;
  quoted: boolean;
  stop: string | undefined;
}

function readValue(s: string, i: number, envStyle: boolean, next: NextIndex): ValueSpan | null {
  if (i >= s.length) return null;
  let quote = s[i];
  let escaped = false;
  if (quote === '\\' && isQuote(s[i + 1])) {
    escaped = true;
    i++;
    quote = s[i];
  }
  if (isQuote(quote)) {
    const close = next.of(quote, i + 1);
    const newline = next.of('\n', i + 1);
    if (close !== -1 && (newline === -1 || close < newline) && close - i <= MAX_QUOTED_CHARS) {
      const end = escaped && s[close - 1] === '\\' ? close - 1 : close;
      return { start: i + 1, end: Math.max(end, i + 1), resume: close + 1, quoted: true, stop: quote };
    }
    i++; // unclosed on this line: read what follows as a bare value
  }
  const stops = envStyle ? ENV_STOPS : CODE_STOPS;
  let j = i;
  while (j < s.length && !isStop(stops, s.charCodeAt(j))) j++;
  let end = j;
  while (end > i && TRAILING_PUNCTUATION.has(s[end - 1]!)) end--;
  return { start: i, end, resume: j, quoted: false, stop: s[j] };
}

/** Whether only indentation or `export ` precedes `pos` on its line. */
function isLineStart(s: string, pos: number, floor: number): boolean {
  let p = pos - 1;
  while (p >= floor && isBlank(s[p])) p--;
  if (p - 5 >= floor && s.startsWith('export', p - 5) && (p - 6 < 0 || /\s/.test(s[p - 6]!))) {
    p -= 6;
    while (p >= floor && isBlank(s[p])) p--;
  }
  return p < 0 || s[p] === '\n' || s[p] === '\r';
}

interface Assignment {
  /** Where scanning resumes: past the value and any closing quote. */
  resume: number;
  /** The value to replace, or null when it does not look secret. */
  secret: { start: number; end: number; marker: string } | null;
}

/** Parses `name<sep>value` for the identifier at [start, end); null when it is not an assignment to a secret name. */
function readAssignment(s: string, start: number, end: number, floor: number, next: NextIndex): Assignment | null {
  let nameStart = start;
  let dashed = false;
  while (nameStart < end && (s[nameStart] === '-' || s[nameStart] === '.')) {
    dashed ||= s[nameStart] === '-';
    nameStart++;
  }
  const name = s.slice(nameStart, end);
  if (name.length === 0 || name.length > MAX_NAME_CHARS || !isNameStart(name.charCodeAt(0))) return null;
  let i = end;
  if (s[i] === '\\' && isQuote(s[i + 1])) i += 2;
  else if (isQuote(s[i])) i++;
  const quotedName = i !== end;
  if (quotedName && s[i] === ']') i++; // os.environ["API_KEY"] = …, config['password'] = …
  const beforeSep = i;
  while (isBlank(s[i])) i++;
  const spaced = i !== beforeSep;
  const sep = s[i];
  const after = s[i + 1];
  if (sep === '=') {
    if (after === '=' || after === '>' || after === '~') return null; // ==, =>, =~
  } else if (sep === ':') {
    if (after === ':') return null; // C++/Rust paths
    if (spaced && isQuote(after)) return null; // psql's `PASSWORD :'variable'`
    // `expect "password:"`: the name and colon are the text of a string literal, not a key.
    if (!quotedName && isQuote(after) && s[start - 1] === after) return null;
  } else {
    return dashed && spaced && !quotedName ? readFlag(s, i, name, next) : null;
  }
  i++;
  if (sep === ':' && after === '=') i++; // Go's :=
  const valueFrom = i;
  while (isBlank(s[i])) i++;
  const info = describeName(name);
  let strength = info.strength;
  if (strength === 'none') return null;
  const envStyle = sep === '=' && !spaced && i === valueFrom && !quotedName;
  const bareWordAllowed = envStyle && (dashed || info.screaming || isLineStart(s, start, floor));
  if (bareWordAllowed) strength = 'strong';
  const value = readValue(s, i, envStyle, next);
  if (value === null) return null;
  const text = s.slice(value.start, value.end);
  const secret = isSecretValue({ value: text, quoted: value.quoted, strength, bareWordAllowed, stop: value.stop });
  return {
    resume: value.resume,
    secret: secret ? { start: value.start, end: value.end, marker: info.marker } : null,
  };
}

/** `--password X`, `--api-key X`, `-storepass X`: where a value comes from, not the value (openssl, keytool). */
const VALUE_SOURCE = /^(?:env|file|fd):|^stdin$/;

/**
 * `--password hunter2!`, `--client-secret X`, `-storepass X`: a flag named like a secret, its value after
 * a blank. Stricter than `NAME=value`, since prose and commit messages name flags too: a bare word
 * (`--password handling`), a path or file name (`--private-key deploy.pem`) or a placeholder stays.
 */
function readFlag(s: string, i: number, name: string, next: NextIndex): Assignment | null {
  if (s[i] === '-' || s[i] === undefined) return null; // the next flag, or nothing
  const info: NameInfo = describeName(name);
  if (info.strength === 'none') return null;
  // `--pass` (redis-cli, curl) is a password flag, where a bare `PASS: 12` is not an assignment.
  const strength = info.strength === 'weak' && name.toLowerCase() === 'pass' ? 'strong' : info.strength;
  const value = readValue(s, i, true, next);
  if (value === null) return null;
  const text = s.slice(value.start, value.end);
  const secret =
    isCommandLineSecret(text) &&
    !looksLikeFile(text) &&
    !VALUE_SOURCE.test(text) &&
    isSecretValue({ value: text, quoted: value.quoted, strength, bareWordAllowed: false, stop: value.stop });
  return { resume: value.resume, secret: secret ? { start: value.start, end: value.end, marker: info.marker } : null };
}

function redactAssignments(s: string, tally: Tally): string {
  const re = SECRET_WORD_SCAN;
  re.lastIndex = 0;
  const next = new NextIndex(s);
  const parts: string[] = [];
  let last = 0;
  // Nothing before `floor` is looked at again, which keeps the scan linear.
  let floor = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    let start = m.index;
    let end = start + m[0].length;
    while (start > floor && isNameChar(s.charCodeAt(start - 1))) start--;
    while (end < s.length && isNameChar(s.charCodeAt(end))) end++;
    const found = readAssignment(s, start, end, floor, next);
    floor = Math.max(end, found?.resume ?? end);
    re.lastIndex = floor;
    if (!found?.secret) continue;
    parts.push(s.slice(last, found.secret.start), found.secret.marker);
    last = found.secret.end;
    tally.redactions++;
  }
  if (parts.length === 0) return s;
  parts.push(s.slice(last));
  return parts.join('');
}

export const assignmentRule: Rule = {
  mayMatch: (s) => s.includes('=') || s.includes(':') || s.includes('-'),
  apply: redactAssignments,
};
