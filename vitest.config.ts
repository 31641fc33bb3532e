import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
// @ts-expect-error -- a plain .mjs helper shared with the scripts
import { chromiumPath, chromiumArgs } from './scripts/browsers.mjs';

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const alias = {
  '@halfsync/core/worker': src('./packages/core/src/worker.ts'),
  '@halfsync/core/http': src('./packages/core/src/http.ts'),
  '@halfsync/core/workbox': src('./packages/core/src/workbox.ts'),
  '@halfsync/core/testing/node': src('./packages/core/src/testing/node.ts'),
  '@halfsync/core/testing': src('./packages/core/src/testing/index.ts'),
  '@halfsync/core': src('./packages/core/src/index.ts'),
  '@halfsync/react/devtools': src('./packages/react/src/devtools/index.tsx'),
  '@halfsync/react': src('./packages/react/src/index.ts'),
  '@halfsync/server/sqlite': src('./packages/server/src/stores/sqlite.ts'),
  '@halfsync/server/postgres': src('./packages/server/src/stores/postgres.ts'),
  '@halfsync/server/node': src('./packages/server/src/adapters/node.ts'),
  '@halfsync/server/hono': src('./packages/server/src/adapters/hono.ts'),
  '@halfsync/server': src('./packages/server/src/index.ts'),
};

export default defineConfig({
  resolve: { alias },
  server: { host: '127.0.0.1' },
  test: {
    projects: [
      {
        resolve: { alias },
        test: {
          name: 'unit',
          environment: 'node',
          include: ['packages/*/test/**/*.test.{ts,tsx}', 'demo/server/**/*.test.ts', 'scripts/**/*.test.ts'],
          exclude: ['**/node_modules/**', '**/*.browser.test.*'],
        },
      },
      {
        plugins: [react()],
        resolve: { alias },
        server: { host: '127.0.0.1' },
        test: {
          name: 'browser',
          include: ['packages/*/test/**/*.browser.test.{ts,tsx}'],
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({ launchOptions: { executablePath: chromiumPath(), args: chromiumArgs } }),
            instances: [{ browser: 'chromium' }],
          },
        },
      },
    ],
  },
});
