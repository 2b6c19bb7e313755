import type { Failure } from '../errors.js';
import { assignmentRule } from './assignment-rule.js';
import { awsKeyRule } from './aws-keys.js';
import { commandLineRule } from './command-line-rules.js';
import {
  appSettingRule,
  cookieHeaderRule,
  credentialCallRule,
  expectSendRule,
  netrcRule,
  pgpassRule,
  sqlPasswordRule,
} from './credential-phrase-rules.js';
import { compileExtraPattern } from './extra-patterns.js';
import { authorizationRule, bearerRule, urlCredentialsRule } from './http-credential-rules.js';
import { pemPrivateKeyRule } from './pem-private-keys.js';
import { prefixedTokenRule } from './prefixed-tokens.js';
import { createJsonRedactor } from './redact-json.js';
import type { Rule, Tally } from './redaction-rule.js';
import { TOKEN_RULES } from './token-rules.js';

/**
 * Secret redaction and field truncation applied to every string before it leaves the machine
 * (what users are promised: README.md, "Privacy").
 *
 * Performance is a design constraint: this runs over hundreds of MB of transcripts. So each rule
 * family first does a cheap `includes` pre-check, every regex is linear (a literal prefix or a
 * left-boundary lookbehind anchors each attempt, and no quantified group can be split two ways),
 * and the name-based `NAME=value` rule is a hand-written scanner whose cursor only moves forward.
 */

export interface RedactorOptions {
  enabled: boolean;
  /** Regex sources from config. A capture group, if present, limits the redaction to group 1. */
  extraPatterns?: string[];
  /** Longer strings are cut to this many characters plus a `…[truncated N chars]` marker. */
  maxFieldChars?: number;
}

export interface RedactionStats {
  redactions: number;
}

export interface Redactor {
  /** Secrets replaced by `[REDACTED:<family>]` markers (only when enabled), then truncated. */
  redactText(s: string): string;
  /**
   * Deep copy of JSON data in which every string value goes through `redactText`; object keys are
   * left untouched. Base64 payloads (`source:{type:'base64', data}` of image/document blocks, a Read
   * result's `file.base64`) become `[base64 <media type>, N bytes omitted]` even when disabled.
   */
  redactJson<T>(value: T): T;
  /** Secrets replaced so far by this redactor (truncations and base64 payloads are not counted). */
  stats(): RedactionStats;
}

/** Shorter strings cannot hold a secret name plus a value worth redacting. */
const MIN_SCANNED_CHARS = 6;
/** Long strings made only of base64 characters are binary payloads; scanning them only risks corrupting them. */
const BASE64_SKIP_MIN_CHARS = 64 * 1024;
const PURE_BASE64 = /^[A-Za-z0-9+/=\r\n]+$/;
/** Extra characters redacted past the truncation point, so a secret straddling the cut still matches. */
const TRUNCATION_MARGIN = 4096;
/** What is sent instead of a text a rule failed on. */
const UNSCANNABLE = '[REDACTED:unscannable]';
/** Strings up to this long have their outcome remembered (per redactor, at most SHORT_CACHE_LIMIT of them). */
const SHORT_CHARS = 64;
const SHORT_CACHE_LIMIT = 4096;
/**
 * Ids, timestamps, versions, hex digests (`0190babc-62a0-…`, `2026-01-02T03:04:05.678Z`, `2.0.42`): no
 * built-in rule can match a string made only of these characters, so none is tried.
 */
const SAFE_SHAPE = /^[0-9a-f:.+\-TZ]+$/;
const SAFE_SHAPE_MAX_CHARS = 128;

/** Order matters: specific token shapes first, so the generic rules see their markers and skip them. */
const BUILT_IN_RULES: readonly Rule[] = [
  pemPrivateKeyRule,
  prefixedTokenRule,
  ...TOKEN_RULES,
  awsKeyRule,
  commandLineRule,
  sqlPasswordRule,
  netrcRule,
  appSettingRule,
  cookieHeaderRule,
  credentialCallRule,
  expectSendRule,
  pgpassRule,
  authorizationRule,
  bearerRule,
  urlCredentialsRule,
  assignmentRule,
];

