import { isBlank, marker, type Rule, type Span, spliceSpans, type Tally } from './redaction-rule.js';
import { describeName } from './secret-names.js';
import { isCommandLineSecret } from './secret-values.js';
import { readCommand, type ShellCommand, type ShellWord, unquoted } from './shell-words.js';

/**
 * Credentials typed on a command line, where the flag alone does not say "secret" to a generic rule:
 * `curl -u admin:PW`, `mysql -pPW`, `sshpass -p PW`, `docker login -p PW`, `redis-cli -a PW`,
 * `openssl … -passout pass:PW`, `echo PW | docker login --password-stdin`, … Each tool's flags are
 * read only after its own name, so `docker run -p 80:80`, `ssh -p 2222` and `mkdir -p` stay as they are.
 * (`--password PW` and `--api-key PW` after any command are the assignment rule's job.)
 */

/**
 * Which part of the value is the secret: all of it, or what follows `user:`, `user%`, `user,`, `pass:`;
 * `user-colon` is curl's `user:password`, where an API key given as the user has an empty password.
 */
type Part = 'all' | 'after-colon' | 'user-colon' | 'after-percent' | 'after-comma' | 'pass-prefix';

interface FlagSpec {
  flag: string;
  /** `next`: the following word (`-p X`); `attached`: glued on (`-pX`, `--password=X`, `/p:X`); `both`. */
  form: 'next' | 'attached' | 'both';
  part?: Part;
}

interface Command {
  s: string;
  words: readonly ShellWord[];
  text: readonly string[];
  spans: Span[];
}

interface ToolSpec {
  names: readonly string[];
  /** A word that must appear among the arguments (the subcommand taking the credential), if any. */
  needs?: readonly string[];
  /** Words that must all appear (`aws ssm put-parameter … --type SecureString`). */
  needsAll?: readonly string[];
  flags?: readonly FlagSpec[];
  /** A short flag may end a cluster of others (`curl -su user:pw`). */
  clusters?: boolean;
  /** Credentials given as plain arguments (`htpasswd -b file user PW`, `sqlplus user/PW@db`). */
  positional?: (command: Command) => void;
}

const PASSWORD = marker('password');
/** An API key passed as the user name (`curl -u KEY:`): long, with letters and digits. */
const KEY_LIKE = /^(?=.*\d)(?=.*[A-Za-z])[\w-]{20,}$/;
const SECRET = marker('secret-value');
const next = (flag: string, part?: Part): FlagSpec => ({ flag, form: 'next', part });
const both = (flag: string, part?: Part): FlagSpec => ({ flag, form: 'both', part });
const attached = (flag: string): FlagSpec => ({ flag, form: 'attached' });

/** Redacts the secret part of `[start, end)` (one layer of quotes removed first) when it looks like one. */
function redactValue(command: Command, start: number, end: number, part: Part = 'all', text = PASSWORD): void {
  const { s } = command;
  let span = unquoted(s, start, end);
  if (part === 'user-colon') {
    const value = s.slice(span.start, span.end);
    const colon = value.indexOf(':');
    if (colon === -1) return;
    if (colon === value.length - 1 && KEY_LIKE.test(value.slice(0, colon))) {
      span = { start: span.start, end: span.start + colon };
    } else {
      span = { start: span.start + colon + 1, end: span.end };
    }
  } else if (part !== 'all') {
    const value = s.slice(span.start, span.end);
    const at =
      part === 'pass-prefix'
        ? value.startsWith('pass:')
          ? 4
          : -1
        : value.indexOf(part === 'after-colon' ? ':' : part === 'after-percent' ? '%' : ',');
    if (at === -1) return;
    span = { start: span.start + at + 1, end: span.end };
  }
  if (!isCommandLineSecret(s.slice(span.start, span.end))) return;
  command.spans.push({ start: span.start, end: span.end, text });
}

function applyFlags(command: Command, tool: ToolSpec): void {
  const { text, words } = command;
  for (let k = 0; k < words.length; k++) {
    const word = text[k]!;
    for (const spec of tool.flags ?? []) {
      const long = spec.flag.startsWith('--');
      const takesNext =
        spec.form !== 'attached' &&
        (word === spec.flag ||
          (tool.clusters === true && !long && /^-[A-Za-z]+$/.test(word) && word.endsWith(spec.flag.slice(1))));
      if (takesNext) {
        const value = words[k + 1];
        if (value !== undefined && !text[k + 1]!.startsWith('-')) {
          redactValue(command, value.start, value.end, spec.part);
          k++;
        }
        break;
      }
      const glue = long ? `${spec.flag}=` : spec.flag;
      if (spec.form !== 'next' && word.length > glue.length && word.startsWith(glue)) {
        redactValue(command, words[k]!.start + glue.length, words[k]!.end, spec.part);
        break;
      }
    }
  }
}

