// The vm-tests project (opt-in: `npm run vm-test`, i.e. vm-tests/run.sh): boots QEMU
// guests one after another, so one file at a time, one worker, long timeouts.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    root: fileURLToPath(new URL('..', import.meta.url)),
    include: ['vm-tests/**/*.test.ts'],
    testTimeout: 900_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
  },
});