function isFailure(value: Rule | Failure): value is Failure {
  return 'code' in value;
}

function truncationMarker(dropped: number): string {
  return `…[truncated ${dropped} chars]`;
}

/** Cuts at `max` without splitting a surrogate pair. */
function cutPoint(s: string, max: number): number {
  const c = s.charCodeAt(max - 1);
  return c >= 0xd800 && c <= 0xdbff ? max - 1 : max;
}

export function createRedactor(options: RedactorOptions): Redactor | Failure {
  const { maxFieldChars } = options;
  if (maxFieldChars !== undefined && !(Number.isInteger(maxFieldChars) && maxFieldChars > 0)) {
    return {
      code: 'OCS_ERR_CONFIG',
      message: `maxFieldChars must be a positive integer, got ${String(maxFieldChars)}`,
    };
  }
  const extraRules: Rule[] = [];
  for (const [index, source] of (options.extraPatterns ?? []).entries()) {
    const rule = compileExtraPattern(source, index);
    if (isFailure(rule)) return rule;
    extraRules.push(rule);
  }
  const builtIn = options.enabled ? BUILT_IN_RULES : [];
  const rules = [...builtIn, ...extraRules];
  const tally: Tally = { redactions: 0 };
  // Transcripts repeat short values endlessly (`assistant`, a cwd, a model name): remember their outcome.
  const shortResults = new Map<string, { out: string; redactions: number }>();

  function applyRules(s: string): string {
    const blank = s.includes(' ') || s.includes('\t');
    const skipBuiltIn = s.length <= SAFE_SHAPE_MAX_CHARS && SAFE_SHAPE.test(s);
    let out = s;
    for (const rule of skipBuiltIn ? extraRules : rules) {
      if (!blank && rule.needsBlank === true) continue;
      try {
        if (rule.mayMatch(out)) out = rule.apply(out, tally);
      } catch {
        // A pattern that cannot finish on this text (a user's regex exhausting V8's backtracking
        // stack on a long tool output) fails closed: the text is not sent, and no error carries it.
        tally.redactions++;
        return UNSCANNABLE;
      }
    }
    return out;
  }

  function redactSecrets(s: string): string {
    if (rules.length === 0 || s.length < MIN_SCANNED_CHARS) return s;
    if (s.length >= BASE64_SKIP_MIN_CHARS && PURE_BASE64.test(s)) return s;
    if (s.length > SHORT_CHARS) return applyRules(s);
    const known = shortResults.get(s);
    if (known !== undefined) {
      tally.redactions += known.redactions;
      return known.out;
    }
    const before = tally.redactions;
    const out = applyRules(s);
    if (shortResults.size >= SHORT_CACHE_LIMIT) shortResults.clear();
    shortResults.set(s, { out, redactions: tally.redactions - before });
    return out;
  }

  function redactText(s: string): string {
    if (maxFieldChars === undefined || s.length <= maxFieldChars) return redactSecrets(s);
    // Only the kept prefix (plus a margin for a secret straddling the cut) is worth scanning.
    const scanned = Math.min(s.length, maxFieldChars + TRUNCATION_MARGIN);
    const head = redactSecrets(s.slice(0, scanned));
    const unscanned = s.length - scanned;
    if (head.length <= maxFieldChars) return unscanned > 0 ? head + truncationMarker(unscanned) : head;
    const cut = cutPoint(head, maxFieldChars);
    return head.slice(0, cut) + truncationMarker(head.length - cut + unscanned);
  }

  const walk = createJsonRedactor(redactText, rules.length > 0, tally);

  return {
    redactText,
    redactJson: <T>(value: T): T => walk(value) as T,
    stats: () => ({ redactions: tally.redactions }),
  };
}
