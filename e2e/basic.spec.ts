import { test, expect } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, deferOps, inPage, openApp, serverUntil } from './support';

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

test('a write-only page (createWriter, no client) wakes the worker, which completes its tasks with every tab closed', async ({ context }) => {
  // A first visit registers the worker, as the app's other pages do.
  const first = await context.newPage();
  expect(await openApp(first, '')).toBe('sync');
  await first.close();
  const page = await context.newPage();
  // A slow registration lookup: the wake-up must still be asked for before `persisted` resolves and the page closes.
  await page.addInitScript(() => {
    const sw = navigator.serviceWorker;
    const lookUp = sw.getRegistration.bind(sw);
    sw.getRegistration = (scope?: string) => new Promise((r) => setTimeout(r, 300)).then(() => lookUp(scope));
  });
  await page.goto('/?autostart=0');
  expect(await page.evaluate(() => (window as unknown as { hs: { client: unknown } }).hs.client)).toBeUndefined();
  const ids = await inPage(page, (hs) => hs.writeOps([1, 2, 3]));
  expect(ids).toHaveLength(3);
  await page.close();
  const l = await serverUntil((x) => x.applied.length === 3, 'three ops applied');
  expect(l.applied.map((a) => a.n).sort()).toEqual([1, 2, 3]);
  expect(new Set(l.received.map((r) => r.key)).size).toBe(3);
});
