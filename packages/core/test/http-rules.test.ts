// The HTTP task's status rules are the user's to change: a classifier per task, and a credentials
// refresh on 401 that tries once more without counting an attempt. Against a real local server.
import 'fake-indexeddb/auto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHttpTask, defaultHttpVerdict, deferFetch, parentValue, type HttpTaskOptions } from '../src/http.js';
import { createTestClient, type TestClient } from '../src/testing/node.js';

interface Seen { method: string; path: string; authorization: string | undefined; key: string | undefined; body: string }
let server: Server;
let origin = '';
let seen: Seen[] = [];
/** The status each path answers; `/auth` answers 401 unless the token is "fresh". */
const answers = new Map<string, number>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path, authorization: req.headers.authorization, key: req.headers['idempotency-key'] as string | undefined, body: Buffer.concat(chunks).toString() });
      let status = answers.get(path) ?? 200;
      if (path === '/auth') status = req.headers.authorization === 'Bearer fresh' ? 200 : 401;
      if (path === '/orders') { res.writeHead(201, { 'content-type': 'application/json' }); res.end(JSON.stringify({ id: 'srv-41', total: 1500 })); return; }
      res.writeHead(status, { 'content-type': 'text/plain', ...(status === 503 || status === 409 ? { 'retry-after': '7' } : {}) });
      res.end(`answer ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const open: TestClient[] = [];
afterEach(() => { seen = []; answers.clear(); while (open.length) open.pop()!.close(); });

function setup(options: Omit<HttpTaskOptions, 'allowOrigins'> = {}) {
  const task = createHttpTask({ name: `http-${open.length}`, allowOrigins: [origin], ...options });
  const t = createTestClient({ tasks: [task] });
  open.push(t);
  return { t, defer: (path: string, init: RequestInit = {}) => deferFetch(t.client, `${origin}${path}`, init, { task }) };
}

describe('the http task: default rules', () => {
  it('sorts statuses: 2xx success, 401 refresh, 408/425/429/5xx retry, other 4xx fail', () => {
    const v = (status: number) => defaultHttpVerdict({ status, type: 'basic' });
    expect([200, 204, 401, 408, 425, 429, 500, 503, 400, 403, 404, 409, 422].map(v)).toEqual(
      ['success', 'success', 'refresh', 'retry', 'retry', 'retry', 'retry', 'retry', 'fail', 'fail', 'fail', 'fail', 'fail'],
    );
    expect(defaultHttpVerdict({ status: 0, type: 'opaque' })).toBe('success');
  });

  it('fails a 401 for good where there is no refresh, and a DELETE answered 404', async () => {
    const { t, defer } = setup();
    answers.set('/gone', 404);
    const a = await defer('/auth', { method: 'POST', body: 'x' });
    const b = await defer('/gone', { method: 'DELETE' });
    await t.settle();
    expect(t.client.get(a.id)).toMatchObject({ status: 'failed', attempts: 1, lastError: { status: 401, kind: 'permanent' } });
    expect(t.client.get(b.id)).toMatchObject({ status: 'failed', lastError: { status: 404 } });
  });

  it('waits for a refused connection without using an attempt', async () => {
    const task = createHttpTask({ name: 'refused', allowOrigins: ['http://127.0.0.1:9'], retry: { maxAttempts: 1 } });
    const t = createTestClient({ tasks: [task] });
    open.push(t);
    // The lowest jitter draw: a backoff of 0 ms would run the task again within the same drain.
    const random = vi.spyOn(Math, 'random').mockReturnValue(0);
    const h = await deferFetch(t.client, 'http://127.0.0.1:9/nothing', { method: 'POST', body: 'x' }, { task });
    for (let i = 0; i < 3; i++) { const s = await t.drain(); t.clock.set(s.nextDueAt!); }
    random.mockRestore();
    expect(t.client.get(h.id)).toMatchObject({ status: 'pending', attempts: 0, unreachable: 3, lastError: { code: 'NETWORK_ERROR', kind: 'unreachable' } });
  });

  it('retries a 503 as a transient failure, honouring its Retry-After', async () => {
    const { t, defer } = setup();
    answers.set('/busy', 503);
    const h = await defer('/busy', { method: 'POST', body: 'x' });
    await t.drain();
    const task = t.client.get(h.id)!;
    expect(task).toMatchObject({ status: 'pending', attempts: 1, lastError: { status: 503, kind: 'transient' } });
    expect(task.nextRunAt - t.clock.now()).toBe(7_000);
  });
});

describe('the http task: temporary ids from a parent\'s answer', () => {
  it('sends the payment for the order id the server returned (URL, header, JSON body) with its own key; fails a task whose parent lacks the field rather than sending it', async () => {
    const task = createHttpTask({ name: 'http-refs', allowOrigins: [origin] });
    const t = createTestClient({ tasks: [task] });
    open.push(t);
    const order = await deferFetch(t.client, `${origin}/orders`, { method: 'POST', body: '{}' }, { task });
    const id = parentValue<{ id: string; total: number }>(order, 'json.id');
    const total = parentValue<{ id: string; total: number }>(order, 'json.total');
    const pay = await deferFetch(t.client, `${origin}/orders/${id}/payment`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-order': id }, body: JSON.stringify({ orderId: id, cents: total, note: `for ${id}` }),
    }, { task, after: [order] });
    const missing = await deferFetch(t.client, `${origin}/orders/${parentValue<{ nope: string }>(order, 'json.nope')}/x`, { method: 'POST', body: 'x' }, { task, after: [order] });
    await t.settle();
    expect(t.client.get(pay.id)?.status).toBe('succeeded');
    const sentPay = seen.find((x) => x.path.includes('/payment'))!;
    expect(sentPay.path).toBe('/orders/srv-41/payment');
    expect(JSON.parse(sentPay.body)).toEqual({ orderId: 'srv-41', cents: 1500, note: 'for srv-41' });
    expect(sentPay.key).toBe(pay.id);
    expect(t.client.get(missing.id)).toMatchObject({ status: 'failed', lastError: { code: 'DEPENDENCY_RESULT_MISSING' } });
    expect(seen.filter((x) => x.path.endsWith('/x'))).toEqual([]);
    // A placeholder of a task it does not run after: refused at defer time.
    await expect(deferFetch(t.client, `${origin}/orders/${id}`, { method: 'POST', body: 'x' }, { task })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });
});

describe('the http task: a request that cannot be made as stored', () => {
  it('fails for good when the headers hook makes it invalid, instead of waiting for a network forever', async () => {
    const { t, defer } = setup({ headers: () => ({ 'x-token': 'line\nbreak' }) });
    const h = await defer('/ok', { method: 'POST', body: 'x' });
    await t.settle();
    expect(t.client.get(h.id)).toMatchObject({ status: 'failed', unreachable: 0, lastError: { code: 'INVALID_REQUEST', kind: 'permanent' } });
    expect(seen).toEqual([]);
  });
});

describe('the http task: rules of its own', () => {
  it('retries a 409 that says Retry-After (the same key still in progress on the server)', async () => {
    const { t, defer } = setup({ retry: { baseDelayMs: 60_000 } });
    answers.set('/busy', 409);
    const h = await defer('/busy', { method: 'POST', body: 'x' });
    await t.drain();
    expect(t.client.get(h.id)).toMatchObject({ status: 'pending', lastError: { status: 409, kind: 'transient' } });
    expect(defaultHttpVerdict({ status: 409, type: 'basic' })).toBe('fail');
  });

  it('treats a DELETE answered 404 as done, and a 409 as worth a retry, with a classifier', async () => {
    const { t, defer } = setup({
      classify: (res, req) => (req.method === 'DELETE' && res.status === 404 ? 'success' : res.status === 409 ? 'retry' : undefined),
      retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 },
    });
    answers.set('/gone', 404);
    answers.set('/busy', 409);
    answers.set('/bad', 400);
    const gone = await defer('/gone', { method: 'DELETE' });
    const busy = await defer('/busy', { method: 'POST', body: 'x' });
    const bad = await defer('/bad', { method: 'POST', body: 'x' });
    await t.drain();
    expect(t.client.get(gone.id)).toMatchObject({ status: 'succeeded', result: { status: 404, body: 'answer 404' } });
    expect(t.client.get(busy.id)).toMatchObject({ status: 'pending', attempts: 1, lastError: { status: 409, kind: 'transient' } });
    // Undefined from the classifier: the default rules.
    expect(t.client.get(bad.id)).toMatchObject({ status: 'failed', lastError: { status: 400 } });
    answers.set('/busy', 201);
    await t.settle();
    expect(t.client.get(busy.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('refreshes the credentials on a 401 and sends once more in the same attempt, with the same key', async () => {
    let token = 'stale';
    const refreshes: number[] = [];
    const { t, defer } = setup({
      headers: () => ({ authorization: `Bearer ${token}` }),
      refreshCredentials: (res, _req, ctx) => { refreshes.push(res.status); expect(ctx.attempt).toBe(1); token = 'fresh'; },
      retry: { maxAttempts: 1 },
    });
    const h = await defer('/auth', { method: 'POST', body: 'order' });
    await t.settle();
    expect(t.client.get(h.id)).toMatchObject({ status: 'succeeded', attempts: 1, result: { status: 200 } });
    expect(refreshes).toEqual([401]);
    expect(seen.map((s) => [s.authorization, s.key])).toEqual([['Bearer stale', h.id], ['Bearer fresh', h.id]]);
  });

  it('fails when the refresh gives up, and when the server still answers 401 after it', async () => {
    const giveUp = setup({ refreshCredentials: () => false });
    const a = await giveUp.defer('/auth', { method: 'POST', body: 'x' });
    await giveUp.t.settle();
    expect(giveUp.t.client.get(a.id)).toMatchObject({ status: 'failed', lastError: { status: 401 } });
    expect(seen).toHaveLength(1);

    seen = [];
    let refreshes = 0;
    const still = setup({ headers: () => ({ authorization: 'Bearer never-valid' }), refreshCredentials: () => { refreshes++; } });
    const b = await still.defer('/auth', { method: 'POST', body: 'x' });
    await still.t.settle();
    expect(still.t.client.get(b.id)?.lastError?.message).toMatch(/401.*after the credentials were refreshed/);
    expect(refreshes).toBe(1);
    expect(seen).toHaveLength(2);
  });
});
