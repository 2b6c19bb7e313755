import { marker } from './redaction-rule.js';

/**
 * Whether a name (`DB_PASSWORD`, `apiKey`, `--client-secret`, `max_tokens`) says its value is a secret:
 * `strong` names always do, `weak` ones (`token`, `key`) only for a key-shaped value, and qualifiers
 * (`public_key`, `token_count`, `keyboard`) make a name harmless.
 */

const SECRET_WORD = /key|secret|token|passw|pwd|credential|auth|private|passphrase/;
/** Any name that can be secret has one of these (`pass` covers `DB_PASS`, `SSHPASS` and `-storepass`). */
export const SECRET_WORD_ANY_CASE = /key|secret|token|pass|pwd|credential|auth|private/i;
const SEGMENT_SPLIT = /[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])/;
export const MAX_NAME_CHARS = 100;

/** Segments that contain a secret word but mean something else. */
const BENIGN_SEGMENTS = new Set([
  'author',
  'authors',
  'authored',
  'authoring',
  'authority',
  'authorities',
  'keyboard',
  'keyboards',
  'keyword',
  'keywords',
  'keyframe',
  'keyframes',
  'keyof',
  'keypress',
  'keydown',
  'keyup',
  'keystroke',
  'keystrokes',
  'keymap',
  'keymaps',
  'keybinding',
  'keybindings',
  'newkey',
  'genkey',
  'keyout',
  'keyform',
  'keyalg',
  'keysize',
  'keytype',
  'keylen',
  'monkey',
  'donkey',
  'turkey',
  'hockey',
  'jockey',
  'whiskey',
  'tokens',
  'tokenizer',
  'tokenizers',
  'tokenize',
  'tokenized',
  'tokenization',
]);
/** `public_key`, `max_tokens`, `cache_key`, `next_token`: the qualifier makes it harmless. */
const BENIGN_BEFORE = new Set([
  'public',
  'primary',
  'foreign',
  'sort',
  'partition',
  'range',
  'hash',
  'cache',
  'cached',
  'idempotency',
  'dedup',
  'dedupe',
  'storage',
  'query',
  'lookup',
  'unique',
  'composite',
  'hot',
  'short',
  'next',
  'prev',
  'previous',
  'page',
  'continuation',
  'cursor',
  'max',
  'min',
  'num',
  'input',
  'output',
  'total',
  'object',
  'item',
  'map',
  'row',
  'group',
  'react',
  'message',
  'translation',
  'i18n',
]);
/** `key_id`, `secret_name`, `token_count`, `auth_url`: metadata about the secret, not the secret. */
const BENIGN_AFTER = new Set([
  'id',
  'ids',
  'name',
  'names',
  'path',
  'paths',
  'file',
  'files',
  'dir',
  'type',
  'types',
  'mode',
  'method',
  'methods',
  'url',
  'uri',
  'urls',
  'endpoint',
  'endpoints',
  'host',
  'domain',
  'header',
  'headers',
  'scheme',
  'provider',
  'providers',
  'strategy',
  'flow',
  'status',
  'enabled',
  'disabled',
  'required',
  'length',
  'size',
  'count',
  'counts',
  'limit',
  'limits',
  'index',
  'event',
  'events',
  'prefix',
  'field',
  'fields',
  'column',
  'columns',
  'order',
  'version',
  'format',
  'usage',
  'budget',
  'expires',
  'expiry',
  'expiration',
  'ttl',
  'timeout',
  'lifetime',
  'arn',
  'port',
  'hint',
  'label',
  'min',
  'max',
  'minimum',
  'maximum',
  'policy',
  'policies',
  'complexity',
  'strength',
  'rule',
  'rules',
  'regex',
  'pattern',
  'prompt',
  'stdin',
  'env',
  'helper',
  'manager',
  'changed',
  'updated',
  'fingerprint',
  'fingerprints',
  'checksum',
]);
/** English words ending in `pass`, unlike `DB_PASS`, `SSHPASS`, `-storepass`, `--keypass`. */
const ENGLISH_PASS = new Set(['bypass', 'compass', 'encompass', 'surpass', 'overpass', 'underpass', 'trespass']);
/** `first_pass`, `two-pass`, `render_pass`: a pass over data, not a password. */
const PASS_QUALIFIERS = new Set([
  'first',
  'second',
  'third',
  'last',
  'final',
  'single',
  'multi',
  'one',
  'two',
  'render',
  'shader',
  'compiler',
  'optimizer',
]);

function isPassSegment(segment: string): boolean {
  return segment.endsWith('pass') && !ENGLISH_PASS.has(segment);
}

/** Names with these (after removing separators) hold a secret whatever the value looks like. */
const STRONG_WORDS = [
  'secret',
  'passw',
  'passphrase',
  'credential',
  'pwd',
  'apikey',
  'accesskey',
  'privatekey',
  'signingkey',
  'encryptionkey',
  'masterkey',
  'authtoken',
  'accesstoken',
  'refreshtoken',
  'sessiontoken',
  'bearertoken',
  'apitoken',
];

export type NameStrength = 'none' | 'weak' | 'strong';

export interface NameInfo {
  strength: NameStrength;
  /** SCREAMING_CASE: an environment variable or constant, where a bare-word value is still a secret. */
  screaming: boolean;
  marker: string;
}

/** Names repeat endlessly in transcripts (`key`, `token`, `api_key`); analysing each one again is the hot path. */
const nameInfoCache = new Map<string, NameInfo>();
const NAME_CACHE_LIMIT = 4096;

export function describeName(name: string): NameInfo {
  let info = nameInfoCache.get(name);
  if (info === undefined) {
    info = {
      strength: classifyName(name),
      screaming: /^[A-Z][A-Z0-9_]*$/.test(name),
      marker: marker(labelForName(name)),
    };
    if (nameInfoCache.size >= NAME_CACHE_LIMIT) nameInfoCache.clear();
    nameInfoCache.set(name, info);
  }
  return info;
}

function classifyName(name: string): NameStrength {
  const segments = name
    .split(SEGMENT_SPLIT)
    .filter((x) => x.length > 0)
    .map((x) => x.toLowerCase());
  const qualified = (k: number): boolean =>
    !BENIGN_BEFORE.has(segments[k - 1] ?? '') && !BENIGN_AFTER.has(segments[k + 1] ?? '');
  const hit = segments.some((segment, k) => SECRET_WORD.test(segment) && !BENIGN_SEGMENTS.has(segment) && qualified(k));
  const passHit = segments.some(
    (segment, k) => isPassSegment(segment) && !PASS_QUALIFIERS.has(segments[k - 1] ?? '') && qualified(k),
  );
  if (!hit && !passHit) return 'none';
  // `SECRET_KEY_FILE`, `API_TOKEN_URL`, `PASSWORD_MIN_LENGTH`: the last word says what the value is.
  if (segments.length > 1 && BENIGN_AFTER.has(segments[segments.length - 1]!)) return 'none';
  const compact = segments.join('');
  // `PWD`/`OLDPWD` are the shell's working directory.
  if (compact === 'pwd' || compact === 'oldpwd') return 'none';
  if (STRONG_WORDS.some((w) => compact.includes(w))) return 'strong';
  // A bare `pass` (`PASS: 12` in a test summary) needs a key-shaped value; `DB_PASS`, `SSHPASS` do not.
  return passHit && compact !== 'pass' ? 'strong' : 'weak';
}

function labelForName(name: string): string {
  const compact = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (compact.includes('opik') && compact.includes('apikey')) return 'opik-api-key';
  if (compact.includes('aws') && compact.includes('secret')) return 'aws-secret-key';
  return 'secret-value';
}
