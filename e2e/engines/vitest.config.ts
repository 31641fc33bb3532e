// The cross-engine suite: `npm run test:engines`. The same scenarios (scenarios.ts) in Chromium,
// Firefox ESR and WebKitGTK, one test file per engine, the engines in parallel.
import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: src('../..'),
  resolve: {
    alias: {
      '@halfsync/core/testing': src('../../packages/core/src/testing/index.ts'),
      '@halfsync/core/http': src('../../packages/core/src/http.ts'),
      '@halfsync/core': src('../../packages/core/src/index.ts'),
    },
  },
  test: {
    name: 'engines',
    include: ['e2e/engines/*.test.ts'],
    environment: 'node',
    globalSetup: ['e2e/engines/setup.ts'],
    // One process per engine: each drives its own browser and server.
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 3,
    testTimeout: 90_000,
    hookTimeout: 60_000,
    reporters: ['default', './e2e/engines/reporter.ts'],
  },
});
