import { lintSource } from '@secretlint/core';
import { creator as recommendedPreset } from '@secretlint/secretlint-rule-preset-recommend';
import { describe, expect, it } from 'vitest';
import { createRedactor, type Redactor } from '../src/pipeline/privacy/redact-secrets.js';
import { SECRET_FIXTURES, fakeChars } from './support/planted-secrets.js';
import { ALPHABETS, FRESH_CORPUS, HELD_OUT_CORPUS, loadCorpus, survives } from './support/redaction-corpus.js';

/**
 * Differential test with secretlint's recommended preset as the oracle (issue 14, point 6): every secret
 * secretlint reports in a text must be gone from our redactor's output. secretlint is not the engine
 * (bench/README.md, "Redaction cost", says why); it is a second, independently written opinion on
 * provider-shaped tokens, which we must never be behind on.
 *
 * Texts: every case of both redaction corpora (positives and negatives), the planted-secret set of
 * test/redact-secrets.test.ts, and a few texts in shapes only secretlint's rules name (generated here,
 * like the corpora, so no provider-shaped token is stored in the repository).
 */

type LintOptions = Parameters<typeof lintSource>[0]['options'];
type Finding = Awaited<ReturnType<typeof lintSource>>['messages'][number];

/** The preset as it comes, plus the AWS rule's key-id scan (off by default there; we redact key ids). */
const CONFIG: LintOptions['config'] = {
  rules: [
    {
      id: '@secretlint/secretlint-rule-preset-recommend',
      rule: recommendedPreset,
      rules: [{ id: '@secretlint/secretlint-rule-aws', options: { enableIDScanRule: true } }],
    },
  ],
};

async function secretlint(text: string): Promise<Finding[]> {
  const result = await lintSource({
    // noPhysicFilePath: the rules gated on a file name (.npmrc, package.json) then run on every text.
    source: { content: text, filePath: 'transcript.txt', ext: '.txt', contentType: 'text' },
    options: { config: CONFIG, noPhysicFilePath: true, maskSecrets: false },
  });
  return result.messages;
}

/** Literal passwords of `https://<token>:<filler>@host` URLs: there the token is the user part. */
const FILLER_PASSWORDS = new Set(['x-oauth-basic', 'x-oauth', 'x']);

/**
 * The secret(s) a finding names, from its message data (not its range: the AWS rule's range starts at
 * the key's name and has the key's length). A URL with credentials → its password; a Slack webhook →
 * its path; a PEM block → its body lines; a token → itself; an AWS account id → nothing. A finding of a
 * shape we cannot read fails the test rather than being skipped.
 */
function secretsOf(f: Finding): string[] {
  // The key-id scan also reports AWS account ids, which are not credentials and which we keep on purpose.
  if (f.messageId === 'AWSAccountID') return [];
  const data = (f.data ?? {}) as Record<string, unknown>;
  const value = ['KEY', 'TOKEN', 'ID', 'CREDENTIAL', 'URI', 'URL']
    .map((k) => data[k])
    .find((v) => typeof v === 'string');
  if (typeof value !== 'string')
    throw new Error(`secretlint finding without a value we can read: ${f.ruleId} ${f.messageId}`);
  if (/-----BEGIN[^-]*PRIVATE KEY/.test(value)) {
    const body = value.replace(/-----(BEGIN|END)[^-]*-----/g, ' ');
    return body.split(/\s|\\n/).filter((line) => line.length >= 8);
  }
  const webhook = /^https:\/\/hooks\.slack\.com\/services\/(\S+)$/i.exec(value);
  if (webhook) return [webhook[1]!];
  const userinfo = /^[a-z][a-z0-9+.-]*:\/\/([^:/@\s]+):([^@/\s]+)@/i.exec(value);
  if (userinfo) return [FILLER_PASSWORDS.has(userinfo[2]!) ? userinfo[1]! : userinfo[2]!];
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw new Error(`secretlint URL finding without a password: ${f.ruleId}`);
  return [value];
}

interface Text {
  source: string;
  text: string;
  /** Our labels: the secrets we say are in the text (empty for a negative). */
  labelled: readonly string[];
  negative: boolean;
}

const { b64, b64url } = ALPHABETS;
const p = (...pieces: string[]): string => pieces.join('');

/**
 * Shapes named by secretlint rules the corpora do not reach, each with the secret it must find, in text
 * without a secret-looking name next to it (so our token rule for the shape is what must remove it). Not here:
 * the rules secretlint gates on a file name (`_authToken=` in .npmrc, `x-oauth-basic` URLs in
 * package.json, GCP key files), which never run on a transcript's text.
 */
