import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noProcessOrConsole = {
  'no-console': 'error',
  'no-restricted-properties': [
    'error',
    { object: 'process', property: 'exit', message: 'Only src/main may end the process.' },
  ],
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', 'bench/.corpus/**', 'scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', AbortController: 'readonly', AbortSignal: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/workers/**/*.ts'],
    rules: {
      ...noProcessOrConsole,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['undici', 'lmdb', 'commander', 'chokidar'], message: 'Workers stay light: no network, state or CLI code.' },
            { group: ['**/main/**', '../main/*'], message: 'Workers never import src/main.' },
            { group: ['**/opik-uploader*', '**/state-store*'], message: 'Workers never upload or touch state.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/pipeline/**/*.ts'],
    rules: {
      ...noProcessOrConsole,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['commander'], message: 'Only src/main parses argv.' },
            { group: ['**/main/**', '../main/*', '**/workers/**', '../workers/*'], message: 'pipeline never imports main or workers.' },
          ],
        },
      ],
    },
  },
);
