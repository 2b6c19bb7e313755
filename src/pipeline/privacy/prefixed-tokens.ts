import { hasDigit, marker, type Rule, type Span, spliceSpans, type Tally } from './redaction-rule.js';

/**
 * Tokens of providers whose keys start with a fixed prefix (GitLab `glpat-`, Hugging Face `hf_`, npm
 * `npm_`, …). One regex finds every prefix; the family's body pattern is then tried right after it, so
 * adding a family costs no extra pass over the text. The prefix is kept: it says what leaked.
 */

interface TokenFamily {
  /** Literal prefixes. */
  prefixes: readonly string[];
  /** The rest of the token, tried sticky right after the prefix. */
  body: RegExp;
  label: string;
  /** Extra shape check on the body, for prefixes that also start ordinary identifiers. */
  check?: (body: string) => boolean;
}

const mixedCase = (body: string): boolean => /[a-z]/.test(body) && /[A-Z]/.test(body);
const randomLooking = (body: string): boolean => hasDigit(body) || mixedCase(body);
const each = (stem: string, parts: string, tail: string): string[] => [...parts].map((c) => `${stem}${c}${tail}`);

const FAMILIES: readonly TokenFamily[] = [
  {
    prefixes: ['pat', 'dt', 'rt', 'ptt', 'cbt', 'oas', 'soat', 'ft', 'imt', 'agent', 'wt', 'ffct'].map(
      (k) => `gl${k}-`,
    ),
    body: /[\w-]{20,}/y,
    label: 'gitlab-token',
  },
  { prefixes: ['GR1348941'], body: /[\w-]{20,}/y, label: 'gitlab-token' },
  { prefixes: ['hf_'], body: /[A-Za-z0-9]{30,}/y, label: 'huggingface-token', check: randomLooking },
  { prefixes: ['npm_'], body: /[A-Za-z0-9]{36,}/y, label: 'npm-token', check: randomLooking },
  { prefixes: ['pypi-'], body: /AgE[\w-]{50,}/y, label: 'pypi-token' },
  { prefixes: ['gsk_'], body: /[A-Za-z0-9]{40,}/y, label: 'groq-key' },
  { prefixes: ['xai-'], body: /[A-Za-z0-9]{60,}/y, label: 'xai-key' },
  { prefixes: ['pplx-'], body: /[A-Za-z0-9]{40,}/y, label: 'perplexity-key' },
  { prefixes: ['r8_'], body: /[A-Za-z0-9]{30,}/y, label: 'replicate-token', check: randomLooking },
  { prefixes: ['SG.'], body: /[\w-]{16,32}\.[\w-]{16,64}/y, label: 'sendgrid-key' },
  { prefixes: each('do', 'por', '_v1_'), body: /[a-f0-9]{64}/y, label: 'digitalocean-token' },
  { prefixes: ['shpat_', 'shpca_', 'shppa_', 'shpss_'], body: /[a-fA-F0-9]{32,}/y, label: 'shopify-token' },
  { prefixes: ['dapi'], body: /[a-f0-9]{32}(?:-\d)?/y, label: 'databricks-token' },
  { prefixes: ['dckr_pat_'], body: /[\w-]{20,}/y, label: 'docker-token' },
  { prefixes: each('hv', 'sbr', '.'), body: /[\w-]{90,}/y, label: 'vault-token' },
  { prefixes: ['lin_api_'], body: /[A-Za-z0-9]{32,}/y, label: 'linear-key' },
  { prefixes: ['ntn_'], body: /[A-Za-z0-9]{40,}/y, label: 'notion-token' },
  { prefixes: ['figd_'], body: /[\w-]{40,}/y, label: 'figma-token' },
  { prefixes: each('vc', 'pikar', '_'), body: /[A-Za-z0-9]{20,}/y, label: 'vercel-token', check: randomLooking },
  { prefixes: ['glsa_'], body: /[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}/y, label: 'grafana-token' },
  { prefixes: ['glc_'], body: /[A-Za-z0-9+/]{32,}={0,2}/y, label: 'grafana-token' },
  { prefixes: ['ops_'], body: /eyJ[A-Za-z0-9+/=]{100,}/y, label: '1password-token' },
  { prefixes: ['GOCSPX-'], body: /[\w-]{24,}/y, label: 'google-client-secret' },
  { prefixes: ['ya29.'], body: /[\w-]{20,}/y, label: 'google-oauth-token' },
  { prefixes: ['whsec_'], body: /[A-Za-z0-9+/=]{24,}/y, label: 'stripe-webhook-secret' },
  { prefixes: ['ATATT3'], body: /[\w=-]{100,}/y, label: 'atlassian-token' },
  { prefixes: ['cio'], body: /[A-Za-z0-9]{32}/y, label: 'crates-io-token', check: randomLooking },
  { prefixes: ['sk-or-'], body: /(?:v\d+-)?[\w-]{32,}/y, label: 'openrouter-key' },
];

const FAMILY_BY_PREFIX = new Map(FAMILIES.flatMap((f) => f.prefixes.map((p) => [p, f] as const)));
const escape = (literal: string): string => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/**
 * Every prefix, after a consumed boundary character (so `my_hf_token` is no token): the engine starts
 * an attempt only at those characters, not at every letter. No capture groups: they slow every attempt.
 */
const LOCATOR = new RegExp(
  `(?:^|[^\\w-])(?:${[...FAMILY_BY_PREFIX.keys()]
    .sort((a, b) => b.length - a.length)
    .map(escape)
    .join('|')})`,
  'g',
);
/** The shortest token: a prefix and a 20-character body. */
const MIN_CHARS = 23;
const ALNUM = /[A-Za-z0-9]/;
const BOUNDARY = /[^\w-]/;

function redactPrefixedTokens(s: string, tally: Tally): string {
  const spans: Span[] = [];
  LOCATOR.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = LOCATOR.exec(s)) !== null) {
    const prefixStart = m.index === 0 && !BOUNDARY.test(s[0]!) ? 0 : m.index + 1;
    const prefixEnd = m.index + m[0].length;
    const family = FAMILY_BY_PREFIX.get(s.slice(prefixStart, prefixEnd))!;
    family.body.lastIndex = prefixEnd;
    const body = family.body.exec(s);
    if (body === null) continue;
    const end = prefixEnd + body[0].length;
    // A fixed-length body followed by more letters or digits is some longer string, not this token.
    if (end < s.length && ALNUM.test(s[end]!)) continue;
    if (family.check !== undefined && !family.check(body[0])) continue;
    spans.push({ start: prefixEnd, end, text: marker(family.label) });
    LOCATOR.lastIndex = end;
  }
  return spliceSpans(s, spans, tally);
}

export const prefixedTokenRule: Rule = { mayMatch: (s) => s.length >= MIN_CHARS, apply: redactPrefixedTokens };