/** Non-flag words after the word `after` (or after the command name). */
function argumentsAfter(command: Command, after?: string): number[] {
  const from = after === undefined ? 0 : command.text.indexOf(after) + 1;
  if (after !== undefined && from === 0) return [];
  const out: number[] = [];
  for (let k = from; k < command.text.length; k++) if (!command.text[k]!.startsWith('-')) out.push(k);
  return out;
}

/** `<tool> … set NAME VALUE` (aws configure, npm config, dotnet user-secrets): VALUE when NAME is secret. */
function nameThenValue(always: boolean) {
  return (command: Command): void => {
    const [name, value] = argumentsAfter(command, 'set');
    if (name === undefined || value === undefined) return;
    const word = command.words[name]!;
    const unq = unquoted(command.s, word.start, word.end);
    const strength = describeName(command.s.slice(unq.start, unq.end)).strength;
    if (always || strength !== 'none')
      redactValue(command, command.words[value]!.start, command.words[value]!.end, 'all', SECRET);
  };
}

function htpasswdArguments(command: Command): void {
  const flags = command.text.filter((w) => /^-[a-zA-Z]+$/.test(w)).join('');
  if (!flags.includes('b')) return;
  const args = argumentsAfter(command);
  const index = args[flags.includes('n') ? 1 : 2];
  if (index !== undefined) redactValue(command, command.words[index]!.start, command.words[index]!.end);
}

function sqlplusArguments(command: Command): void {
  const first = argumentsAfter(command)[0];
  if (first === undefined) return;
  const word = command.words[first]!;
  const span = unquoted(command.s, word.start, word.end);
  const value = command.s.slice(span.start, span.end);
  const slash = value.indexOf('/');
  if (slash <= 0) return; // `/ as sysdba`, `/nolog`
  const at = value.indexOf('@', slash);
  redactValue(command, span.start + slash + 1, at === -1 ? span.end : span.start + at);
}

function netUserPassword(command: Command): void {
  const [, password] = argumentsAfter(command, 'user');
  if (password === undefined || command.text[password]!.startsWith('/') || command.text[password] === '*') return;
  redactValue(command, command.words[password]!.start, command.words[password]!.end);
}

/** The first argument after `word` (`cargo login TOKEN`, `vault login TOKEN`), unless it is `key=value`. */
function firstArgumentAfter(word: string) {
  return (command: Command): void => {
    const k = argumentsAfter(command, word).find((j) => !command.text[j]!.includes('='));
    if (k !== undefined) redactValue(command, command.words[k]!.start, command.words[k]!.end, 'all', SECRET);
  };
}

/** The `index`-th argument after one of `words`: `rabbitmqctl add_user USER PW`, `mc alias set A URL KEY SECRET`. */
function nthArgumentAfter(words: readonly string[], index: number) {
  return (command: Command): void => {
    const word = words.find((w) => command.text.includes(w));
    const k = word === undefined ? undefined : argumentsAfter(command, word)[index];
    if (k !== undefined) redactValue(command, command.words[k]!.start, command.words[k]!.end);
  };
}

/** `setx NAME VALUE` (Windows): VALUE when NAME is a secret's name. */
function setxValue(command: Command): void {
  const [name, value] = argumentsAfter(command);
  if (name === undefined || value === undefined) return;
  const word = command.words[name]!;
  const unq = unquoted(command.s, word.start, word.end);
  if (describeName(command.s.slice(unq.start, unq.end)).strength === 'none') return;
  redactValue(command, command.words[value]!.start, command.words[value]!.end, 'all', SECRET);
}

/** `poetry config http-basic.REPO USER PW`, `poetry config pypi-token.REPO TOKEN`. */
function poetryCredentials(command: Command): void {
  const [name, first, second] = argumentsAfter(command, 'config');
  if (name === undefined) return;
  const key = command.text[name]!;
  const k = key.startsWith('http-basic.') ? second : key.startsWith('pypi-token.') ? first : undefined;
  if (k !== undefined) redactValue(command, command.words[k]!.start, command.words[k]!.end);
}

