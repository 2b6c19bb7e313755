import { PLACEHOLDER } from './redaction-rule.js';
import { describeName, MAX_NAME_CHARS, SECRET_WORD_ANY_CASE } from './secret-names.js';

export type { NameInfo } from './secret-names.js';

/** Whether the value given to a secret-looking name is a secret, or code, a placeholder, a path, a literal. */

const LITERAL_WORD = /^(?:true|false|null|nil|none|undefined|yes|no|on|off)$/i;
const LETTERS_ONLY = /^[A-Za-z_]+$/;
const MEMBER_CHAIN = /^[A-Za-z_$][A-Za-z_$]*(?:\.[A-Za-z_$][\w$]*)+$/;
const PATH_LIKE = /^(?:~|\.{1,2})?\/|^[A-Za-z]:\\/;
const URL_LIKE = /^[A-Za-z][\w+.-]*:\/\//;
const CODE_CHARS = /[(){}[\]]/;
/** Pieces of a regular expression (dot-star, dot-plus, `\d`, `[^`), as in a `sed` command: not a value. */
const REGEX_PIECE = /\.[*+]|\\[dswDSW]|\[\^/;

export interface ValueVerdictInput {
  value: string;
  quoted: boolean;
  strength: 'weak' | 'strong';
  /** A bare word is a plausible secret only in env style (`PASSWORD=letmein`), not in code (`password=password`). */
  bareWordAllowed: boolean;
  /** The character that ended an unquoted value: `(` or `[` means a call or index, i.e. code. */
  stop: string | undefined;
}

const WEAK_SHAPE = /^(?=.*\d)(?=.*[A-Za-z])\S{8,}$/;
const SHORT_NUMBER = /^\d{1,3}$/;
/** `PASSWORD`, `YOUR_TOKEN`, `[password]`: a name standing for the value in docs and examples. */
const NAME_PLACEHOLDER = /^[A-Z][A-Z_]{2,}$|^\[[\w -]+\]$/;
/** Words that follow a flag in prose (`the --password option`, `sshpass -p with care`), never a secret. */
const PROSE_WORDS = new Set([
  'a',
  'an',
  'and',
  'are',
  'argument',
  'arguments',
  'as',
  'at',
  'be',
  'by',
  'can',
  'env',
  'file',
  'flag',
  'flags',
  'for',
  'from',
  'if',
  'in',
  'instead',
  'is',
  'it',
  'must',
  'not',
  'of',
  'on',
  'only',
  'option',
  'options',
  'or',
  'parameter',
  'prompt',
  'should',
  'switch',
  'that',
  'the',
  'this',
  'to',
  'value',
  'variable',
  'was',
  'when',
  'which',
  'will',
  'with',
  'without',
]);

/** Key and credential files named after a flag (`--private-key deploy.pem`, `--ssh-key id_ed25519`). */
const FILE_NAME =
  /\.(?:pem|key|crt|cer|der|p8|p12|pfx|jks|keystore|pub|gpg|asc|json|ya?ml|toml|ini|conf|cfg|env|txt)$|^id_(?:rsa|dsa|ecdsa|ed25519)/i;

export function looksLikeFile(value: string): boolean {
  return PATH_LIKE.test(value) || FILE_NAME.test(value);
}

/**
 * A value typed after a credential flag on a command line (`sshpass -p X`, `mysql -pX`, `--password X`):
 * a secret unless it is a placeholder, a variable, a command substitution or a word of prose.
 */
export function isCommandLineSecret(value: string): boolean {
  if (value.length === 0 || PLACEHOLDER.test(value) || value.includes('[REDACTED')) return false;
  if (value.startsWith('`') || NAME_PLACEHOLDER.test(value)) return false;
  return !PROSE_WORDS.has(value.toLowerCase());
}

export function isSecretValue({ value, quoted, strength, bareWordAllowed, stop }: ValueVerdictInput): boolean {
  // A weak name (`token`, `key`) needs a key-shaped value; checked first because it rejects most cheaply.
  if (strength === 'weak' && !WEAK_SHAPE.test(value)) return false;
  if (value.length === 0 || PLACEHOLDER.test(value) || value.includes('[REDACTED')) return false;
  if (URL_LIKE.test(value)) return false; // credentials inside it are the URL rule's job
  if (SHORT_NUMBER.test(value)) return false; // `PASS=3`, `retries: 2`: a count, not a credential
  if (!quoted) {
    if (stop === '(' || stop === '[' || CODE_CHARS.test(value) || REGEX_PIECE.test(value)) return false;
    if (LITERAL_WORD.test(value) || MEMBER_CHAIN.test(value)) return false;
    if (LETTERS_ONLY.test(value) && !bareWordAllowed) return false;
  }
  return strength === 'strong' || !PATH_LIKE.test(value);
}

/**
 * `{"password": "plainword"}` in a parsed tool input: the name says secret, and nothing in the value alone
 * would. Only strong names count here (password, client_secret, api_key, access_token, …): a JSON field
 * named `key` or `token` is too often a path, an id or a cursor. The value rules are the assignment
 * rule's for a quoted value.
 */
export function secretFieldMarker(name: string, value: string): string | undefined {
  if (name.length > MAX_NAME_CHARS || !SECRET_WORD_ANY_CASE.test(name)) return undefined;
  const info = describeName(name);
  if (info.strength !== 'strong') return undefined;
  return isSecretValue({ value, quoted: true, strength: 'strong', bareWordAllowed: false, stop: undefined })
    ? info.marker
    : undefined;
}
