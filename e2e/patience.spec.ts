// Guarantee 9, "Patient", in Chromium on each path (Background Sync, messages to the worker, the
// page runner): a task deferred with a fast, short policy (10 ms base, 3 attempts) while the
// browser is offline, or while the server refuses connections for far longer than three attempts
// would last, stays pending with no attempt used, and completes once, with its key, after.
import { test, expect, type Page } from '@playwright/test';
import { halfsyncKit, type HalfsyncKit } from '@halfsync/core/testing';
import type { Task } from '@halfsync/core';
import { control, inPage, log, openApp, serverUntil } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

const paths = [
  { mode: 'sync', query: '', db: 'halfsync' },
  // Chromium without SyncManager, as Firefox and Safari are (the real engines: e2e/engines).
  { mode: 'message', query: 'nosync=1', db: 'halfsync' },
  { mode: 'page', query: 'sw=0&db=patience-page', db: 'patience-page' },
] as const;

const deferFast = (page: Page, n: number) =>
  inPage(page, (hs, x) => (hs as unknown as { deferFast(op: { n: number }): Promise<string> }).deferFast({ n: x }), n);

const task = async (kit: HalfsyncKit, id: string): Promise<Task> => (await kit.tasks()).find((t) => t.id === id)!;

for (const path of paths) {
  test(`${path.mode}: a task deferred offline waits with no attempt used through many retry periods, then completes once`, async ({ page }) => {
    expect(await openApp(page, path.query)).toBe(path.mode);
    const hs = await halfsyncKit(page, { dbName: path.db });
    if (path.mode !== 'page') await hs.wakeWorker();
    await hs.offline();
    const id = await deferFast(page, 1);
    // Ask the runner to drain again and again, far past 3 × 10 ms: it must not try at all.
    for (let i = 0; i < 10; i++) {
      await inPage(page, (h) => h.client.drain().catch(() => undefined));
      await page.waitForTimeout(50);
    }
    expect(await task(hs, id)).toMatchObject({ status: 'pending', attempts: 0 });
    expect((await log()).received).toHaveLength(0);
    await hs.online();
    if (path.mode === 'sync') await hs.sync();
    const done = await hs.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
    expect(done.attempts).toBe(1);
    const l = await log();
    expect(l.received.map((r) => [r.key, r.status])).toEqual([[done.idempotencyKey, 200]]);
  });

  test(`${path.mode}: the server refusing connections for longer than the attempt budget: pending, no attempt used, then completes once`, async ({ page }) => {
    expect(await openApp(page, path.query)).toBe(path.mode);
    const hs = await halfsyncKit(page, { dbName: path.db });
    await control({ default: { down: true } });
    const id = await deferFast(page, 2);
    // Twelve refused tries: four times the budget of three attempts.
    await serverUntil((l) => l.received.filter((r) => r.behaviour === 'down').length >= 12, 'twelve refused tries', 30_000);
    const waiting = await task(hs, id);
    expect(waiting).toMatchObject({ status: expect.stringMatching(/pending|running/), attempts: expect.any(Number), lastError: { code: 'NETWORK_ERROR', kind: 'unreachable' } });
    expect(waiting.attempts).toBeLessThanOrEqual(1); // 1 only while a try is in flight
    expect(waiting.unreachable).toBeGreaterThanOrEqual(9); // the record may lag the server by a try or two
    await control({ default: { status: 200 } });
    const done = await hs.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
    expect(done.attempts).toBe(1);
    const l = await log();
    expect(l.applied.map((a) => a.key)).toEqual([done.idempotencyKey]);
    expect(l.received.filter((r) => r.status === 200)).toHaveLength(1);
  });
}

test('permanent failures still fail at once; a transient outage with maxAttempts 3 fails after three counted attempts', async ({ page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await control({ script: [{ status: 400 }] });
  const rejected = await deferFast(page, 3);
  expect((await hs.waitForTask(rejected, 'failed')).attempts).toBe(1);
  await control({ reset: true });
  await control({ default: { status: 503 } });
  const down = await deferFast(page, 4);
  const failed = await hs.waitForTask(down, 'failed', { timeoutMs: 20_000 });
  expect(failed).toMatchObject({ attempts: 3, unreachable: 0, lastError: { kind: 'transient', code: 'HTTP_503' } });
  expect((await log()).received).toHaveLength(3);
});

test('the HTTP task, end to end: a 401 refreshes the token in the worker and succeeds in one attempt; a DELETE answered 404 is done', async ({ page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  const rules = (input: string, init: RequestInit) =>
    inPage(page, (h, a) => (h as unknown as { deferFetchRules(i: string, o: RequestInit): Promise<string> }).deferFetchRules(a.input, a.init), { input, init });
  const auth = await rules('/api/auth', { method: 'POST', body: 'order' });
  const done = await hs.waitForTask(auth, 'succeeded');
  expect(done).toMatchObject({ attempts: 1, result: { status: 200 } });
  const gone = await rules('/api/gone', { method: 'DELETE' });
  expect(await hs.waitForTask(gone, 'succeeded')).toMatchObject({ attempts: 1, result: { status: 404 } });
  const l = await log();
  const seen = l.received.map((r) => [r.path, (r as { headers?: { authorization?: string } }).headers?.authorization, r.key]);
  expect(seen).toEqual([
    ['/api/auth', 'Bearer expired', done.idempotencyKey],
    ['/api/auth', 'Bearer renewed', done.idempotencyKey],
    ['/api/gone', 'Bearer renewed', gone],
  ]);
});
