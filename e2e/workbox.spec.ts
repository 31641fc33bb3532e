// Coming from Workbox, in Chromium: a Workbox route (NetworkOnly) with halfsync's deferPlugin where
// BackgroundSyncPlugin was, and a plain fetch listener with deferOnFailure, in a worker that also
// runs serve(). A POST the network cannot carry gets the chosen answer at once, shows in the page's
// queue, and reaches the server once, with its Idempotency-Key, when the server can be reached.
import { test, expect, type Page } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, inPage, log, serverUntil } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

const open = async (page: Page, db: string) => {
  await page.goto(`/?swurl=/sw-workbox.js&db=${db}`);
  expect(await inPage(page, (h) => h.client.ready)).toBe('sync');
  // The worker controls the page (clients.claim), so its routes see the page's requests.
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
};

/** A POST from the page, as the app makes it; resolves with the status and the JSON answer. */
const post = (page: Page, path: string, body: unknown) => page.evaluate(async ([p, b]) => {
  const res = await fetch(p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
  return { status: res.status, task: res.headers.get('halfsync-task'), json: (await res.json()) as Record<string, unknown> };
}, [path, body] as const);

test('Workbox route with deferPlugin: a POST made offline gets a 202, shows in the queue, and reaches the server once with its key', async ({ page }) => {
  await open(page, 'halfsync');
  const hs = await halfsyncKit(page);
  await hs.wakeWorker();
  await hs.offline();
  const answer = await post(page, '/api/echo', { n: 1 });
  expect(answer.status).toBe(202);
  expect(answer.json).toMatchObject({ deferred: true, id: expect.any(String), idempotencyKey: expect.any(String) });
  const id = answer.json.id as string;
  expect(answer.task).toBe(id);
  // The worker's defer reaches the page's client snapshot, as a page's own would.
  await expect.poll(() => inPage(page, (h, x) => h.client.get(x)?.status, id)).toBe('pending');
  expect(await inPage(page, (h, x) => h.client.get(x)?.name, id)).toBe('halfsync/http');
  expect((await log()).received).toHaveLength(0);

  await hs.online();
  await hs.sync();
  const done = await hs.waitForTask(id, 'succeeded');
  const l = await serverUntil((x) => x.received.length >= 1, 'the replayed request');
  expect(l.received.map((r) => [r.path, r.key, r.status])).toEqual([['/api/echo', done.idempotencyKey, 200]]);
  const sent = l.received[0]!;
  expect(Buffer.from(sent.bodyBase64!, 'base64').toString()).toBe('{"n":1}');
  expect(sent.headers).toMatchObject({ 'content-type': 'application/json', 'idempotency-key': answer.json.idempotencyKey, authorization: 'Bearer fresh-at-replay' });
  await expect.poll(() => inPage(page, (h, x) => h.client.get(x)?.status, id)).toBe('succeeded');
});

test('deferOnFailure in a plain fetch listener: the server down, the app’s own answer, then the request applied once when it is back', async ({ page }) => {
  await open(page, 'halfsync');
  const hs = await halfsyncKit(page);
  await control({ default: { down: true } });
  const answer = await post(page, '/api/ops', { n: 7 });
  expect(answer.status).toBe(200);
  const id = answer.json.queued as string;
  expect(id).toEqual(expect.any(String));
  await expect.poll(() => inPage(page, (h, x) => h.client.get(x)?.status, id)).toMatch(/pending|running/);
  // Replays that cannot reach the server are not counted as attempts.
  await serverUntil((l) => l.received.filter((r) => r.behaviour === 'down').length >= 2, 'a replay refused while the server is down');
  await control({ default: { status: 200 } });
  const done = await hs.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
  expect(done.attempts).toBe(1);
  const l = await log();
  expect(l.applied.filter((a) => a.key === done.idempotencyKey)).toEqual([{ key: done.idempotencyKey, seq: 1, n: 7 }]);
  expect(l.received.filter((r) => r.status === 200).map((r) => r.key)).toEqual([done.idempotencyKey]);
});

test('the page’s own POST carries the key its task will use: an answer lost on the way back is replayed under that key and applied once', async ({ page }) => {
  await open(page, 'halfsync');
  const hs = await halfsyncKit(page);
  // Through the route while the server is up: the POST goes out with a key the app did not set,
  // and still with the page's referrer.
  const live = await post(page, '/api/echo', { n: 1 });
  expect(live.status).toBe(200);
  const first = (await log()).received[0]!;
  expect(first.key).toMatch(/^[0-9a-f-]{36}$/);
  expect(first.headers?.referer).toBe(page.url());

  // The server applies the next one, but no answer reaches the browser. Chromium itself sends a
  // POST again when a connection closes with no answer, so the server sees it more than once
  // before the worker defers it: every copy under the same key, applied once.
  await control({ reset: true });
  await control({ default: { status: 200, lose: true } });
  const answer = await post(page, '/api/echo', { n: 2 });
  expect(answer.status).toBe(202);
  await control({ default: { status: 200 } });
  await hs.sync();
  const done = await hs.waitForTask(answer.json.id as string, 'succeeded', { timeoutMs: 20_000 });
  const l = await log();
  expect(done.idempotencyKey).toBe(answer.json.idempotencyKey);
  // Every try reached the server under the task's key; the replay was answered from the first.
  expect(new Set(l.received.map((r) => r.key))).toEqual(new Set([done.idempotencyKey]));
  expect(l.received.length).toBeGreaterThanOrEqual(2);
  expect(l.received[0]).toMatchObject({ clientGone: true, dup: false });
  expect(l.received.at(-1)).toMatchObject({ status: 200, clientGone: false, dup: true });
  expect(l.applied).toEqual([{ key: done.idempotencyKey, seq: 1 }]);
});
