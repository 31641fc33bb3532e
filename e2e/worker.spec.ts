// The service-worker half, end to end in Chromium: Background Sync, the message and page paths,
// crashes, retries, several tabs, a browser restart and order keys.
import { test, expect, chromium, type Page } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { halfsyncKit } from '@halfsync/core/testing';
import type { Task } from '@halfsync/core';
// @ts-expect-error -- a plain .mjs helper shared with the scripts
import { chromiumPath, chromiumArgs } from '../scripts/browsers.mjs';
import { ORIGIN, control, deferOps, inPage, log, openApp, serverUntil } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

const byKey = (l: Awaited<ReturnType<typeof log>>) => {
  const m = new Map<string, number>();
  for (const r of l.received) m.set(r.key, (m.get(r.key) ?? 0) + 1);
  return m;
};

const ready = (page: Page) =>
  page.evaluate(() => (window as unknown as { hs: { client: { ready: Promise<string> } } }).hs.client.ready);

/** A second visit, so the worker controls the page and has cached the app shell for offline reloads. */
async function openControlled(page: Page): Promise<void> {
  await openApp(page);
  await page.reload();
  await ready(page);
}

test('offline: three tasks survive a reload and a closed page, and reach the server once each when back online', async ({ context, page }) => {
  await openControlled(page);
  expect(await ready(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await hs.offline();
  const ids = await deferOps(page, [1, 2, 3]);
  await page.reload();
  await ready(page);
  expect((await hs.tasks()).map((t) => t.status)).toEqual(['pending', 'pending', 'pending']);
  expect((await log()).received).toHaveLength(0);
  await page.close();
  await hs.online();
  const l = await serverUntil((x) => x.applied.length === 3, 'three effects');
  expect([...byKey(l).values()]).toEqual([1, 1, 1]);
  const later = await context.newPage();
  await openApp(later);
  const kit = await halfsyncKit(later);
  const done = await kit.waitForIdle();
  expect(done.map((t) => [t.id, t.status])).toEqual(ids.map((id) => [id, 'succeeded']));
});

test('a worker stopped mid-request runs the task again with the same Idempotency-Key; the effect applies once', async ({ page }) => {
  await openApp(page);
  const hs = await halfsyncKit(page);
  await control({ script: [{ status: 200, delayMs: 1_500 }] });
  const [id] = await deferOps(page, [7]);
  await hs.stopWorker({ when: () => serverUntil((l) => l.received.length === 1, 'the first request') });
  // The page notices the orphaned lease and wakes a fresh worker, which takes the task over.
  const task = await hs.waitForTask(id!, 'succeeded', { timeoutMs: 20_000 });
  const l = await log();
  expect(l.received.map((r) => r.key)).toEqual([task.idempotencyKey, task.idempotencyKey]);
  expect(l.received[0]!.clientGone).toBe(true);
  expect(l.applied.filter((a) => a.key === task.idempotencyKey)).toHaveLength(1);
  expect(l.overlaps).toEqual([]);
  expect(task.attempts).toBe(2);
});

test('500 then 200: retried with backoff, then succeeded', async ({ page }) => {
  await openApp(page);
  const hs = await halfsyncKit(page);
  await control({ script: [{ status: 500 }] });
  const [id] = await deferOps(page, [1]);
  const task = await hs.waitForTask(id!, 'succeeded');
  expect(task.attempts).toBe(2);
  expect(task.lastError).toMatchObject({ code: 'HTTP_500', permanent: false });
  expect((await log()).received.map((r) => r.status)).toEqual([500, 200]);
});

test('400: the task fails and the page sees the status and the error body', async ({ page }) => {
  await openApp(page);
  await control({ script: [{ status: 400 }] });
  const outcome = await inPage(page, async (hs) => {
    const h = hs.client.defer(hs.postOp, { n: 1 });
    return h.result.then(() => 'resolved', (e: { code: string; details: { lastError: unknown } }) => ({ code: e.code, lastError: e.details.lastError }));
  });
  expect(outcome).toMatchObject({ code: 'TASK_FAILED', lastError: { code: 'HTTP_400', permanent: true, status: 400, body: expect.stringContaining('scripted 400') } });
  expect((await log()).received).toHaveLength(1);
});

test('429 with Retry-After: the next attempt waits as long as the server asked', async ({ page }) => {
  await openApp(page);
  const hs = await halfsyncKit(page);
  await control({ script: [{ status: 429, retryAfter: 2 }] });
  const [id] = await deferOps(page, [1]);
  await hs.waitForTask(id!, 'succeeded');
  const [first, second] = (await log()).received;
  expect(second!.at - first!.at).toBeGreaterThanOrEqual(2_000);
});

test('without SyncManager the client messages the worker, and every task completes', async ({ page }) => {
  expect(await openApp(page, 'nosync=1')).toBe('message');
  const hs = await halfsyncKit(page);
  const ids = await deferOps(page, [1, 2, 3, 4]);
  for (const id of ids) await hs.waitForTask(id, 'succeeded');
  expect([...byKey(await log()).values()]).toEqual([1, 1, 1, 1]);
});

test('without a service worker the page runner completes every task', async ({ page }) => {
  expect(await openApp(page, 'sw=0')).toBe('page');
  const hs = await halfsyncKit(page);
  const ids = await deferOps(page, [1, 2, 3]);
  for (const id of ids) await hs.waitForTask(id, 'succeeded');
  expect(await page.evaluate(() => navigator.serviceWorker.getRegistrations().then((r) => r.length))).toBe(0);
  expect([...byKey(await log()).values()]).toEqual([1, 1, 1]);
  // No worker controls this page: nothing to say.
  expect(await page.evaluate(() => (window as unknown as { hs: { client: { modeReason?: unknown } } }).hs.client.modeReason)).toBeUndefined();
});

test('a client made without serviceWorker on a page a halfsync worker controls says so in modeReason; without one, nothing is said', async ({ page }) => {
  await openControlled(page);
  await page.goto('/?sw=0');
  expect(await ready(page)).toBe('page');
  const reason = await page.waitForFunction(() => {
    const r = (window as unknown as { hs: { client: { modeReason?: { code: string; message: string } } } }).hs.client.modeReason;
    return r && { code: r.code, message: r.message };
  }, undefined, { timeout: 5_000 }).then((h) => h.jsonValue());
  expect(reason?.code).toBe('INVALID_OPTIONS');
  expect(reason?.message).toContain('serviceWorker: "/sw.js"');
});

test('two tabs and the worker: both tabs see every status live and each task runs once', async ({ context, page }) => {
  await openApp(page);
  const other = await context.newPage();
  await openApp(other);
  await control({ default: { status: 200, delayMs: 100 } });
  const ids = await deferOps(page, [1, 2, 3, 4, 5, 6]);
  const hs = await halfsyncKit(other);
  await hs.waitForIdle();
  for (const p of [page, other]) {
    const seen = await inPage(p, (h, ids) => ids.map((id) => h.events.map((e) => e.statuses[e.ids.indexOf(id)]).filter(Boolean)), ids);
    for (const statuses of seen) {
      expect(statuses).toContain('running');
      expect(statuses.at(-1)).toBe('succeeded');
    }
  }
  const l = await log();
  expect([...byKey(l).values()]).toEqual([1, 1, 1, 1, 1, 1]);
  expect(l.overlaps).toEqual([]);
});

test('a task deferred before a browser restart completes after it, with the same profile', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'halfsync-profile-'));
  const launch = () => chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: chromiumArgs, headless: true, baseURL: ORIGIN });
  try {
    let context = await launch();
    let page = context.pages()[0] ?? (await context.newPage());
    await openApp(page);
    let hs = await halfsyncKit(page);
    await hs.offline();
    const [id] = await deferOps(page, [42]);
    await context.close();
    expect((await log()).received).toHaveLength(0);
    context = await launch();
    page = context.pages()[0] ?? (await context.newPage());
    await openApp(page);
    hs = await halfsyncKit(page);
    const task = await hs.waitForTask(id!, 'succeeded');
    expect((await log()).applied.map((a) => a.key)).toEqual([task.idempotencyKey]);
    await context.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('order keys hold across the worker and a reload, even when the head of the lane is retried', async ({ page }) => {
  await openControlled(page);
  const hs = await halfsyncKit(page);
  await hs.offline();
  const first = await deferOps(page, [1, 2, 3], { orderKey: 'stats' });
  await page.reload();
  await ready(page);
  const second = await deferOps(page, [4, 5], { orderKey: 'stats' });
  await control({ script: [{ status: 500 }, { status: 500 }] });
  await hs.online();
  const all = [...first, ...second];
  for (const id of all) await hs.waitForTask(id, 'succeeded');
  const l = await log();
  const okOrder = l.received.filter((r) => r.status === 200).map((r) => r.body!.n);
  expect(okOrder).toEqual([1, 2, 3, 4, 5]);
  // Nothing behind the head ran while the head was failing.
  expect(l.received.slice(0, 3).map((r) => r.body?.n ?? r.behaviour)).toEqual(['500', '500', 1]);
  const tasks = await hs.tasks();
  expect(tasks.map((t: Task) => t.orderKey)).toEqual(['stats', 'stats', 'stats', 'stats', 'stats']);
});

/** A browser whose own Background Sync retries come after 2, then 4 s (not 5 and 15 minutes), `attempts` times. */
const launchWithQuickSyncRetries = (attempts: number) => chromium.launch({
  executablePath: chromiumPath(), headless: true,
  args: [...chromiumArgs, '--force-fieldtrials=BackgroundSync/Test', `--force-fieldtrial-params=BackgroundSync.Test:initial_retry_delay_sec/2/retry_delay_factor/2/max_sync_attempts/${attempts}`],
});

test('with every tab closed, a failing sync is rejected so the browser retries it, until it succeeds', async () => {
  const browser = await launchWithQuickSyncRetries(3);
  try {
    const context = await browser.newContext({ baseURL: ORIGIN });
    let page = await context.newPage();
    await openApp(page, 'holdMs=0');
    let hs = await halfsyncKit(page);
    await hs.offline();
    const [id] = await deferOps(page, [9]);
    await page.close();
    await control({ script: [{ status: 500 }, { status: 500 }] });
    // No page is open: only the browser's Background Sync can complete the task now.
    await context.setOffline(false);
    const l = await serverUntil((x) => x.applied.length === 1, 'the third attempt to succeed', 30_000);
    expect(l.received.map((r) => r.status)).toEqual([500, 500, 200]);
    // (Two attempts may come close together: the worker also drains when the browser starts it.)
    page = await context.newPage();
    await openApp(page, 'holdMs=0');
    hs = await halfsyncKit(page);
    expect((await hs.waitForTask(id!, 'succeeded')).attempts).toBe(3);
    const events = await hs.backgroundSyncLog();
    expect(events.filter((e) => e.event === 'sync event failed').map((e) => e.meta['Failure Reason'])).toContain('waitUntil rejected');
  } finally {
    await browser.close();
  }
});

test('with every tab closed, a network drop mid-replay ends the sync unfinished, and the browser\'s retry sends the rest once online', async () => {
  const browser = await launchWithQuickSyncRetries(5);
  try {
    const context = await browser.newContext({ baseURL: ORIGIN });
    let page = await context.newPage();
    await openApp(page, 'holdMs=0&concurrency=1');
    let hs = await halfsyncKit(page);
    await hs.offline();
    const ids = await deferOps(page, [1, 2, 3, 4, 5, 6]);
    await page.close();
    // Each request takes a while, so the network can drop while the replay is under way.
    await control({ default: { status: 200, delayMs: 400 } });
    await context.setOffline(false);
    await serverUntil((x) => x.applied.length >= 1, 'the replay to start', 20_000);
    await context.setOffline(true);
    const cut = (await log()).applied.length;
    expect(cut).toBeLessThan(6);
    // Still no window open: Chromium refuses a sync registered for the network's return, so only
    // the browser's retry of the unfinished event can send the rest.
    await new Promise((r) => setTimeout(r, 1_000));
    await context.setOffline(false);
    const l = await serverUntil((x) => x.applied.length === 6, 'the rest of the queue after the browser\'s retry', 30_000);
    expect([...byKey(l).values()].every((n) => n >= 1)).toBe(true);
    expect(new Set(l.applied.map((a) => a.key)).size).toBe(6);
    page = await context.newPage();
    await openApp(page, 'holdMs=0');
    hs = await halfsyncKit(page);
    for (const id of ids) expect((await hs.waitForTask(id, 'succeeded')).status).toBe('succeeded');
  } finally {
    await browser.close();
  }
});

test('a classic (IIFE) build of the same worker works as well as the module one', async ({ page }) => {
  expect(await openApp(page, 'swurl=/sw-classic.js&swtype=classic')).toBe('sync');
  const hs = await halfsyncKit(page);
  const ids = await deferOps(page, [1, 2]);
  for (const id of ids) await hs.waitForTask(id, 'succeeded');
  expect(await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.scriptURL)).toContain('/sw-classic.js');
});
