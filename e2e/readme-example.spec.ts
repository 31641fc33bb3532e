// The example of the README's "Testing your deferred actions" section, kept passing in CI.
import { test, expect } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';

test('a task deferred offline reaches the server once when the browser is back online', async ({ page, request }) => {
  await request.post('/api/_control', { data: { reset: true } });
  await page.goto('/');
  const hs = await halfsyncKit(page);
  await hs.wakeWorker();

  await hs.offline();
  const id = await page.evaluate(() => (window as unknown as { hs: { defer(op: { n: number }): Promise<string> } }).hs.defer({ n: 1 }));
  expect((await hs.tasks())[0]?.status).toBe('pending');

  await hs.online();
  await hs.sync();
  const task = await hs.waitForTask(id, 'succeeded');

  const log = await (await request.get('/api/_log')).json() as { received: Array<{ key: string }> };
  expect(log.received.map((r) => r.key)).toEqual([task.idempotencyKey]);
});