const TOOLS: readonly ToolSpec[] = [
  {
    names: ['mysql', 'mysqldump', 'mysqladmin', 'mysqlimport', 'mysqlshow', 'mysqlcheck', 'mysqlpump', 'mysqlslap'],
    flags: [attached('-p'), attached('--password')],
  },
  {
    names: ['mysqlbinlog', 'mysqlsh', 'mariadb', 'mariadb-dump', 'mariadb-admin', 'mariadb-import'],
    flags: [attached('-p')],
  },
  { names: ['sshpass'], flags: [both('-p')] },
  {
    names: ['docker', 'podman', 'nerdctl', 'buildah', 'skopeo', 'oras', 'helm', 'crane', 'regctl', 'finch', 'az'],
    needs: ['login'],
    flags: [both('-p'), both('--password')],
  },
  { names: ['twine'], flags: [both('-p'), both('--password')] },
  {
    names: ['curl'],
    clusters: true,
    flags: [
      both('-u', 'user-colon'),
      both('--user', 'user-colon'),
      both('-U', 'user-colon'),
      both('--proxy-user', 'user-colon'),
      next('--oauth2-bearer'),
    ],
  },
  { names: ['http', 'https', 'xh', 'xhs'], flags: [both('-a', 'after-colon'), both('--auth', 'after-colon')] },
  { names: ['redis-cli', 'valkey-cli', 'keydb-cli'], flags: [both('-a'), both('--pass')] },
  {
    names: ['ldapsearch', 'ldapmodify', 'ldapadd', 'ldapdelete', 'ldapmodrdn', 'ldapcompare', 'ldapwhoami', 'ldapexop'],
    flags: [both('-w')],
  },
  { names: ['ldappasswd'], flags: [both('-w'), both('-s'), both('-a')] },
  { names: ['sqlcmd', 'bcp', 'osql'], flags: [both('-P')] },
  {
    names: ['mongo', 'mongosh', 'mongodump', 'mongorestore', 'mongoexport', 'mongoimport', 'mongostat', 'mongotop'],
    flags: [both('-p'), both('--password')],
  },
  { names: ['zip', 'zipcloak', 'unzip', 'funzip'], flags: [both('-P')] },
  { names: ['7z', '7za', '7zr', '7zz', 'rar', 'unrar'], flags: [attached('-p'), attached('-hp')] },
  {
    names: ['smbclient', 'rpcclient', 'smbget', 'smbcacls', 'mount.cifs'],
    flags: [both('-U', 'after-percent'), both('--user', 'after-percent')],
  },
  {
    names: ['smbmap', 'nxc', 'netexec', 'crackmapexec', 'cme', 'evil-winrm', 'rdesktop', 'psexec'],
    flags: [both('-p')],
  },
  { names: ['lftp'], flags: [both('-u', 'after-comma')] },
  { names: ['ncftp', 'ncftpput', 'ncftpget', 'ncftpls'], flags: [both('-p')] },
  { names: ['ssh-keygen'], flags: [both('-N'), both('-P')] },
  {
    names: ['openssl'],
    flags: [
      next('-passin', 'pass-prefix'),
      next('-passout', 'pass-prefix'),
      next('-pass', 'pass-prefix'),
      next('-password', 'pass-prefix'),
      next('-k'),
    ],
  },
  {
    names: ['keytool', 'jarsigner'],
    flags: ['-storepass', '-keypass', '-srcstorepass', '-deststorepass', '-srckeypass', '-destkeypass', '-new'].map(
      (flag) => next(flag),
    ),
  },
  { names: ['security'], needs: ['add-generic-password', 'add-internet-password'], flags: [both('-w')] },
  { names: ['gh'], needs: ['secret'], flags: [both('-b'), both('--body')] },
  { names: ['doctl'], needs: ['auth'], flags: [both('-t'), both('--access-token')] },
  { names: ['gitlab-runner'], flags: [both('-t'), both('--token'), both('--registration-token')] },
  { names: ['xfreerdp', 'xfreerdp3', 'wfreerdp', 'sdl-freerdp'], flags: [attached('/p:'), attached('/password:')] },
  { names: ['htpasswd'], positional: htpasswdArguments },
  { names: ['sqlplus'], positional: sqlplusArguments },
  { names: ['aws'], needs: ['configure'], positional: nameThenValue(false) },
  { names: ['npm', 'yarn', 'pnpm'], needs: ['config'], positional: nameThenValue(false) },
  { names: ['dotnet'], needs: ['user-secrets'], positional: nameThenValue(true) },
  { names: ['vault', 'bao'], needs: ['login'], positional: firstArgumentAfter('login') },
  { names: ['cargo'], needs: ['login'], positional: firstArgumentAfter('login') },
  {
    names: ['rabbitmqctl'],
    needs: ['add_user', 'change_password'],
    positional: nthArgumentAfter(['add_user', 'change_password'], 1),
  },
  { names: ['mc', 'mcli'], needs: ['alias', 'host'], positional: nthArgumentAfter(['set', 'add'], 3) },
  { names: ['setx'], positional: setxValue },
  { names: ['poetry'], needs: ['config'], positional: poetryCredentials },
  { names: ['az'], needs: ['secret'], flags: [both('--value')] },
  { names: ['aws'], needsAll: ['put-parameter', 'SecureString'], flags: [both('--value')] },
  { names: ['net'], needs: ['user'], positional: netUserPassword },
];

