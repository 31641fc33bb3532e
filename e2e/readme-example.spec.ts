import { test, expect } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';

// What your app offers the test: here the e2e app's window.hs.defer, which defers a task and
// resolves with its id once it is persisted.
declare global { interface Window { hs: { defer(op: { n: number }): Promise<string> } } }

test('a task deferred offline reaches the server once when the browser is back online', async ({ page, request }) => {
  await page.goto('/');
  const hs = await halfsyncKit(page);
  await hs.wakeWorker();

  await hs.offline();
  const id = await page.evaluate(() => window.hs.defer({ n: 1 }));   // your app's action
  expect((await hs.tasks()).find((t) => t.id === id)?.status).toBe('pending');

  await hs.online();
  await hs.sync();
  const task = await hs.waitForTask(id, 'succeeded');

  // Your server's record of what it received (here the e2e server's log).
  const log = (await (await request.get('/api/_log')).json()) as { received: Array<{ key: string }> };
  expect(log.received.filter((r) => r.key === task.idempotencyKey)).toHaveLength(1);
});
