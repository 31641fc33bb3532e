#!/usr/bin/env node
// Takes the README's screenshot of the demo with headless Chromium: one order synced, then a
// second one placed while the backend fails, so the queue panel shows both states (its timeline,
// filters and both chains in view).
// Usage: start the demo (npm run demo -- --reset), then: node scripts/screenshot.mjs [url] [out.png]
import { chromium } from 'playwright-core';
import { chromiumPath, chromiumArgs } from './browsers.mjs';

const url = process.argv[2] ?? 'http://127.0.0.1:5173/';
const out = process.argv[3] ?? 'docs/demo.png';
const api = (path, body) => fetch(new URL(`api${path}`, url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

const browser = await chromium.launch({ executablePath: chromiumPath(), args: chromiumArgs, headless: true });
try {
  const page = await browser.newPage({ viewport: { width: 1240, height: 930 }, deviceScaleFactor: 1 });
  await api('/reset', {});
  await api('/behaviour', { mode: 'healthy' });
  await page.goto(url);
  await page.getByText('runner: sync').waitFor();
  await page.getByRole('button', { name: /^Pay/ }).click();
  await page.locator('.chip[data-status="succeeded"]').nth(3).waitFor();
  await page.getByRole('button', { name: 'Continue shopping' }).click();
  await page.getByRole('button', { name: 'Add one Half-Sync tee' }).click();
  // The switch is set once the backend answers: click, then wait for it to show.
  await page.getByLabel('Failing (500)').click();
  await page.locator('input[name="backend"][value="failing"]:checked').waitFor();
  await page.getByRole('button', { name: /^Pay/ }).click();
  // The order fails with 500 and retries; what depends on it waits for it.
  await page.locator('tr[data-task-id]').filter({ hasText: 'HTTP_500' }).first().waitFor({ timeout: 15_000 });
  // The header's counts are the store's, read a moment after each change.
  await page.locator('[data-count="pending"]').filter({ hasText: '4 pending' }).waitFor();
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await api('/behaviour', { mode: 'healthy' }).catch(() => {});
}
