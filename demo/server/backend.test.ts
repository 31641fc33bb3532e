import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createBackend, MIGRATIONS } from './backend.js';
import type { Backend, BackendOptions } from './backend.js';

const dir = mkdtempSync(join(tmpdir(), 'halfsync-demo-backend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Running {
  backend: Backend;
  file: string;
  base: string;
  post(path: string, body: unknown, key?: string | null): Promise<Response>;
  get(path: string): Promise<Response>;
  stop(): Promise<void>;
}

const running: Running[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
});

let files = 0;
const freshFile = () => join(dir, `shop-${++files}.db`);

/** A real http server on 127.0.0.1 that mounts the backend under /api the way Connect does: by stripping the prefix. */
async function start(options: Partial<BackendOptions> = {}): Promise<Running> {
  const file = options.file ?? freshFile();
  const backend = createBackend({ ...options, file });
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (url !== '/api' && !url.startsWith('/api/') && !url.startsWith('/api?')) {
      res.writeHead(404).end('not the api');
      return;
    }
    req.url = url.slice('/api'.length) || '/';
    backend.handle(req, res, () => res.writeHead(500).end('next() should never be called'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  let stopped = false;
  const r: Running = {
    backend,
    file,
    base,
    post: (path, body, key = crypto.randomUUID()) =>
      fetch(base + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'idempotency-key': key }) },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    get: (path) => fetch(base + path),
    stop: async () => {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      backend.close();
    },
  };
  running.push(r);
  return r;
}

const order = (orderNumber = 'HS-ABC123') => ({
  orderNumber,
  customer: { name: 'Ada Lovelace', email: 'ada@example.com', address: '12 Analytical St, London' },
  items: [
    { sku: 'MUG-1', name: 'Mug', qty: 2, priceCents: 1250 },
    { sku: 'TEE-M', name: 'T-shirt', qty: 1, priceCents: 2000 },
  ],
  totalCents: 4500,
});

async function items(r: Running, path: string): Promise<Record<string, unknown>[]> {
  const res = await r.get(path);
  expect(res.status).toBe(200);
  return ((await res.json()) as { items: Record<string, unknown>[] }).items;
}

