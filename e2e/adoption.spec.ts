// Mistakes adopters make, diagnosed at once in Chromium: a worker script that never calls serve(),
// and a page-runner chunk that cannot be loaded.
import { test, expect } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, deferOps, inPage, serverUntil } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

test('a worker script without serve(): the page runner takes over within seconds, and the error and the console say what to add', async ({ page }) => {
  const warnings: string[] = [];
  page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
  await page.goto('/?swurl=/sw-without-serve.js&db=no-serve');
  // Bounded by far less than the 10 s worker timeout that used to pass silently first.
  await expect.poll(() => inPage(page, (h) => h.client.mode), { timeout: 6_000, intervals: [50] }).toBe('page');
  const reason = await inPage(page, (h) => ({ code: h.client.modeReason?.code, message: h.client.modeReason?.message }));
  expect(reason.code).toBe('WORKER_UNAVAILABLE');
  expect(reason.message).toContain('serve({ tasks })');
  expect(reason.message).toContain('/sw-without-serve.js');
  expect(warnings.some((w) => w.includes('serve({ tasks })') && w.includes('/sw-without-serve.js'))).toBe(true);
  // And the work is done, in the page.
  const [id] = await deferOps(page, [1]);
  const hs = await halfsyncKit(page, { dbName: 'no-serve' });
  expect((await hs.waitForTask(id!, 'succeeded')).attempts).toBe(1);
});

test('a page runner that cannot be loaded: RUNNER_UNAVAILABLE in lastError, the task waits, and the next wake loads it and runs the task', async ({ page }) => {
  await page.route('**/assets/page-runner-*.js', (route) => route.abort('internetdisconnected'));
  await page.goto('/?sw=0&db=runner-missing');
  expect(await inPage(page, (h) => h.client.ready)).toBe('page');
  const [id] = await deferOps(page, [1]);
  const first = await inPage(page, (h) => ({ code: h.client.lastError?.code, message: h.client.lastError?.message }));
  expect(first.code).toBe('RUNNER_UNAVAILABLE');
  expect(first.message).toMatch(/page runner .*could not be loaded/);
  expect(await inPage(page, (h, x) => h.client.get(x)?.status, id)).toBe('pending');

  await page.unroute('**/assets/page-runner-*.js');
  // A wake: the network came back.
  await page.evaluate(() => window.dispatchEvent(new Event('online')));
  await serverUntil((l) => l.applied.length === 1, 'the task to run once the runner loads');
  const hs = await halfsyncKit(page, { dbName: 'runner-missing' });
  expect((await hs.waitForTask(id!, 'succeeded')).attempts).toBe(1);
  // Cleared by the runner's first good drain, which ends just after the task is written.
  await expect.poll(() => inPage(page, (h) => h.client.lastError?.code ?? 'none')).toBe('none');
});
