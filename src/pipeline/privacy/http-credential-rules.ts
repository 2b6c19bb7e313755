import { hasDigit, hasLetter, marker, PLACEHOLDER, regexRule } from './redaction-rule.js';

/** HTTP credentials: `Authorization:` headers (Opik's carries the bare key) and loose `Bearer x`. */

export const authorizationRule = regexRule(
  (s) => s.includes('uthorization') || s.includes('UTHORIZATION'),
  /(authorization\\?["']?[ \t]*[:=][ \t]*\\?["']?)((?:bearer|basic|token|bot|digest)[ \t]+)?([\w\-.~+/=*]+)/gi,
  (m) => {
    const scheme = m[2];
    const value = m[3]!;
    if (value.length < 8) return null;
    // Without a scheme, demand something key-like so `authorization: required` stays.
    if (scheme === undefined && !hasDigit(value) && value.length < 20) return null;
    const label = scheme !== undefined && /^bearer/i.test(scheme) ? 'bearer-token' : 'authorization';
    return `${m[1]}${scheme ?? ''}${marker(label)}`;
  },
);

export const bearerRule = regexRule(
  (s) => s.includes('earer') || s.includes('EARER'),
  /(?<![\w-])(bearer[ \t]+)([\w\-.~+/]{16,}=*)/gi,
  (m) => (hasDigit(m[2]!) ? `${m[1]}${marker('bearer-token')}` : null),
  true,
);

/** Credentials in URLs: `scheme://user:pass@host`, and a bare token as the user (`https://TOKEN@host`). */
export const urlCredentialsRule = regexRule(
  (s) => s.includes('://') && s.includes('@'),
  // Starts with the `://` literal (the scheme is only looked behind at) so the engine can skip ahead fast.
  /:\/\/(?<=[A-Za-z0-9+.-]:\/\/)([^\s:@/?#"'<>]*)(?::([^\s@/?#"'<>]*))?@/g,
  (m) => {
    const user = m[1]!;
    const password = m[2];
    // An earlier rule's marker (`ghp_[REDACTED:github-token]`) has a colon that reads like userinfo.
    if (user.includes('[REDACTED') || password?.includes('[REDACTED')) return null;
    if (password !== undefined && password.length > 0) {
      // GitHub's old token form: the token is the user, the password a fixed word.
      if (/^x-oauth-basic$/i.test(password)) return PLACEHOLDER.test(user) ? null : `://[REDACTED]:${password}@`;
      if (PLACEHOLDER.test(password)) return null;
      return `://${user}:[REDACTED]@`;
    }
    const tokenLike = user.length >= 20 && hasDigit(user) && hasLetter(user);
    return tokenLike ? '://[REDACTED]@' : null;
  },
);
