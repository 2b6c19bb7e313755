/**
 * What every redaction rule is made of: a cheap pre-check, an `apply` that splices in
 * `[REDACTED:<kind>]` markers and counts them, and the regex loop most rules share.
 */

export interface Tally {
  redactions: number;
}

export interface Rule {
  /** Cheap test; the rule's regex only runs when it is true. */
  mayMatch(s: string): boolean;
  apply(s: string, tally: Tally): string;
  /** Only text with a blank (space or tab) can match: a command line, a phrase. Checked once per string. */
  needsBlank?: boolean;
}

export function marker(label: string): string {
  return `[REDACTED:${label}]`;
}

/** Runs a global regex and splices in replacements; `decide` returns null to keep a match as is. */
export function replaceMatches(
  s: string,
  re: RegExp,
  tally: Tally,
  decide: (m: RegExpExecArray) => string | null,
): string {
  re.lastIndex = 0;
  const parts: string[] = [];
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    const replacement = decide(m);
    if (replacement === null) continue;
    parts.push(s.slice(last, m.index), replacement);
    last = m.index + m[0].length;
    tally.redactions++;
  }
  if (parts.length === 0) return s;
  parts.push(s.slice(last));
  return parts.join('');
}

export function regexRule(
  mayMatch: (s: string) => boolean,
  re: RegExp,
  decide: (m: RegExpExecArray) => string | null,
  needsBlank = false,
): Rule {
  return { mayMatch, needsBlank, apply: (s, tally) => replaceMatches(s, re, tally, decide) };
}

export const hasDigit = (s: string): boolean => /\d/.test(s);
/** The quotes a shell or a config file may put around a value. */
export const isQuote = (ch: string | undefined): ch is '"' | "'" | '`' => ch === '"' || ch === "'" || ch === '`';
export const isBlank = (ch: string | undefined): boolean => ch === ' ' || ch === '\t';
export const hasLetter = (s: string): boolean => /[A-Za-z]/.test(s);

/** Values that stand for a secret rather than being one: `$VAR`, `<key>`, `{{ x }}`, `***`, `your-key`, … */
export const PLACEHOLDER =
  /^(?:\$|%[A-Za-z_]|<|\{\{|\[REDACTED|\.\.\.|…|\*{3,}|x{4,}|your[-_ ]|replace[-_ ]?me|change[-_ ]?me)/i;

/** A piece of a string to replace; rules that find their secrets by scanning collect these. */
export interface Span {
  start: number;
  end: number;
  text: string;
}

/** Replaces `spans` (sorted by start, not overlapping) and counts each one. */
export function spliceSpans(s: string, spans: readonly Span[], tally: Tally): string {
  if (spans.length === 0) return s;
  const parts: string[] = [];
  let last = 0;
  for (const span of spans) {
    if (span.start < last) continue;
    parts.push(s.slice(last, span.start), span.text);
    last = span.end;
    tally.redactions++;
  }
  parts.push(s.slice(last));
  return parts.join('');
}
