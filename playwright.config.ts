import { defineConfig } from '@playwright/test';
// @ts-expect-error -- a plain .mjs helper shared with the scripts
import { chromiumPath, chromiumArgs } from './scripts/browsers.mjs';

export const E2E_PORT = 4310;
export const DEMO_PORT = 5310;

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  // The test server's request log is shared state: one test at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [['list']],
  timeout: 60_000,
  expect: { timeout: 10_000 },
  use: {
    baseURL: `http://127.0.0.1:${E2E_PORT}`,
    serviceWorkers: 'allow',
    launchOptions: { executablePath: chromiumPath(), args: chromiumArgs },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
  webServer: [
    {
      command: 'npx vite build && npx vite build -c vite.sw-classic.config.ts && node e2e/server.mjs',
      url: `http://127.0.0.1:${E2E_PORT}/`,
      env: { PORT: String(E2E_PORT) },
      reuseExistingServer: !process.env.CI,
      timeout: 120_000,
    },
    {
      // The demo as `npm run demo` serves it, on its own port and database file.
      command: 'node demo/start.mjs --reset',
      url: `http://127.0.0.1:${DEMO_PORT}/`,
      env: { PORT: String(DEMO_PORT), HALFSYNC_DEMO_DB: 'test-results/.demo/shop.db', HALFSYNC_DEMO_SLOW_MS: '300' },
      reuseExistingServer: !process.env.CI,
      timeout: 180_000,
    },
  ],
});