describe('demo backend: writes', () => {
  it('stores an order and lists it newest first with camelCase fields', async () => {
    const r = await start();
    const first = await r.post('/orders', order('HS-AAAAAA'));
    expect(first.status).toBe(201);
    expect(first.headers.get('content-type')).toBe('application/json');
    expect(await first.json()).toMatchObject({ ...order('HS-AAAAAA'), createdAt: expect.any(String) });
    await r.post('/orders', order('HS-BBBBBB'));
    const list = await items(r, '/orders');
    expect(list.map((o) => o.orderNumber)).toEqual(['HS-BBBBBB', 'HS-AAAAAA']);
    expect(list[1]).toMatchObject({ customer: { email: 'ada@example.com' }, items: order().items, totalCents: 4500 });
  });

  it('answers the price list the periodic price check reads, with the catalog\'s prices', async () => {
    const r = await start();
    const res = await r.get('/prices');
    expect(res.status).toBe(200);
    const body = await res.json() as { checkedAt: number; prices: Record<string, number> };
    expect(body.prices).toMatchObject({ 'MUG-01': 1400, 'STK-03': 600 });
    expect(Math.abs(body.checkedAt - Date.now())).toBeLessThan(60_000);
  });

  it('refuses a label before its order (422), and takes emails and sales with a running total, one by one or in a batch', async () => {
    const r = await start();
    const early = await r.post('/labels', { orderNumber: 'HS-ZZZ999', address: '1 Road' });
    expect(early.status).toBe(422);
    const placed = await r.post('/orders', order('HS-ZZZ999'));
    const created = (await placed.json()) as { id: number; orderNumber: string };
    expect(created.id).toBeGreaterThan(0);
    const label = await r.post('/labels', { orderNumber: created.orderNumber, address: '1 Road' });
    expect(label.status).toBe(201);
    expect(await label.json()).toMatchObject({ orderNumber: created.orderNumber, carrier: expect.any(String), tracking: expect.stringMatching(/^\w{10,}$/) });

    const email = await r.post('/emails', { to: 'ada@example.com', subject: 'Thanks', body: 'Your order is on its way', orderNumber: 'HS-ZZZ999' });
    expect(email.status).toBe(201);
    expect(await email.json()).toMatchObject({ id: 1, to: 'ada@example.com', subject: 'Thanks', orderNumber: 'HS-ZZZ999' });

    const a = await r.post('/stats', { orderNumber: 'HS-ZZZ999', totalCents: 4500, itemCount: 3 });
    const b = await r.post('/stats', { orderNumber: 'HS-YYY888', totalCents: 1000, itemCount: 1 });
    expect([a.status, b.status]).toEqual([201, 201]);
    expect(await a.json()).toEqual({ appliedSeq: 1, runningTotalCents: 4500 });
    expect(await b.json()).toEqual({ appliedSeq: 2, runningTotalCents: 5500 });
    expect((await items(r, '/stats')).map((s) => [s.appliedSeq, s.orderNumber, s.runningTotalCents])).toEqual([
      [1, 'HS-ZZZ999', 4500],
      [2, 'HS-YYY888', 5500],
    ]);
    expect(await items(r, '/labels')).toHaveLength(1);
    expect(await items(r, '/emails')).toHaveLength(1);
    const batch = await r.post('/stats/batch', { sales: [{ orderNumber: 'HS-XXX777', totalCents: 100, itemCount: 1 }, { orderNumber: 'HS-WWW666', totalCents: 200, itemCount: 2 }] });
    expect(batch.status).toBe(201);
    expect(await batch.json()).toEqual({ results: [{ appliedSeq: 3, runningTotalCents: 5600 }, { appliedSeq: 4, runningTotalCents: 5800 }] });
    const note = await r.post('/orders/note', { orderNumber: created.orderNumber, note: 'leave at the door' });
    expect(note.status).toBe(200);
    expect((await items(r, '/orders'))[0]).toMatchObject({ orderNumber: created.orderNumber, note: 'leave at the door' });
    expect((await r.post('/orders/note', { orderNumber: 'HS-NOP000', note: 'x' })).status).toBe(404);
  });
});

