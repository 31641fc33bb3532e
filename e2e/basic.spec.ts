import { test, expect } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, deferOps, openApp, serverUntil } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

test('defers through Background Sync and the worker completes the task', async ({ page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  const [id] = await deferOps(page, [1]);
  const task = await hs.waitForTask(id!, 'succeeded');
  expect(task.result).toMatchObject({ dup: false });
  const l = await serverUntil((x) => x.received.length === 1, 'one request');
  expect(l.received[0]!.key).toBe(task.idempotencyKey);
  const log = await hs.backgroundSyncLog();
  expect(log.map((e) => e.event)).toContain('Dispatched sync event');
});

test('the client asks for persistent storage and says whether the browser granted it', async ({ page }) => {
  await openApp(page);
  const granted = await page.evaluate(async () => {
    const hs = (window as unknown as { hs: { client: { persistentStorage: Promise<boolean> } } }).hs;
    return { said: await hs.client.persistentStorage, browser: await navigator.storage.persisted() };
  });
  expect(typeof granted.said).toBe('boolean');
  expect(granted.said).toBe(granted.browser);
});
