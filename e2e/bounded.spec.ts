// Guarantee 11, "Bounded", in Chromium with the worker: one drain per burst of requests, one tab
// that wakes the runner on timers, no false wake while a long task renews its lease, and a worker
// that stops answering replaced by the page runner, with the reason.
import { test, expect, type Page } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, deferOps, inPage, log, openApp, serverUntil } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

/** Counts Background Sync registrations made by each page (installed before the app loads). */
async function countRegistrations(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = window as unknown as { __registrations: string[] };
    w.__registrations = [];
    const proto = (globalThis as unknown as { SyncManager?: { prototype: { register(tag: string): Promise<void> } } }).SyncManager?.prototype;
    if (!proto) return;
    const real = proto.register;
    proto.register = function (this: unknown, tag: string) { w.__registrations.push(tag); return real.call(this, tag); };
  });
}
const registrations = (page: Page) => page.evaluate(() => (window as unknown as { __registrations: string[] }).__registrations);

test('the worker coalesces drain requests: 21 at once give at most two drains', async ({ page }) => {
  await openApp(page, 'nosync=1');
  const hs = await halfsyncKit(page);
  await hs.wakeWorker();
  await control({ default: { status: 200, delayMs: 300 } });
  await deferOps(page, [1]);
  const drains = await page.evaluate(async () => {
    const seen: unknown[] = [];
    const channel = new BroadcastChannel('halfsync:halfsync');
    channel.onmessage = (e: MessageEvent<{ t?: string }>) => { if (e.data?.t === 'drained') seen.push(e.data); };
    const reg = await navigator.serviceWorker.ready;
    const ask = () => new Promise((resolve) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = (e) => resolve(e.data);
      reg.active!.postMessage({ halfsync: 1, op: 'drain', db: 'halfsync' }, [ch.port2]);
    });
    await Promise.all(Array.from({ length: 21 }, ask));
    await new Promise((r) => setTimeout(r, 200));
    channel.close();
    return seen.length;
  });
  expect(drains).toBeGreaterThanOrEqual(1);
  expect(drains).toBeLessThanOrEqual(2);
});

test('three tabs, a task that outlives its lease many times: one registration (its commit), no false wake from any tab', async ({ context }) => {
  await countRegistrations(context as unknown as Page);
  const pages = [await context.newPage(), await context.newPage(), await context.newPage()];
  for (const p of pages) expect(await openApp(p, 'leaseMs=400')).toBe('sync');
  const hs = await halfsyncKit(pages[0]!);
  await hs.wakeWorker();
  for (const p of pages) await p.evaluate(() => { (window as unknown as { __registrations: string[] }).__registrations.length = 0; });
  // 2.5 s of work under a 400 ms lease: renewed about every 130 ms, broadcast to every tab.
  await control({ script: [{ status: 200, delayMs: 2_500 }] });
  const [id] = await deferOps(pages[0]!, [1]);
  await hs.waitForTask(id!, 'succeeded', { timeoutMs: 20_000 });
  const counts = await Promise.all(pages.map(registrations));
  expect(counts.map((c) => c.length)).toEqual([1, 0, 0]);
  expect((await log()).received).toHaveLength(1);
});

test('three tabs, retries coming due: only the elected tab wakes the runner for them', async ({ context }) => {
  await countRegistrations(context as unknown as Page);
  const pages = [await context.newPage(), await context.newPage(), await context.newPage()];
  for (const p of pages) expect(await openApp(p, 'holdMs=0')).toBe('sync');
  const hs = await halfsyncKit(pages[0]!);
  await hs.wakeWorker();
  for (const p of pages) await p.evaluate(() => { (window as unknown as { __registrations: string[] }).__registrations.length = 0; });
  // Three 500s: three retries the worker does not hold for (holdMs=0), so pages must wake it.
  await control({ script: [{ status: 500 }, { status: 500 }, { status: 500 }] });
  const [id] = await deferOps(pages[0]!, [1]);
  await hs.waitForTask(id!, 'succeeded', { timeoutMs: 20_000 });
  const counts = (await Promise.all(pages.map(registrations))).map((c) => c.length);
  const waking = counts.filter((n) => n > 0).length;
  // The deferring tab registers for its commit; the retries are woken by one tab, once each.
  expect(counts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1 + 3);
  expect(waking).toBeLessThanOrEqual(2);
  expect((await log()).received.filter((r) => r.status === 200)).toHaveLength(1);
});

