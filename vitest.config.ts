import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests spawn many processes; two cores: keep file parallelism modest.
    maxWorkers: 2,
    globalSetup: ['test/support/global-setup.ts'],
  },
});
