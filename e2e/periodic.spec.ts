// Periodic tasks in Chromium: the fixture's heartbeat (every 2 s, with `periodic=1`) run by the
// worker while tabs are open, by Periodic Background Sync with no client open, and by the page
// runner; at most once per period, each run once.
import { test, expect, type Page } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, inPage, log, openApp, serverUntil, type ServerLog } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

/** The heartbeat's runs the server applied, in the order received. */
const beats = (l: ServerLog) => l.received.filter((r) => r.path === '/api/ops' && l.applied.some((a) => a.key === r.key && a.n === 0));
const starts = (l: ServerLog) => [...new Set(beats(l).map((r) => r.key))].map((key) => beats(l).find((r) => r.key === key)!.at).sort((a, b) => a - b);

/** Every heartbeat applied once, and no two started within a period of each other (the server's clock; 100 ms for the network's jitter). */
function oncePerPeriod(l: ServerLog): void {
  const at = starts(l);
  for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(1_900);
  const keys = beats(l).map((r) => r.key);
  expect(l.applied.filter((a) => a.n === 0)).toHaveLength(new Set(keys).size);
}

test('runs through the worker while two tabs are open, once per period', async ({ context, page }) => {
  expect(await openApp(page, 'periodic=1')).toBe('sync');
  const other: Page = await context.newPage();
  expect(await openApp(other, 'periodic=1')).toBe('sync');
  const l = await serverUntil((x) => starts(x).length >= 3, 'three heartbeats', 20_000);
  oncePerPeriod(l);
  // One run waits in the store for the next period, whichever tab looks.
  const waiting = await inPage(other, (hs) => hs.client.getSnapshot().filter((t) => t.name === 'heartbeat' && (t.status === 'pending' || t.status === 'running')).length);
  expect(waiting).toBe(1);
});

test('fires through Periodic Background Sync dispatched over the DevTools Protocol, with no client open', async ({ page }) => {
  // holdMs=0: the worker does not stay in a sync event for a run coming due (it holds 5 s by default).
  expect(await openApp(page, 'periodic=1&holdMs=0')).toBe('sync');
  await serverUntil((x) => starts(x).length === 1, 'the first heartbeat');
  // The same origin without a client: nothing wakes the worker for the next run.
  await page.goto('/?periodic=1&holdMs=0&autostart=0');
  const hs = await halfsyncKit(page);
  await page.waitForTimeout(3_000);
  expect(starts(await log())).toHaveLength(1);
  const report = await hs.periodicSync();
  expect(report).toMatchObject({ tag: 'halfsync', outcome: 'done' });
  const l = await serverUntil((x) => starts(x).length === 2, 'the heartbeat the periodic sync ran');
  oncePerPeriod(l);
});

test('the periodic capability says what the browser allows: not granted to an app that is not installed', async ({ page }) => {
  expect(await openApp(page, 'periodic=1')).toBe('sync');
  const status = await inPage(page, (hs) => (hs.client as unknown as { periodicSync(): Promise<{ state: string; minIntervalMs: number }> }).periodicSync());
  // Headless Chromium, not installed: the API exists, the permission does not (and the DevTools
  // Protocol cannot grant it), so nothing is registered; the runs above go on regardless.
  expect(status).toEqual({ state: 'not-granted', minIntervalMs: 2_000 });
  const tags = await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready as ServiceWorkerRegistration & { periodicSync: { getTags(): Promise<string[]> } };
    return reg.periodicSync.getTags();
  });
  expect(tags).toEqual([]);
});

test('runs through the page runner when there is no worker', async ({ page }) => {
  expect(await openApp(page, 'periodic=1&sw=0')).toBe('page');
  const l = await serverUntil((x) => starts(x).length >= 3, 'three heartbeats from the page runner', 20_000);
  oncePerPeriod(l);
});
