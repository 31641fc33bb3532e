// Work that depends on work, in Chromium with the worker: a chain of HTTP requests with temporary
// ids, offline with every tab closed, through a worker kill and a 500; latest wins; batches; a
// lane that skips a failed head.
import { test, expect, type Page } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, inPage, log, openApp, serverUntil, type ServerLog } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

const bodyOf = (r: ServerLog['received'][number]) => JSON.parse(Buffer.from(r.bodyBase64 ?? '', 'base64').toString() || 'null') as Record<string, unknown>;

/** Order (POST /api/ops), then payment for the order's server id, then the email for the payment, in one action. */
const deferChain = (page: Page) => page.evaluate(async () => {
  type H = { id: string };
  const hs = (window as unknown as { hs: {
    parentValue(h: H, path: string): string;
    deferFetchWith(input: string, init: RequestInit, options?: object): Promise<H & { persisted: Promise<unknown> }>;
  } }).hs;
  const json = { 'content-type': 'application/json' };
  const order = await hs.deferFetchWith('/api/ops', { method: 'POST', headers: json, body: JSON.stringify({ n: 1 }) });
  const payment = await hs.deferFetchWith('/api/echo', { method: 'POST', headers: json, body: JSON.stringify({ step: 'payment', orderSeq: hs.parentValue(order, 'json.seq'), cents: 500 }) }, { after: [order] });
  const email = await hs.deferFetchWith('/api/echo', { method: 'POST', headers: json, body: JSON.stringify({ step: 'email', paymentSeq: hs.parentValue(payment, 'json.seq') }) }, { after: [payment] });
  // On disk before the action reports done (the page may close right after).
  await Promise.all([order.persisted, payment.persisted, email.persisted]);
  return [order.id, payment.id, email.id];
});

test('the order → payment → email chain deferred offline in one action, every tab closed, then online: each once, in order, the payment for the server\'s order id', async ({ context, page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await hs.wakeWorker();
  await hs.offline();
  const ids = await deferChain(page);
  await page.close();
  await hs.online();
  const l = await serverUntil((x) => x.received.filter((r) => r.status === 200).length >= 3, 'the three requests', 20_000);
  const [order, payment, email] = l.received;
  expect(l.received.map((r) => r.key)).toEqual(ids);
  const orderSeq = l.applied.find((a) => a.key === ids[0])!.seq;
  expect(bodyOf(payment!)).toEqual({ step: 'payment', orderSeq, cents: 500 });
  expect(bodyOf(email!).paymentSeq).toBe(l.applied.find((a) => a.key === ids[1])!.seq);
  expect(order!.at).toBeLessThanOrEqual(payment!.at);
  const later = await context.newPage();
  await openApp(later);
  const kit = await halfsyncKit(later);
  for (const id of ids) await kit.waitForTask(id, 'succeeded');
});

test('the chain through a 500 on the create and a worker killed during the payment: each effect once, in order', async ({ page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await control({ script: [{ status: 500 }, { status: 200 }, { status: 200, delayMs: 1_500 }] });
  const ids = await deferChain(page);
  await hs.stopWorker({ when: () => serverUntil((l) => l.received.some((r) => r.path === '/api/echo'), 'the payment to be sent') });
  for (const id of ids) await hs.waitForTask(id, 'succeeded', { timeoutMs: 30_000 });
  const l = await log();
  expect(l.applied.map((a) => a.key)).toEqual(ids);
  expect(l.received.map((r) => r.behaviour).slice(0, 2)).toEqual(['500', '200']);
  const payments = l.received.filter((r) => r.path === '/api/echo' && bodyOf(r).step === 'payment');
  expect(new Set(payments.map((r) => r.key))).toEqual(new Set([ids[1]]));
  expect(payments.length).toBeGreaterThanOrEqual(2); // sent again after the kill, same key, applied once
  expect(l.overlaps).toEqual([]);
});

test('a parent failing for good: its dependents fail with DEPENDENCY_FAILED and nothing is sent for them; retrying the parent completes the chain', async ({ page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await control({ script: [{ status: 400 }] });
  const ids = await deferChain(page);
  await hs.waitForTask(ids[0]!, 'failed');
  for (const id of ids.slice(1)) expect((await hs.waitForTask(id, 'failed')).lastError?.code).toBe('DEPENDENCY_FAILED');
  expect((await log()).received).toHaveLength(1);
  await inPage(page, (h, id) => h.client.retry(id), ids[0]!);
  for (const id of ids) await hs.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
  expect((await log()).applied.map((a) => a.key)).toEqual(ids);
});

test('ten supersedes of one key while offline send one request with the last payload; a supersede while the previous one runs: both run, in order', async ({ page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await hs.wakeWorker();
  await hs.offline();
  await inPage(page, (h) => Promise.all(Array.from({ length: 10 }, (_, i) => h.client.defer(h.postOp, { n: i }, { supersede: 'draft' }).persisted)));
  await hs.online();
  await hs.sync();
  await serverUntil((l) => l.applied.length === 1, 'one save');
  await hs.waitForIdle();
  expect((await log()).received.map((r) => r.body?.n)).toEqual([9]);

  await control({ reset: true });
  await control({ script: [{ status: 200, delayMs: 800 }] });
  await inPage(page, (h) => h.client.defer(h.postOp, { n: 100 }, { supersede: 'draft-2' }).persisted);
  await serverUntil((l) => l.received.length === 1, 'the first save to be under way');
  await inPage(page, (h) => h.client.defer(h.postOp, { n: 101 }, { supersede: 'draft-2' }).persisted);
  await serverUntil((l) => l.applied.length === 2, 'both saves');
  expect((await log()).received.map((r) => r.body?.n)).toEqual([100, 101]);
});

test('a batch of 500 statistics events: fewer than 20 requests, every event counted once, a batch cut by a worker kill sent again with the same key', async ({ page }) => {
  test.setTimeout(90_000);
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page, { timeoutMs: 60_000 });
  await control({ script: [{ status: 200, delayMs: 1_500 }] });
  await inPage(page, async (h) => {
    for (let burst = 0; burst < 10; burst++) {
      await Promise.all(Array.from({ length: 50 }, (_, i) => h.client.defer(h.statsBatch, { n: burst * 50 + i }).persisted));
    }
  });
  await hs.stopWorker({ when: () => serverUntil((l) => l.received.length === 1, 'the first batch to be sent') });
  await hs.wakeWorker();
  await hs.waitForIdle();
  const l = await log();
  expect(l.received.length).toBeLessThan(20);
  const counted = l.received.filter((r) => !r.dup && r.status === 200).flatMap((r) => bodyOf(r).events as number[]);
  expect(counted.sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
  const first = l.received[0]!;
  expect(first.clientGone).toBe(true);
  expect(l.received.filter((r) => r.key === first.key).length).toBeGreaterThanOrEqual(2);
});

test('a failed head in a skipping lane does not block the tasks behind it', async ({ page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await control({ script: [{ status: 400 }] });
  const ids = await inPage(page, (h) => Promise.all([1, 2, 3].map((n) => h.client.defer(h.skipOp, { n, lane: 'telemetry' }).persisted.then((t) => t.id))));
  expect((await hs.waitForTask(ids[0]!, 'failed')).lastError?.code).toBe('HTTP_400');
  for (const id of ids.slice(1)) await hs.waitForTask(id, 'succeeded');
  expect((await log()).applied.map((a) => a.n)).toEqual([2, 3]);
});