describe('demo backend: idempotency', () => {
  it('applies a key once and replays the stored answer with Idempotent-Replayed', async () => {
    const r = await start();
    const first = await r.post('/stats', { orderNumber: 'HS-ABC123', totalCents: 4500, itemCount: 3 }, 'key-1-4b1d9e07c2a3f856');
    // The same body with its fields in another order is the same request.
    const again = await r.post('/stats', { itemCount: 3, totalCents: 4500, orderNumber: 'HS-ABC123' }, 'key-1-4b1d9e07c2a3f856');
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());
    expect(await items(r, '/stats')).toHaveLength(1);
  });

  it('keys are per endpoint', async () => {
    const r = await start();
    expect((await r.post('/orders', order(), 'shared-4b1d9e07c2a3f856')).status).toBe(201);
    const label = await r.post('/labels', { orderNumber: 'HS-ABC123', address: 'x' }, 'shared-4b1d9e07c2a3f856');
    expect(label.status).toBe(201);
    expect(label.headers.get('idempotent-replayed')).toBeNull();
  });

  it('keys are per customer: another customer sending the same key and body gets an answer of their own, never the first customer\'s', async () => {
    const r = await start();
    const key = 'a3f1c9e2-7b4d-4c1e-9f00-000000000026';
    const sale = { orderNumber: 'HS-ABC123', totalCents: 4500, itemCount: 3 };
    const as = (customer: string) => fetch(`${r.base}/stats`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, 'x-customer': customer },
      body: JSON.stringify(sale),
    });
    const ada = await as('ada');
    expect(await ada.json()).toEqual({ appliedSeq: 1, runningTotalCents: 4500 });
    const grace = await as('grace');
    expect([grace.status, grace.headers.get('idempotent-replayed'), await grace.json()]).toEqual([201, null, { appliedSeq: 2, runningTotalCents: 9000 }]);
    const adaAgain = await as('ada');
    expect([adaAgain.headers.get('idempotent-replayed'), await adaAgain.json()]).toEqual(['true', { appliedSeq: 1, runningTotalCents: 4500 }]);
    expect(await items(r, '/stats')).toHaveLength(2);
    const bad = await as('x'.repeat(300));
    expect(bad.status).toBe(400);
  });

  it('answers 422 for a reused key with a different body, and applies nothing', async () => {
    const r = await start();
    await r.post('/emails', { to: 'a@b.co', subject: 'One', body: 'x', orderNumber: 'HS-ABC123' }, 'k-4b1d9e07c2a3f856');
    const res = await r.post('/emails', { to: 'a@b.co', subject: 'Two', body: 'x', orderNumber: 'HS-ABC123' }, 'k-4b1d9e07c2a3f856');
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 422, code: 'IDEMPOTENCY_KEY_REUSED', detail: expect.stringMatching(/Idempotency-Key "k-4b1d9e07c2a3f856" was already used/) });
    expect(await items(r, '/emails')).toHaveLength(1);
  });

  it('applies ten concurrent requests with one key exactly once: the others are replays, or 409 while it runs', async () => {
    const r = await start();
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => r.post('/stats', { orderNumber: 'HS-ABC123', totalCents: 100, itemCount: 1 }, 'same-4b1d9e07c2a3f856')),
    );
    const kinds = answers.map((a) => (a.status === 201 ? (a.headers.get('idempotent-replayed') === 'true' ? 'replay' : 'original') : a.status === 409 && a.headers.get('retry-after') ? 'busy' : `other ${a.status}`));
    expect(kinds.filter((k) => k === 'original')).toHaveLength(1);
    expect(kinds.filter((k) => k !== 'original' && k !== 'replay' && k !== 'busy')).toEqual([]);
    expect(await items(r, '/stats')).toHaveLength(1);
  });

  it('answers 409 for an order number reused under another key, and replays the first key', async () => {
    const r = await start();
    expect((await r.post('/orders', order(), 'first-4b1d9e07c2a3f856')).status).toBe(201);
    const clash = await r.post('/orders', order(), 'second-4b1d9e07c2a3f856');
    expect(clash.status).toBe(409);
    expect(((await clash.json()) as { error: string }).error).toMatch(/HS-ABC123 already exists/);
    expect((await r.post('/orders', order(), 'first-4b1d9e07c2a3f856')).headers.get('idempotent-replayed')).toBe('true');
    expect(await items(r, '/orders')).toHaveLength(1);
  });

  it('requires an Idempotency-Key on every write', async () => {
    const r = await start();
    for (const path of ['/orders', '/labels', '/emails', '/stats']) {
      const res = await r.post(path, order(), null);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_MISSING', detail: expect.stringMatching(/requires an Idempotency-Key header/) });
    }
    const tooLong = await r.post('/stats', { orderNumber: 'HS-ABC123', totalCents: 1, itemCount: 1 }, 'k'.repeat(256));
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ code: 'IDEMPOTENCY_KEY_INVALID' });
    expect((await r.post('/stats', { orderNumber: 'HS-ABC123', totalCents: 1, itemCount: 1 }, 'k'.repeat(255))).status).toBe(201);
  });
});