function secretlintShapes(): Text[] {
  const openAiProject = p('sk-', 'proj-', fakeChars(901, 74, b64url), 'T3Blbk', 'FJ', fakeChars(902, 74, b64url));
  const openAiLegacy = p('sk-', fakeChars(903, 20), 'T3Blbk', 'FJ', fakeChars(904, 20));
  // secretlint checks a PEM body only for the ASN.1 magic bytes ("MI") and a length of 100+.
  const pemBody = Array.from(
    { length: 4 },
    (_, k) => (k === 0 ? 'MI' : '') + fakeChars(905 + k, k === 0 ? 62 : 64, b64),
  );
  const pemKind = p('EC ', 'PRIVATE KEY');
  const grafanaCloud = p('gl', 'c_', fakeChars(910, 48, b64.slice(0, 62)));
  // secretlint decodes a 1Password service-account token and wants a JSON object; "}" last in a group of 3.
  const opsJson = JSON.stringify({
    email: `${fakeChars(911, 13, 'abcdefghijklmnopqrstuvwxyz0123456789')}@1passwordserviceaccounts.lcl`,
    secretKey: fakeChars(918, 34, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'),
    srpX: fakeChars(919, 64, '0123456789abcdef'),
  });
  const opsPadded = `${opsJson.slice(0, -1)}${' '.repeat((4 - (opsJson.length % 3)) % 3)}}`;
  const onePassword = p('op', 's_', Buffer.from(opsPadded).toString('base64'));
  const vaultBatch = p('hv', 'b.', fakeChars(912, 150, b64url));
  const shopify = p('shp', 'ss_', fakeChars(914, 32, '0123456789abcdef'));
  const slackApp = p(
    'xa',
    'pp-1-',
    fakeChars(915, 11, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'),
    '-',
    fakeChars(916, 13, '0123456789'),
    '-',
    fakeChars(917, 64, '0123456789abcdef'),
  );
  return [
    { text: `from openai import OpenAI\nclient = OpenAI("${openAiProject}")`, labelled: [openAiProject] },
    { text: `revoked ${openAiLegacy} this morning`, labelled: [openAiLegacy] },
    {
      text: `cat key.pem\n-----BEGIN ${pemKind}-----\n${pemBody.join('\n')}\n-----END ${pemKind}-----\n`,
      labelled: pemBody,
    },
    { text: `grafana cloud: ${grafanaCloud} for the stack`, labelled: [grafanaCloud] },
    { text: `op run with ${onePassword} -- make deploy`, labelled: [onePassword] },
    { text: `vault lookup ${vaultBatch}`, labelled: [vaultBatch] },
    { text: `shopify app: ${shopify}`, labelled: [shopify] },
    { text: `socket mode app: ${slackApp}`, labelled: [slackApp] },
  ].map((t) => ({ ...t, source: 'secretlint shapes', negative: false }));
}

function texts(): Text[] {
  const out: Text[] = [];
  for (const [name, path] of [
    ['held-out', HELD_OUT_CORPUS],
    ['fresh', FRESH_CORPUS],
  ] as const) {
    for (const c of loadCorpus(path)) {
      out.push({ source: `${name}:${c.line}`, text: c.text, labelled: c.secrets, negative: !c.positive });
    }
  }
  for (const f of SECRET_FIXTURES)
    out.push({ source: `planted:${f.family}`, text: f.text, labelled: [f.secret], negative: false });
  out.push(...secretlintShapes());
  return out;
}

function redactor(): Redactor {
  const result = createRedactor({ enabled: true });
  if ('code' in result) throw new Error(result.message);
  return result;
}

const overlaps = (a: string, b: string): boolean => a.includes(b) || b.includes(a);

function bump(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

const list = (counts: Map<string, number>): string => [...counts].map(([k, v]) => `${k} ${v}`).join(', ');

describe('secretlint (recommended preset) as the oracle', () => {
  it('every secret secretlint finds is gone from our output; we also find what it does not', async () => {
    const r = redactor();
    const all = texts();
    let redacted = 0;
    let outsideOurLabels = 0;
    let labelled = 0;
    const missed: string[] = [];
    const flaggedNegatives: string[] = [];
    const foundBySource = new Map<string, number>();
    const onlyOursBySource = new Map<string, number>();
    const rules = new Map<string, number>();
    for (const t of all) {
      const findings = await secretlint(t.text);
      const output = r.redactText(t.text);
      const theirs = [...new Set(findings.flatMap(secretsOf))];
      const source = t.source.split(':')[0]!;
      for (const f of findings) bump(rules, f.ruleId.replace('@secretlint/secretlint-rule-', ''));
      if (t.negative && findings.length > 0) {
        flaggedNegatives.push(`${t.source} ${findings.map((f) => f.messageId).join(',')}: ${JSON.stringify(t.text)}`);
      }
      for (const secret of theirs) {
        bump(foundBySource, source);
        if (!t.labelled.some((s) => overlaps(s, secret))) outsideOurLabels++;
        if (survives(secret, output)) {
          missed.push(`${t.source}: secretlint's ${JSON.stringify(secret)} survives in ${JSON.stringify(output)}`);
        } else redacted++;
      }
      for (const secret of t.labelled) {
        labelled++;
        if (!theirs.some((s) => overlaps(s, secret))) bump(onlyOursBySource, source);
      }
    }
    const found = [...foundBySource.values()].reduce((a, b) => a + b, 0);
    const onlyOurs = [...onlyOursBySource.values()].reduce((a, b) => a + b, 0);
    console.log(
      `secretlint differential: ${all.length} texts; secretlint finds ${found} secrets (${list(foundBySource)}; ` +
        `${outsideOurLabels} outside our labels), we redact ${redacted} of them; of our ${labelled} labelled secrets ` +
        `only we find ${onlyOurs} (${list(onlyOursBySource)}); secretlint flags ${flaggedNegatives.length} negatives; ` +
        `its rules that fired: ${list(rules)}`,
    );
    for (const line of flaggedNegatives) console.log(`secretlint flags a negative (informational): ${line}`);
    expect(missed).toEqual([]);
    // The oracle is alive: it finds secrets in every source of texts.
    expect([...foundBySource.keys()].sort()).toEqual(['fresh', 'held-out', 'planted', 'secretlint shapes']);
  });

  it('finds every secret of the shapes its rules name (so those texts test what they claim to)', async () => {
    for (const t of secretlintShapes()) {
      const theirs = (await secretlint(t.text)).flatMap(secretsOf);
      expect(
        t.labelled.filter((s) => !theirs.some((x) => overlaps(x, s))),
        t.text.slice(0, 40),
      ).toEqual([]);
    }
  });
});
