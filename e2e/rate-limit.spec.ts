// A rate limit in Chromium, held across two tabs and the worker, with the worker killed in the
// middle: five a second, whoever runs the tasks, and every task once.
import { test, expect } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, inPage, openApp, serverUntil } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

type WithLimit = { deferLimited(ns: number[]): Promise<string[]> };

test('five a second across two tabs and the worker, through a worker kill; each task once', async ({ context, page }) => {
  expect(await openApp(page, 'leaseMs=1000')).toBe('sync');
  const other = await context.newPage();
  expect(await openApp(other, 'leaseMs=1000')).toBe('sync');
  await control({ default: { status: 200, delayMs: 50 } });
  await Promise.all([
    inPage(page, (h, ns) => (h as unknown as WithLimit).deferLimited(ns), [1, 2, 3, 4, 5, 6, 7, 8]),
    inPage(other, (h, ns) => (h as unknown as WithLimit).deferLimited(ns), [11, 12, 13, 14, 15, 16, 17, 18]),
  ]);
  const hs = await halfsyncKit(page);
  await hs.stopWorker({ when: () => serverUntil((l) => l.received.length >= 4, 'four requests') });
  await hs.wakeWorker();
  const l = await serverUntil((x) => x.applied.length === 16, 'every op applied', 30_000);
  const at = l.received.map((r) => r.at).sort((a, b) => a - b);
  // At most five starts in any second (one every 200 ms). The limit holds where tasks are claimed;
  // arrivals at the server also move with each request's latency (59 ms seen on two loaded cores).
  for (let i = 5; i < at.length; i++) expect(at[i]! - at[i - 5]!).toBeGreaterThanOrEqual(900);
  expect(new Set(l.applied.map((a) => a.key)).size).toBe(16);
});