describe('demo backend: validation', () => {
  const cases: [string, string, unknown, string][] = [
    ['an order number in the wrong format', '/orders', { ...order(), orderNumber: 'order-1' }, 'orderNumber'],
    ['a bad email', '/orders', { ...order(), customer: { ...order().customer, email: 'nope' } }, 'customer.email'],
    ['a missing customer', '/orders', { ...order(), customer: undefined }, 'customer'],
    ['no items', '/orders', { ...order(), items: [] }, 'items'],
    ['a fractional qty', '/orders', { ...order(), items: [{ sku: 'A', name: 'A', qty: 1.5, priceCents: 1 }], totalCents: 2 }, 'items[0].qty'],
    ['a qty over 99', '/orders', { ...order(), items: [{ sku: 'A', name: 'A', qty: 100, priceCents: 1 }], totalCents: 100 }, 'items[0].qty'],
    ['a negative price', '/orders', { ...order(), items: [{ sku: 'A', name: 'A', qty: 1, priceCents: -1 }], totalCents: -1 }, 'items[0].priceCents'],
    ['a total that does not add up', '/orders', { ...order(), totalCents: 4499 }, 'totalCents'],
    ['a label with no address', '/labels', { orderNumber: 'HS-ABC123' }, 'address'],
    ['an empty email subject', '/emails', { to: 'a@b.co', subject: '', body: 'x', orderNumber: 'HS-ABC123' }, 'subject'],
    ['an email body over 10000 characters', '/emails', { to: 'a@b.co', subject: 's', body: 'x'.repeat(10_001), orderNumber: 'HS-ABC123' }, 'body'],
    ['a string total on a sale', '/stats', { orderNumber: 'HS-ABC123', totalCents: '12', itemCount: 1 }, 'totalCents'],
  ];
  it.each(cases)('answers 400 naming the field for %s', async (_name, path, body, field) => {
    const r = await start();
    const res = await r.post(path, body);
    expect(res.status).toBe(400);
    const answer = (await res.json()) as { error: string; field: string };
    expect(answer.field).toBe(field);
    expect(answer.error.startsWith(`${field} `)).toBe(true);
  });

  it('answers 400 for a body that is not a JSON object, 413 past 64 KB, 404 and 405 for bad routes', async () => {
    const r = await start();
    const notJson = await r.post('/orders', '{"orderNumber":');
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toMatch(/not valid JSON/);
    expect((await r.post('/orders', '[1,2]')).status).toBe(400);
    expect((await r.post('/orders', '')).status).toBe(400);
    expect((await r.post('/emails', { to: 'a@b.co', subject: 's', body: 'x'.repeat(70_000), orderNumber: 'HS-ABC123' })).status).toBe(413);

    // Without a content-length the limit is enforced while reading.
    const chunk = new TextEncoder().encode('x'.repeat(16 * 1024));
    const streamed = await fetch(`${r.base}/stats`, {
      method: 'POST',
      headers: { 'idempotency-key': 'stream-4b1d9e07c2a3f856' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 5; i++) controller.enqueue(chunk);
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);

    const missing = await r.get('/nope');
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/json');
    const wrong = await fetch(`${r.base}/orders`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST, GET');
    expect(await items(r, '/emails')).toHaveLength(0);
  });
});

describe('demo backend: behaviour modes', () => {
  const sale = { orderNumber: 'HS-ABC123', totalCents: 100, itemCount: 1 };
  const setMode = async (r: Running, mode: string) => {
    const res = await r.post('/behaviour', { mode }, null);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ mode });
  };

  it('switches modes and rejects an unknown one', async () => {
    const r = await start();
    expect(await (await r.get('/behaviour')).json()).toEqual({ mode: 'healthy' });
    const bad = await r.post('/behaviour', { mode: 'flaky' }, null);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'mode' });
  });

  it('failing: 500 and nothing applied, so a retry with the same key applies once the backend heals', async () => {
    const r = await start();
    await setMode(r, 'failing');
    const res = await r.post('/stats', sale, 'retry-me-4b1d9e07c2a3f856');
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: expect.any(String) });
    expect(await items(r, '/stats')).toHaveLength(0);
    await setMode(r, 'healthy');
    const retry = await r.post('/stats', sale, 'retry-me-4b1d9e07c2a3f856');
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBeNull();
  });

  it('rejecting: 400 with the demo-switch message', async () => {
    const r = await start();
    await setMode(r, 'rejecting');
    const res = await r.post('/stats', sale);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'the backend is set to reject every write (demo switch)' });
    expect(await items(r, '/stats')).toHaveLength(0);
  });

  it('slow: still answers 201 after the delay', async () => {
    const r = await start({ slowMs: 50 });
    await setMode(r, 'slow');
    expect((await r.post('/stats', sale)).status).toBe(201);
    expect(await items(r, '/stats')).toHaveLength(1);
  });

  it('down: the connection is dropped, while the GET and control endpoints keep answering', async () => {
    const r = await start();
    await setMode(r, 'down');
    await expect(r.post('/stats', sale)).rejects.toThrow(TypeError);
    expect(await items(r, '/stats')).toHaveLength(0);
    await setMode(r, 'healthy');
    expect((await r.post('/stats', sale)).status).toBe(201);
  });
});