/** `echo PW | docker login --password-stdin`: what is echoed into a command reading a secret from stdin. */
const READS_SECRET_FROM_STDIN =
  /--password-stdin|--with-token|--token-stdin|\bchpasswd\b|\bpasswd\b[^|\n]*--stdin|\bsecrets?\s+(?:versions\s+)?(?:set|put|create|add)\b|\bsudo\b[^|\n]*\s-S\b|\benv\s+add\b/;

function echoedSecret(command: Command, stopChar: string | undefined, stop: number): void {
  const { s } = command;
  if (stopChar !== '|' || s[stop + 1] === '|') return;
  const after = s.slice(stop + 1, stop + 512);
  const lineEnd = after.indexOf('\n');
  const rest = lineEnd === -1 ? after : after.slice(0, lineEnd);
  if (!READS_SECRET_FROM_STDIN.test(rest)) return;
  const args = argumentsAfter(command);
  const chpasswd = /\bchpasswd\b/.test(rest);
  // printf's first argument is the format; with more, the secret is an argument.
  const printf = command.text[0] === 'printf';
  for (const k of printf && args.length > 2 ? args.slice(2) : args.slice(1)) {
    redactValue(command, command.words[k]!.start, command.words[k]!.end, chpasswd ? 'after-colon' : 'all');
  }
}

const TOOL_BY_NAME = new Map<string, ToolSpec[]>();
for (const tool of TOOLS)
  for (const name of tool.names) TOOL_BY_NAME.set(name, [...(TOOL_BY_NAME.get(name) ?? []), tool]);
const MAX_WORDS = 64;
/** How far back from a trigger the start of its command is looked for. */
const MAX_BACK = 2048;
/** Quoted commands inside commands (`bash -c "…"`, `ssh host '…'`) are read this deep. */
const MAX_DEPTH = 2;

/**
 * What a credential on a command line needs: a flag after a blank, `/p:`, a pipe (for `echo PW |`), or
 * a subcommand taking a name and a secret. Scanning for these instead of for ~100 tool names keeps the
 * rule's cost near one cheap pass; the command around each trigger is then read once.
 */
