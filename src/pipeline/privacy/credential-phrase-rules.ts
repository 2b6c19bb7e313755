import { marker, regexRule } from './redaction-rule.js';
import { describeName } from './secret-names.js';
import { isCommandLineSecret } from './secret-values.js';

/**
 * Credentials introduced by a fixed phrase rather than by `NAME=value`: SQL's `IDENTIFIED BY '…'` and
 * `PASSWORD '…'`, a `.netrc` entry, a .NET `<add key="ApiKey" value="…"/>`, a `Cookie:` header.
 */

const PASSWORD = marker('password');

const SQL_PRECHECK = /(?:assword|by)[ \t]+['"]/i;

/** `CREATE USER … IDENTIFIED BY 'pw'`, `ALTER ROLE … [WITH] [ENCRYPTED] PASSWORD 'pw'` (a psql `:'var'` stays). */
export const sqlPasswordRule = regexRule(
  (s) => SQL_PRECHECK.test(s),
  /(\b(?:IDENTIFIED[ \t]+BY|PASSWORD)[ \t]+)(['"])([^'"\n]{1,200})\2/gi,
  (m) => (isCommandLineSecret(m[3]!) ? `${m[1]}${m[2]}${PASSWORD}${m[2]}` : null),
  true,
);

/** `.netrc`: `machine host login user password pw`, on one line or several. */
export const netrcRule = regexRule(
  (s) => s.includes('machine') && s.includes('password'),
  /(\blogin[ \t]+\S+\s+password[ \t]+)(\S+)/g,
  (m) => (isCommandLineSecret(m[2]!) ? `${m[1]}${PASSWORD}` : null),
  true,
);

/** .NET `appSettings`: `<add key="ApiKey" value="…" />`, where the key names a secret. */
export const appSettingRule = regexRule(
  (s) => s.includes('<add'),
  /(<add[ \t]+key=(["'])([^"'\n]{1,100})\2[ \t]+value=(["']))([^"'\n]*)\4/g,
  (m) => {
    const value = m[5]!;
    if (describeName(m[3]!).strength === 'none' || !isCommandLineSecret(value)) return null;
    return `${m[1]}${marker('secret-value')}${m[4]}`;
  },
  true,
);

/** `Set-Cookie` attributes, which describe the cookie rather than hold it. */
const COOKIE_ATTRIBUTE = /^(?:path|domain|expires|max-age|samesite|secure|httponly|priority|partitioned)$/i;

/** `Cookie: session=…; csrftoken=…`: every value is a credential of the session it belongs to. */
export const cookieHeaderRule = regexRule(
  (s) => s.includes('kie:') || s.includes('KIE:'),
  /(\bcookie:[ \t]*)([^\r\n"'`]{1,4096})/gi,
  (m) => {
    let changed = false;
    const pairs = m[2]!.replace(/([\w.-]+)=([^;\s]+)/g, (pair, name: string, value: string) => {
      if (value.length < 8 || COOKIE_ATTRIBUTE.test(name) || !isCommandLineSecret(value)) return pair;
      changed = true;
      return `${name}=${marker('cookie')}`;
    });
    return changed ? `${m[1]}${pairs}` : null;
  },
);

/**
 * A password passed as a string argument: `auth=("user", "pw")`, `HTTPBasicAuth('user', 'pw')`,
 * `smtp.login("me@x", "pw")`, and an environment variable set by a call:
 * `SetEnvironmentVariable("API_KEY", "…")`, `os.Setenv("API_KEY", "…")`, `putenv("TOKEN", "…")`.
 */
export const credentialCallRule = regexRule(
  // Needles chosen for rare first characters: `includes` costs little unless that character is common.
  (s) => s.includes('=(') || s.includes('Auth(') || s.includes('n(') || s.includes('v(') || s.includes('Variable('),
  /(\b(?:auth=\(|(?:HTTPBasicAuth|HTTPDigestAuth|BasicAuth|DigestAuth)\(|\.login\(|(?:SetEnvironmentVariable|setenv|Setenv|putenv)\()[ \t]*(['"])([^'"\n]{1,100})\2[ \t]*,[ \t]*)(['"])([^'"\n]{1,200})\4/g,
  (m) => {
    const call = m[1]!;
    const value = m[5]!;
    if (!isCommandLineSecret(value)) return null;
    // A variable's value is secret only under a secret's name; a login's or auth's second argument always is.
    if (/env|Variable/.test(call) && describeName(m[3]!).strength === 'none') return null;
    return `${m[1]}${m[4]}${marker(/env|Variable/.test(call) ? 'secret-value' : 'password')}${m[4]}`;
  },
);

/** `expect "password:"` then `send "pw\r"`, in expect scripts and `expect -c '…'`. */
export const expectSendRule = regexRule(
  (s) => s.includes('xpect'),
  /(\bexpect[ \t]+(['"])[^'"\n]{0,80}(?:assword|assphrase)[^'"\n]{0,20}\2[ \t]*(?:;[ \t]*|\r?\n[ \t]*)send[ \t]+(['"]))((?:[^'"\\\n]|\\[^rn])+)/g,
  (m) => (isCommandLineSecret(m[4]!) ? `${m[1]}${PASSWORD}` : null),
  true,
);

const PGPASS_PRECHECK = /:(?:\d{1,5}|\*):/;

/** `~/.pgpass`: `host:port:database:user:password`, one entry a line. */
export const pgpassRule = regexRule(
  (s) => PGPASS_PRECHECK.test(s),
  /^([^:\s]+:(?:\d{1,5}|\*):[^:\s]+:[^:\s]+:)([^:\s]+)$/gm,
  (m) => (isCommandLineSecret(m[2]!) ? `${m[1]}${PASSWORD}` : null),
);
