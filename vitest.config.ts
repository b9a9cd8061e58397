import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Worker-thread tests are CPU-heavy: on 2 cores, one file at a time keeps them honest.
    fileParallelism: false,
  },
});