describe('demo backend: durability and reset', () => {
  it('keeps every accepted write, and the idempotency records, across close and reopen', async () => {
    const file = freshFile();
    const before = await start({ file });
    await before.post('/orders', order(), 'order-key-4b1d9e07c2a3f856');
    await before.post('/labels', { orderNumber: 'HS-ABC123', address: 'x' });
    await before.post('/emails', { to: 'a@b.co', subject: 's', body: 'b', orderNumber: 'HS-ABC123' });
    await before.post('/stats', { orderNumber: 'HS-ABC123', totalCents: 4500, itemCount: 3 });
    await before.stop();

    const after = await start({ file });
    for (const path of ['/orders', '/labels', '/emails', '/stats']) expect(await items(after, path)).toHaveLength(1);
    expect((await after.post('/orders', order(), 'order-key-4b1d9e07c2a3f856')).headers.get('idempotent-replayed')).toBe('true');
    const next = await after.post('/stats', { orderNumber: 'HS-DEF456', totalCents: 500, itemCount: 1 });
    expect(await next.json()).toEqual({ appliedSeq: 2, runningTotalCents: 5000 });
  });

  it('keeps replaying the keys a database from before @halfsync/server recorded', async () => {
    const file = freshFile();
    const old = new Database(file);
    old.exec(MIGRATIONS[0]!);
    old.pragma('user_version = 1');
    old.prepare(`INSERT INTO stats (applied_seq, order_number, total_cents, item_count, running_total_cents, created_at)
                 VALUES (1, 'HS-ABC123', 4500, 3, 4500, '2025-01-01T00:00:00.000Z')`).run();
    // What the hand-written deduplication stored: the SHA-256 of the body as canonical JSON, and the JSON answer.
    const hash = createHash('sha256').update('{"itemCount":3,"orderNumber":"HS-ABC123","totalCents":4500}').digest('hex');
    old.prepare(`INSERT INTO idempotency (endpoint, key, request_hash, status, response, created_at)
                 VALUES ('stats', 'old-key-4b1d9e07c2a3f856', ?, 201, '{"appliedSeq":1,"runningTotalCents":4500}', ?)`).run(hash, new Date().toISOString());
    old.close();

    const r = await start({ file });
    const replay = await r.post('/stats', { orderNumber: 'HS-ABC123', totalCents: 4500, itemCount: 3 }, 'old-key-4b1d9e07c2a3f856');
    expect([replay.status, replay.headers.get('idempotent-replayed'), await replay.json()]).toEqual([201, 'true', { appliedSeq: 1, runningTotalCents: 4500 }]);
    expect(await items(r, '/stats')).toHaveLength(1);
    expect((await r.post('/stats', { orderNumber: 'HS-ABC123', totalCents: 1, itemCount: 1 }, 'old-key-4b1d9e07c2a3f856')).status).toBe(422);
  });

  it('POST /reset and reset() empty every table, idempotency records included', async () => {
    const r = await start();
    await r.post('/orders', order(), 'order-key-4b1d9e07c2a3f856');
    await r.post('/stats', { orderNumber: 'HS-ABC123', totalCents: 4500, itemCount: 3 });
    const res = await r.post('/reset', {}, null);
    expect(res.status).toBe(200);
    for (const path of ['/orders', '/stats']) expect(await items(r, path)).toHaveLength(0);
    const replay = await r.post('/orders', order(), 'order-key-4b1d9e07c2a3f856');
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBeNull();

    r.backend.reset();
    expect(await items(r, '/orders')).toHaveLength(0);
  });

  it('answers 503 once closed', async () => {
    const r = await start();
    r.backend.close();
    expect((await r.get('/orders')).status).toBe(503);
  });
});
