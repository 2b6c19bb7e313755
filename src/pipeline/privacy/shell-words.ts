import { isBlank, isQuote } from './redaction-rule.js';
/**
 * The words of one simple shell command, read well enough to find a flag's value: blanks split words,
 * quotes (also JSON-escaped `\"`) group them, `;` `&` `|` `(` `)` and a line end stop the command.
 * Bounded work: a closing quote is looked for at most `MAX_QUOTED_CHARS` ahead and on the same line,
 * and at most `maxWords` words are read.
 */

export interface ShellWord {
  start: number;
  end: number;
}

export interface ShellCommand {
  words: ShellWord[];
  /** Where reading stopped, and the character there (undefined at the end of the text). */
  stop: number;
  stopChar: string | undefined;
}

const MAX_QUOTED_CHARS = 1024;

const isStop = (c: string | undefined): boolean =>
  c === undefined || c === '\n' || c === '\r' || c === ';' || c === '&' || c === '|' || c === '(' || c === ')';

/** Index just past the quote closing the one at `open` (a bare or backslash-escaped quote), or -1. */
function closeQuote(s: string, open: number, end: number): number {
  const escaped = s[open] === '\\';
  const quote = escaped ? s[open + 1]! : s[open]!;
  const limit = Math.min(end, open + MAX_QUOTED_CHARS);
  for (let i = open + (escaped ? 2 : 1); i < limit; i++) {
    const c = s[i];
    if (c === '\n') return -1;
    if (escaped) {
      if (c === '\\' && s[i + 1] === quote) return i + 2;
    } else if (c === quote) {
      if (quote === "'" || s[i - 1] !== '\\') return i + 1;
    }
  }
  return -1;
}

/** Reads the words of the command at `from`: up to a command separator, `maxWords` words, or `limit`. */
export function readCommand(s: string, from: number, maxWords: number, limit: number): ShellCommand {
  const words: ShellWord[] = [];
  let i = from;
  while (words.length < maxWords) {
    while (i < limit && (isBlank(s[i]) || (s[i] === '\\' && s[i + 1] === '\n'))) i += s[i] === '\\' ? 2 : 1;
    if (i >= limit || isStop(s[i])) break;
    const start = i;
    while (i < limit && !isBlank(s[i]) && !isStop(s[i])) {
      const quoted = isQuote(s[i]) || (s[i] === '\\' && isQuote(s[i + 1]));
      const close = quoted ? closeQuote(s, i, limit) : -1;
      i = close === -1 ? i + 1 : close;
    }
    words.push({ start, end: i });
  }
  return { words, stop: i, stopChar: i < limit ? s[i] : undefined };
}

/** The span of a word's text without one layer of matching quotes around it (`'x'`, `"x"`, `\"x\"`). */
export function unquoted(s: string, start: number, end: number): { start: number; end: number } {
  if (end - start >= 4 && s[start] === '\\' && isQuote(s[start + 1])) {
    if (s[end - 2] === '\\' && s[end - 1] === s[start + 1]) return { start: start + 2, end: end - 2 };
  }
  if (end - start >= 2 && isQuote(s[start]) && s[end - 1] === s[start]) return { start: start + 1, end: end - 1 };
  return { start, end };
}
