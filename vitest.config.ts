import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Four files at a time on two cores: most tests wait (for a token to expire, a timeout, a
    // provider held back), so two files left the cores idle. Measured here (2 vCPUs, the suite then
    // ~155 s of CPU): 2 workers 117 s, 3 workers 94 s, 4 workers 82 s; it is CPU-bound from there.
    // The pool stays forks with isolation: threads and --no-isolate were no faster here.
    maxWorkers: 4,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