test('a worker that stops answering in message mode is replaced by the page runner, and the client says why', async ({ page }) => {
  await page.goto('/?nosync=1&autostart=0');
  await inPage(page, (h) => { h.start({ workerTimeoutMs: 500 }); return h.client.ready; });
  expect(await inPage(page, (h) => h.client.mode)).toBe('message');
  await page.evaluate(async () => { (await navigator.serviceWorker.ready).active!.postMessage({ e2e: 'deaf' }); });
  const [id] = await deferOps(page, [1]);
  // The page asks the worker to drain; it never answers, nor a ping after it: the page runner takes over.
  await expect.poll(() => inPage(page, (h) => h.client.mode), { timeout: 15_000 }).toBe('page');
  const state = await inPage(page, (h) => ({ code: h.client.modeReason?.code, message: h.client.modeReason?.message }));
  expect(state.code).toBe('WORKER_UNAVAILABLE');
  expect(state.message).toMatch(/stopped answering/);
  // Run once, whoever ran it (the deaf worker may still drain on its own, as at its start).
  const hs = await halfsyncKit(page);
  expect((await hs.waitForTask(id!, 'succeeded')).attempts).toBe(1);
  await serverUntil((l) => l.applied.length === 1, 'the task applied', 15_000);
  expect((await log()).applied).toHaveLength(1);
});

test('a tab opened over a long queue holds a window of it, pages the rest, and the window fills again as the worker drains', async ({ context }) => {
  const first = await context.newPage();
  expect(await openApp(first)).toBe('sync');
  // 1,500 ops due in 8 s, then the tab closed.
  const ids = await deferOps(first, Array.from({ length: 1_500 }, (_, i) => i + 1), { delay: 8_000 });
  expect(ids).toHaveLength(1_500);
  await first.close();
  const page = await context.newPage();
  await page.goto('/?autostart=0');
  const loaded = await page.evaluate(async () => {
    const hs = (window as unknown as { hs: { start(o: object): { ready: Promise<unknown>; getSnapshot(): Array<{ id: string; status: string }>; count(q: object): Promise<number>; query(q: object, p: object): Promise<{ tasks: unknown[]; cursor?: string }> } } }).hs;
    const client = hs.start({ pendingWindow: 100 });
    await client.ready;
    const held = client.getSnapshot().filter((t) => t.status === 'pending').map((t) => t.id);
    const page2 = await client.query({ status: 'pending' }, { order: 'oldest', limit: 500 });
    return { held, stored: await client.count({ status: 'pending' }), paged: page2.tasks.length };
  });
  expect(loaded.held).toEqual(ids.slice(0, 100));
  expect(loaded.stored).toBe(1_500);
  expect(loaded.paged).toBe(500);
  await control({ default: { status: 200, delayMs: 10 } });
  // The window reads itself again as the first hundred finish: tasks beyond them come into view.
  const first100 = new Set(loaded.held);
  await expect.poll(() => inPage(page, (h, known) => h.client.getSnapshot().some((t) => t.status === 'pending' && !known.includes(t.id)), [...first100]), { timeout: 30_000 }).toBe(true);
  const l = await serverUntil((x) => x.applied.length === 1_500, 'every op applied', 60_000);
  expect(new Set(l.applied.map((a) => a.key)).size).toBe(1_500);
  await expect.poll(() => inPage(page, (h) => h.client.getSnapshot().filter((t) => t.status === 'pending').length), { timeout: 10_000 }).toBe(0);
});
