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
