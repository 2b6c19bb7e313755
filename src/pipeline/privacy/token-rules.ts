import { hasDigit, hasLetter, marker, regexRule, type Rule } from './redaction-rule.js';

/** Provider tokens with a recognisable prefix. The prefix is kept: it says what leaked, not the secret. */

const anthropicRule = regexRule(
  (s) => s.includes('sk-ant-'),
  /(?<![\w-])sk-ant-[\w-]{20,}/g,
  () => `sk-ant-${marker('anthropic-key')}`,
);

const openAiRule = regexRule(
  (s) => s.includes('sk-'),
  /(?<![\w-])sk-(?!ant-)((?:proj|svcacct|admin)-)?([\w-]{20,})/g,
  // Real keys are random; requiring a digit and a letter spares `sk-some-long-css-class-name`.
  (m) => (hasDigit(m[2]!) && hasLetter(m[2]!) ? `sk-${m[1] ?? ''}${marker('openai-key')}` : null),
);

const GITHUB_PRECHECK = /gh[pousr]_|github_pat_/;
const githubRule = regexRule(
  (s) => s.includes('_') && GITHUB_PRECHECK.test(s),
  /(?<![\w-])(gh[pousr]_)[A-Za-z0-9]{30,}|(?<![\w-])github_pat_\w{40,}/g,
  (m) => `${m[1] ?? 'github_pat_'}${marker('github-token')}`,
);

const slackTokenRule = regexRule(
  (s) => s.includes('xox') || s.includes('xapp-'),
  /(?<![\w-])(xox[abposr]-|xapp-)[A-Za-z0-9-]{10,}/g,
  (m) => `${m[1]}${marker('slack-token')}`,
);

const slackWebhookRule = regexRule(
  (s) => s.includes('hooks.slack.com'),
  /hooks\.slack\.com\/services\/[\w/-]{8,}/g,
  () => `hooks.slack.com/services/${marker('slack-webhook')}`,
);

const googleRule = regexRule(
  (s) => s.includes('AIza'),
  /(?<![\w-])AIza[\w-]{30,}/g,
  () => `AIza${marker('google-api-key')}`,
);

const stripeRule = regexRule(
  (s) => s.includes('k_live_') || s.includes('k_test_'),
  /(?<![\w-])([sr]k_(?:live|test)_)[A-Za-z0-9]{16,}/g,
  (m) => `${m[1]}${marker('stripe-key')}`,
);

/** `123456789:AA…`, alone or in `https://api.telegram.org/bot<token>/…`. */
const telegramBotRule = regexRule(
  (s) => s.includes(':AA'),
  /(?<!\d)\d{8,10}:AA[\w-]{33}(?![\w-])/g,
  () => marker('telegram-bot-token'),
);

const jwtRule = regexRule(
  (s) => s.includes('eyJ'),
  /(?<![\w-])eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}/g,
  () => marker('jwt'),
);

export const TOKEN_RULES: readonly Rule[] = [
  anthropicRule,
  openAiRule,
  githubRule,
  slackTokenRule,
  slackWebhookRule,
  googleRule,
  stripeRule,
  telegramBotRule,
  jwtRule,
];