const TRIGGER =
  /[ \t\n'"](?:--?[A-Za-z]|\/p(?:assword)?:|(?:set|login|user|add_user|change_password|config|alias|echo|printf|sqlplus|setx)[ \t])/g;
/** `echo`, `printf`, `sqlplus`, `setx`: commands whose credential comes without a flag. */
const FLAGLESS = /^(?:echo|printf|sqlplus|setx)[ \t]/;
const INNER_TRIGGER =
  /[ \t][-/]|[ \t](?:set|login|user|add_user|change_password|config|alias)[ \t]|(?:echo|printf|sqlplus|setx)[ \t]/;

function isSeparator(c: string): boolean {
  return c === '\n' || c === '\r' || c === ';' || c === '|' || c === '&' || c === '(' || c === ')' || c === '`';
}

function toolName(word: string): string {
  return word.slice(word.lastIndexOf('/') + 1);
}

/** Applies every tool found among the words of one simple command (`docker exec db mysql -pX` has two). */
function processCommand(s: string, command: ShellCommand, depth: number, spans: Span[]): void {
  const text = command.words.map((w) => s.slice(w.start, w.end));
  const tools: number[] = [];
  text.forEach((word, k) => {
    const name = toolName(word);
    if (TOOL_BY_NAME.has(name) || name === 'echo' || name === 'printf') tools.push(k);
  });
  tools.forEach((at, t) => {
    const end = tools[t + 1] ?? text.length;
    const name = toolName(text[at]!);
    const whole: Command = { s, words: command.words.slice(at, end), text: text.slice(at, end), spans };
    if (name === 'echo' || name === 'printf') {
      if (end === text.length) echoedSecret(whole, command.stopChar, command.stop);
      return;
    }
    const args: Command = { ...whole, words: whole.words.slice(1), text: whole.text.slice(1) };
    for (const tool of TOOL_BY_NAME.get(name)!) {
      if (tool.needs !== undefined && !args.text.some((w) => tool.needs!.includes(w))) continue;
      if (tool.needsAll !== undefined && !tool.needsAll.every((w) => args.text.includes(w))) continue;
      applyFlags(args, tool);
      if (tool.needs !== undefined && tool.flags !== undefined) hereString(args);
      tool.positional?.(args);
    }
  });
  if (depth >= MAX_DEPTH) return;
  for (const word of command.words) {
    const inner = unquoted(s, word.start, word.end);
    if (inner.start === word.start || inner.end - inner.start < 4) continue;
    // Only a quoted text that could hold a command with a credential is read as one.
    if (INNER_TRIGGER.test(s.slice(inner.start, inner.end))) processRange(s, inner.start, inner.end, depth + 1, spans);
  }
}

/** Every command in [from, to): a quoted script (`bash -c "a; b | c"`) read as command lines. */
function processRange(s: string, from: number, to: number, depth: number, spans: Span[]): void {
  let at = from;
  while (at < to) {
    const command = readCommand(s, at, MAX_WORDS, to);
    if (command.words.length > 0) processCommand(s, command, depth, spans);
    at = Math.max(command.stop + 1, at + 1);
  }
}

/** The word before a subcommand trigger (`aws configure set`, `vault login`), else the trigger is prose. */
const SUBCOMMAND_OWNERS = new Set([
  'configure',
  'config',
  'user-secrets',
  'alias',
  'host',
  'vault',
  'bao',
  'cargo',
  'net',
  'rabbitmqctl',
  'poetry',
  'mc',
  'mcli',
  'npm',
  'yarn',
  'pnpm',
]);

/** Cheap filter before a subcommand trigger's command is read: prose says "the user can set …" all the time. */
function worthReading(s: string, at: number, trigger: string): boolean {
  const word = trigger.slice(1).trimEnd();
  if (word.startsWith('-') || word.startsWith('/') || FLAGLESS.test(`${word} `)) return true;
  let end = at;
  while (end > 0 && isBlank(s[end - 1])) end--;
  let start = end;
  while (start > 0 && end - start < 24 && !/\s/.test(s[start - 1]!)) start--;
  return SUBCOMMAND_OWNERS.has(toolName(s.slice(start, end)));
}

function redactCommandLines(s: string, tally: Tally): string {
  const spans: Span[] = [];
  // Nothing before `doneTo` is read again, which keeps the rule linear.
  let doneTo = 0;
  const readAround = (at: number): void => {
    if (at < doneTo) return;
    let start = at;
    const limit = Math.max(doneTo, at - MAX_BACK);
    while (start > limit && !isSeparator(s[start - 1]!)) start--;
    const command = readCommand(s, start, MAX_WORDS, s.length);
    processCommand(s, command, 0, spans);
    doneTo = Math.max(command.stop, at + 1);
  };
  if (FLAGLESS.test(s)) readAround(0);
  TRIGGER.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = TRIGGER.exec(s)) !== null) {
    if (m.index < doneTo || !worthReading(s, m.index, m[0])) continue;
    readAround(m[0][0] === '\n' ? m.index + 1 : m.index);
  }
  spans.sort((a, b) => a.start - b.start);
  return spliceSpans(s, spans, tally);
}

/** `docker login --password-stdin <<< PW`. */
function hereString(command: Command): void {
  if (!command.text.includes('--password-stdin')) return;
  const k = command.text.indexOf('<<<');
  const value = command.words[k + 1];
  if (k !== -1 && value !== undefined) redactValue(command, value.start, value.end);
}

export const commandLineRule: Rule = { mayMatch: () => true, needsBlank: true, apply: redactCommandLines };
