import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    env: { TZ: 'UTC' },
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn the CLI and worker threads; two cores are all CI has.
    maxWorkers: 2,
  },
});
