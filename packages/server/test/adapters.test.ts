// The adapters, against the real frameworks: Express (and so Connect and node:http) and Hono.
import Database from 'better-sqlite3';
import express from 'express';
import express4 from 'express4';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { connect } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { idempotent, jsonReply, memoryStore, type HalfsyncServerError } from '@halfsync/server';
import { idempotency as honoIdempotency, idempotencyOf as honoIdempotencyOf } from '@halfsync/server/hono';
import { idempotency, idempotencyOf, keepRawBody, toNodeHandler } from '@halfsync/server/node';
import { sqliteStore } from '@halfsync/server/sqlite';
import { listen, type Running } from './support/http.js';

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

async function start(listener: Parameters<typeof listen>[0]): Promise<Running> {
  const r = await listen(listener);
  cleanup.push(() => r.close());
  return r;
}

const post = (url: string, key: string | null, body: string = '{"item":"pen"}', headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'idempotency-key': key }), ...headers }, body });

/** Sends raw bytes over a socket and returns the status line and the raw answer. */
function raw(base: string, text: string): Promise<string> {
  const { port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(Buffer.from(text, 'latin1')));
    let out = '';
    socket.on('data', (d) => { out += d.toString('latin1'); });
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

describe('Express', () => {
  function shop(order: 'parser-first' | 'layer-first' = 'parser-first') {
    let runs = 0;
    const app = express();
    const layer = idempotency({ store: memoryStore(), maxBodyBytes: 1_000 });
    if (order === 'parser-first') app.use(express.json());
    app.use('/api', layer);
    if (order === 'layer-first') app.use(express.json());
    app.post('/api/orders', (req, res) => {
      runs++;
      res.cookie('session', 'abc').status(201).json({ run: runs, received: req.body as unknown });
    });
    app.post('/api/slow', async (_req, res) => {
      runs++;
      await new Promise((r) => setTimeout(r, 200));
      res.status(201).send('slow done');
    });
    app.post('/api/broken', () => {
      runs++;
      throw new Error('the handler failed');
    });
    app.post('/api/pipe', (_req, res) => {
      runs++;
      res.writeHead(202, { 'x-pipe': 'yes', 'content-type': 'text/plain' });
      res.write('part one, ');
      res.end('part two');
    });
    app.get('/api/orders', (_req, res) => void res.json({ list: [] }));
    return { app, runs: () => runs };
  }

  it('records what the route sends and replays it: three lines of set-up', async () => {
    const s = shop();
    const r = await start(s.app);
    const first = await post(`${r.base}/api/orders`, 'k1-4b1d9e07c2a3f856');
    expect(first.status).toBe(201);
    expect(first.headers.get('set-cookie')).toMatch(/^session=abc/);
    const body = await first.json();
    expect(body).toEqual({ run: 1, received: { item: 'pen' } });
    const again = await post(`${r.base}/api/orders`, 'k1-4b1d9e07c2a3f856');
    expect([again.status, again.headers.get('idempotent-replayed'), again.headers.get('set-cookie'), again.headers.get('content-type')]).toEqual([201, 'true', null, 'application/json; charset=utf-8']);
    expect(await again.json()).toEqual(body);
    expect(s.runs()).toBe(1);
  });

  it('works mounted before the body parser: the body is put back for the parser and the route', async () => {
    const s = shop('layer-first');
    const r = await start(s.app);
    const first = await post(`${r.base}/api/orders`, 'k-4b1d9e07c2a3f856', '{"item":"ink"}');
    expect(await first.json()).toEqual({ run: 1, received: { item: 'ink' } });
    expect((await post(`${r.base}/api/orders`, 'k-4b1d9e07c2a3f856', '{"item":"ink"}')).headers.get('idempotent-replayed')).toBe('true');
    expect((await post(`${r.base}/api/orders`, 'k-4b1d9e07c2a3f856', '{"item":"pad"}')).status).toBe(422);
    expect(s.runs()).toBe(1);
  });

  it('answers 409 for a duplicate in flight, 422 for a reused key, 400 without a key, and passes GETs through', async () => {
    const s = shop();
    const r = await start(s.app);
    const slow = post(`${r.base}/api/slow`, 's-4b1d9e07c2a3f856');
    await vi.waitFor(() => expect(s.runs()).toBe(1));
    const busy = await post(`${r.base}/api/slow`, 's-4b1d9e07c2a3f856');
    expect([busy.status, busy.headers.get('retry-after'), busy.headers.get('content-type')]).toEqual([409, '1', 'application/problem+json']);
    expect(await (await slow).text()).toBe('slow done');
    expect((await post(`${r.base}/api/slow`, 's-4b1d9e07c2a3f856', '{"other":1}')).status).toBe(422);
    const missing = await post(`${r.base}/api/orders`, null);
    expect([missing.status, ((await missing.json()) as { code: string }).code]).toEqual([400, 'IDEMPOTENCY_KEY_MISSING']);
    expect(await (await fetch(`${r.base}/api/orders`)).json()).toEqual({ list: [] });
    expect(s.runs()).toBe(1);
  });

  it('every answer keeps what CORS middleware in front set for the request at hand; a replay does not carry the first caller\'s', async () => {
    let runs = 0;
    const app = express();
    app.use((req, res, next) => { res.setHeader('access-control-allow-origin', req.headers.origin ?? '*'); res.setHeader('x-request-id', 'r'); next(); });
    app.use(express.json(), idempotency({ store: memoryStore() }));
    app.post('/slow', async (_req, res) => { runs++; await new Promise((r) => setTimeout(r, 200)); res.status(201).json({ runs }); });
    const r = await start(app);
    const from = (origin: string, key: string | null, body?: string) => post(`${r.base}/slow`, key, body, { origin });
    const first = from('https://a.test', 'k-4b1d9e07c2a3f856');
    await vi.waitFor(() => expect(runs).toBe(1));
    const busy = await from('https://b.test', 'k-4b1d9e07c2a3f856');
    expect([busy.status, busy.headers.get('access-control-allow-origin'), busy.headers.get('x-request-id')]).toEqual([409, 'https://b.test', 'r']);
    expect((await first).headers.get('access-control-allow-origin')).toBe('https://a.test');
    const replay = await from('https://c.test', 'k-4b1d9e07c2a3f856');
    expect([replay.status, replay.headers.get('idempotent-replayed'), replay.headers.get('access-control-allow-origin')]).toEqual([201, 'true', 'https://c.test']);
    const missing = await from('https://d.test', null);
    expect([missing.status, missing.headers.get('access-control-allow-origin')]).toEqual([400, 'https://d.test']);
    expect(runs).toBe(1);
  });

  it('captures responses written in pieces with writeHead, write and end', async () => {
    const s = shop();
    const r = await start(s.app);
    const first = await post(`${r.base}/api/pipe`, 'p-4b1d9e07c2a3f856');
    expect([first.status, first.headers.get('x-pipe'), await first.text()]).toEqual([202, 'yes', 'part one, part two']);
    const again = await post(`${r.base}/api/pipe`, 'p-4b1d9e07c2a3f856');
    expect([again.status, again.headers.get('x-pipe'), again.headers.get('idempotent-replayed'), await again.text()]).toEqual([202, 'yes', 'true', 'part one, part two']);
  });

  it('a route that throws gets Express\'s 500 and records nothing, so the retry runs it again', async () => {
    const s = shop();
    const r = await start(s.app);
    expect((await post(`${r.base}/api/broken`, 'b-4b1d9e07c2a3f856')).status).toBe(500);
    expect((await post(`${r.base}/api/broken`, 'b-4b1d9e07c2a3f856')).status).toBe(500);
    expect(s.runs()).toBe(2);
  });

  it('answers 413 for a parsed body over maxBodyBytes', async () => {
    const s = shop();
    const r = await start(s.app);
    const res = await post(`${r.base}/api/orders`, 'big-4b1d9e07c2a3f856', JSON.stringify({ item: 'x'.repeat(2_000) }));
    expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([413, 'BODY_TOO_LARGE']);
    expect(s.runs()).toBe(0);
  });

  it('gives routes the transactional mode through idempotencyOf', async () => {
    const db = new Database(':memory:');
    cleanup.push(() => { db.close(); });
    db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)');
    const store = sqliteStore({ database: db });
    const app = express();
    app.use(express.json());
    app.use('/api', idempotency({ store }));
    app.post('/api/orders', async (req, res) => {
      const { item } = req.body as { item: string };
      const answer = await idempotencyOf(req, store).transaction((tx) => {
        const id = Number(tx.prepare('INSERT INTO orders (item) VALUES (?)').run(item).lastInsertRowid);
        return jsonReply({ id, item }, { status: 201 });
      });
      res.status(answer.status).type('json').send(await answer.text());
    });
    const codes: string[] = [];
    app.post('/unguarded', (req, res) => {
      try { idempotencyOf(req, store); } catch (error) { codes.push((error as HalfsyncServerError).code); }
      try { idempotencyOf(req, memoryStore()); } catch (error) { codes.push((error as HalfsyncServerError).code); }
      res.end();
    });
    app.post('/api/other-store', (req, res) => {
      try { idempotencyOf(req, memoryStore()); } catch (error) { codes.push((error as HalfsyncServerError).code); }
      res.status(201).end();
    });
    const r = await start(app);
    const first = await post(`${r.base}/api/orders`, 'o1-4b1d9e07c2a3f856');
    expect([first.status, await first.json()]).toEqual([201, { id: 1, item: 'pen' }]);
    const again = await post(`${r.base}/api/orders`, 'o1-4b1d9e07c2a3f856');
    expect([again.headers.get('idempotent-replayed'), await again.json()]).toEqual(['true', { id: 1, item: 'pen' }]);
    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 1 });
    await post(`${r.base}/unguarded`, 'u-4b1d9e07c2a3f856');
    await post(`${r.base}/api/other-store`, 'x-4b1d9e07c2a3f856');
    expect(codes).toEqual(['CONTEXT_MISSING', 'CONTEXT_MISSING', 'CONTEXT_MISSING']);
  });
});

describe('node:http', () => {
  it('the middleware in front of a plain listener that reads the raw body stream', async () => {
    let runs = 0;
    const layer = idempotency({ store: memoryStore() });
    const r = await start((req, res) =>
      layer(req, res, (error) => {
        if (error) return void res.writeHead(500).end();
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          runs++;
          res.writeHead(201, { 'content-type': 'text/plain' }).end(`got ${Buffer.concat(chunks).toString()}`);
        });
      }),
    );
    expect(await (await post(r.base, 'k-4b1d9e07c2a3f856', 'hello')).text()).toBe('got hello');
    const again = await post(r.base, 'k-4b1d9e07c2a3f856', 'hello');
    expect([again.headers.get('idempotent-replayed'), await again.text()]).toEqual(['true', 'got hello']);
    expect(runs).toBe(1);
  });

  it('toNodeHandler: a 413 for a streamed body past the limit, with the connection closed', async () => {
    let runs = 0;
    const handle = idempotent(async (request) => { runs++; return new Response(await request.text(), { status: 201 }); }, { store: memoryStore(), maxBodyBytes: 10_000 });
    const r = await start((req, res) => void toNodeHandler(handle)(req, res));
    const chunk = new TextEncoder().encode('x'.repeat(4_096));
    const streamed = await fetch(r.base, {
      method: 'POST',
      headers: { 'idempotency-key': 'stream-4b1d9e07c2a3f856' },
      body: new ReadableStream({ start(c) { for (let i = 0; i < 5; i++) c.enqueue(chunk); c.close(); } }),
      duplex: 'half',
    } as RequestInit);
    expect([streamed.status, streamed.headers.get('connection')]).toEqual([413, 'close']);
    expect((await post(r.base, 'ok-4b1d9e07c2a3f856', 'small')).status).toBe(201);
    expect(runs).toBe(1);
  });

  it('a key with a tab or a byte outside ASCII, which Node\'s parser lets in, gets 400 IDEMPOTENCY_KEY_INVALID', async () => {
    const handle = idempotent(async () => new Response('ran', { status: 201 }), { store: memoryStore() });
    const r = await start((req, res) => void toNodeHandler(handle)(req, res));
    for (const key of ['a\tb', 'cl\xe9']) {
      const answer = await raw(r.base, `POST / HTTP/1.1\r\nHost: x\r\nIdempotency-Key: ${key}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
      expect(answer).toMatch(/^HTTP\/1\.1 400 /);
      expect(answer).toContain('"code":"IDEMPOTENCY_KEY_INVALID"');
    }
  });

  it('a handler that throws: next(error) under Connect or Express, a bare 500 under node:http', async () => {
    const handle = toNodeHandler(async () => { throw new Error('boom'); });
    const seen: unknown[] = [];
    const withNext = await start((req, res) => void handle(req, res, (error) => { seen.push(error); res.writeHead(502).end(); }));
    expect((await post(withNext.base, 'k-4b1d9e07c2a3f856')).status).toBe(502);
    expect(String(seen[0])).toMatch(/boom/);
    const bare = await start((req, res) => void handle(req, res));
    expect((await post(bare.base, 'k-4b1d9e07c2a3f856')).status).toBe(500);
  });
});

describe('Hono', () => {
  function app() {
    let runs = 0;
    const hono = new Hono();
    hono.use('/api/*', honoIdempotency({ store: memoryStore() }));
    hono.post('/api/orders', async (c) => {
      runs++;
      c.header('x-run', String(runs));
      return c.json({ run: runs, received: await c.req.json() }, 201);
    });
    hono.post('/api/fail', () => {
      runs++;
      throw new Error('handler failed');
    });
    hono.get('/api/orders', (c) => c.json({ list: [] }));
    hono.onError((error, c) => c.json({ error: error.message }, 500));
    return { hono, runs: () => runs };
  }
  const send = (hono: Hono, path: string, key: string | null, body = '{"item":"pen"}') =>
    hono.request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'idempotency-key': key }) }, body });

  it('records the route\'s response and replays it; the route reads its body as usual', async () => {
    const a = app();
    const first = await send(a.hono, '/api/orders', 'k-4b1d9e07c2a3f856');
    expect([first.status, first.headers.get('x-run'), await first.json()]).toEqual([201, '1', { run: 1, received: { item: 'pen' } }]);
    const again = await send(a.hono, '/api/orders', 'k-4b1d9e07c2a3f856');
    expect([again.status, again.headers.get('x-run'), again.headers.get('idempotent-replayed'), await again.json()]).toEqual([201, '1', 'true', { run: 1, received: { item: 'pen' } }]);
    expect((await send(a.hono, '/api/orders', 'k-4b1d9e07c2a3f856', '{"item":"ink"}')).status).toBe(422);
    expect((await send(a.hono, '/api/orders', null)).status).toBe(400);
    expect(await (await a.hono.request('/api/orders')).json()).toEqual({ list: [] });
    expect(a.runs()).toBe(1);
  });

  it('every answer keeps the headers Hono\'s cors() set for the request at hand; a replay does not carry the first caller\'s', async () => {
    const hono = new Hono();
    hono.use('*', cors({ origin: (origin) => origin }));
    hono.use('*', honoIdempotency({ store: memoryStore() }));
    hono.post('/orders', (c) => c.json({ ok: true }, 201));
    const from = (origin: string, key: string | null) =>
      hono.request('/orders', { method: 'POST', headers: { origin, 'content-type': 'application/json', ...(key === null ? {} : { 'idempotency-key': key }) }, body: '{}' });
    expect((await from('https://a.test', 'k-4b1d9e07c2a3f856')).headers.get('access-control-allow-origin')).toBe('https://a.test');
    const replay = await from('https://b.test', 'k-4b1d9e07c2a3f856');
    expect([replay.headers.get('idempotent-replayed'), replay.headers.get('access-control-allow-origin')]).toEqual(['true', 'https://b.test']);
    const missing = await from('https://c.test', null);
    expect([missing.status, missing.headers.get('access-control-allow-origin')]).toEqual([400, 'https://c.test']);
  });

  it('a route that throws gets Hono\'s 500 and records nothing', async () => {
    const a = app();
    expect((await send(a.hono, '/api/fail', 'f-4b1d9e07c2a3f856')).status).toBe(500);
    expect((await send(a.hono, '/api/fail', 'f-4b1d9e07c2a3f856')).status).toBe(500);
    expect(a.runs()).toBe(2);
  });

  it('gives routes the transactional mode through idempotencyOf', async () => {
    const effects: string[] = [];
    const store = memoryStore();
    const hono = new Hono();
    hono.use('*', honoIdempotency({ store }));
    hono.post('/orders', async (c) => {
      const { item } = await c.req.json<{ item: string }>();
      return honoIdempotencyOf(c, store).transaction(() => {
        effects.push(item);
        return jsonReply({ item }, { status: 201 });
      });
    });
    expect((await send(hono, '/orders', 't-4b1d9e07c2a3f856')).status).toBe(201);
    const again = await send(hono, '/orders', 't-4b1d9e07c2a3f856');
    expect([again.headers.get('idempotent-replayed'), await again.json()]).toEqual(['true', { item: 'pen' }]);
    expect(effects).toEqual(['pen']);
  });
});

// What issue 26 found: the same fingerprint in every adapter, the URL as the client sent it, Express 4's
// body-parser, Hono's 413, and JSON bodies fingerprinted from their bytes.
describe('the same request, whichever adapter and mount it reaches', () => {
  const KEY = 'b1f2c3d4-0000-4000-8000-000000000001';

  it('fingerprints the URL the client sent under an Express mount: a key reused on another router\'s endpoint gets 422, not the first answer', async () => {
    const store = memoryStore();
    const effects: string[] = [];
    const app = express();
    const orders = express.Router();
    orders.post('/', (_req, res) => { effects.push('order'); res.status(201).json({ order: 1 }); });
    const refunds = express.Router();
    refunds.post('/', (_req, res) => { effects.push('refund'); res.status(201).json({ refund: 1 }); });
    app.use('/api/orders', idempotency({ store }), orders);
    app.use('/api/refunds', idempotency({ store }), refunds);
    const r = await start(app);
    expect((await post(`${r.base}/api/orders`, KEY, '{"amount":5}')).status).toBe(201);
    const refund = await post(`${r.base}/api/refunds`, KEY, '{"amount":5}');
    expect([refund.status, refund.headers.get('idempotent-replayed')]).toEqual([422, null]);
    expect(effects).toEqual(['order']);
  });

  it('a retry that lands on a Hono instance of the same API gets the replay an Express instance recorded', async () => {
    const store = memoryStore();
    let runs = 0;
    const app = express();
    app.use('/api', idempotency({ store }), express.json());
    app.post('/api/orders', (req, res) => { runs++; res.status(201).json({ run: runs, received: req.body as unknown }); });
    const r = await start(app);
    const hono = new Hono();
    hono.use('/api/*', honoIdempotency({ store }));
    hono.post('/api/orders', (c) => { runs++; return c.json({ run: runs }, 201); });
    const body = '{"item":"pen","qty":1}';
    const first = await post(`${r.base}/api/orders`, KEY, body);
    const retry = await hono.request('/api/orders', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': KEY }, body });
    expect([retry.status, retry.headers.get('idempotent-replayed'), await retry.text()]).toEqual([201, 'true', await first.text()]);
    expect(runs).toBe(1);
  });

  it.each([['Express 4', express4], ['Express 5', express]] as const)(
    '%s behind a JSON parser: a reused key with another text/plain body gets 422, and the route reads the body it was sent',
    async (_name, framework) => {
      const bodies: string[] = [];
      const app = framework();
      app.use(framework.json());
      app.use(idempotency({ store: memoryStore() }));
      app.post('/notes', (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => { bodies.push(Buffer.concat(chunks).toString()); res.status(201).send('saved'); });
      });
      const r = await start(app);
      const text = (body: string) => fetch(`${r.base}/notes`, { method: 'POST', headers: { 'content-type': 'text/plain', 'idempotency-key': KEY }, body });
      expect((await text('first note')).status).toBe(201);
      const other = await text('second note');
      expect([other.status, other.headers.get('idempotent-replayed')]).toEqual([422, null]);
      const again = await text('first note');
      expect([again.status, again.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
      expect(bodies).toEqual(['first note']);
    },
  );

  it.each([['Express 4', express4], ['Express 5', express]] as const)('%s: a JSON body the parser read is fingerprinted and replayed', async (_name, framework) => {
    let runs = 0;
    const app = framework();
    app.use(framework.json());
    app.use(idempotency({ store: memoryStore() }));
    app.post('/orders', (req, res) => { runs++; res.status(201).json({ run: runs, received: req.body as unknown }); });
    const r = await start(app);
    expect(await (await post(`${r.base}/orders`, KEY, '{"item":"ink"}')).json()).toEqual({ run: 1, received: { item: 'ink' } });
    expect((await post(`${r.base}/orders`, KEY, '{"item":"ink"}')).headers.get('idempotent-replayed')).toBe('true');
    expect((await post(`${r.base}/orders`, KEY, '{"item":"pad"}')).status).toBe(422);
    expect(runs).toBe(1);
  });

  it('behind express.json({ verify: keepRawBody }), bodies that parse alike but differ in their bytes are different requests', async () => {
    let runs = 0;
    const app = express();
    app.use(express.json({ verify: keepRawBody }));
    app.use(idempotency({ store: memoryStore() }));
    app.post('/pay', (_req, res) => { runs++; res.status(201).json({ run: runs }); });
    const r = await start(app);
    expect((await post(`${r.base}/pay`, KEY, '{"cents":9007199254740993}')).status).toBe(201);
    // 2^53 + 1 and 2^53 + 2 parse to the same number; a duplicate member parses to its last value.
    expect((await post(`${r.base}/pay`, KEY, '{"cents":9007199254740992}')).status).toBe(422);
    expect((await post(`${r.base}/pay`, KEY, '{"cents":1,"cents":9007199254740993}')).status).toBe(422);
    expect((await post(`${r.base}/pay`, KEY, '{"cents":9007199254740993}')).headers.get('idempotent-replayed')).toBe('true');
    expect(runs).toBe(1);
  });

  it('Hono answers 413 for a body over maxBodyBytes, declared or streamed, instead of hanging', async () => {
    let runs = 0;
    const hono = new Hono();
    hono.use('*', honoIdempotency({ store: memoryStore(), maxBodyBytes: 1_000 }));
    hono.post('/orders', async (c) => { runs++; return c.text(await c.req.text(), 201); });
    const within = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2_000))]);
    const declared = await within(Promise.resolve(hono.request('/orders', { method: 'POST', headers: { 'idempotency-key': KEY }, body: 'x'.repeat(2_000) })));
    expect([declared.status, ((await declared.json()) as { code: string }).code]).toEqual([413, 'BODY_TOO_LARGE']);
    const chunk = new TextEncoder().encode('y'.repeat(400));
    const streamed = await within(Promise.resolve(hono.request(new Request('http://x/orders', {
      method: 'POST',
      headers: { 'idempotency-key': KEY },
      body: new ReadableStream({ start(c) { for (let i = 0; i < 5; i++) c.enqueue(chunk); c.close(); } }),
      duplex: 'half',
    } as RequestInit))));
    expect(streamed.status).toBe(413);
    const small = await hono.request('/orders', { method: 'POST', headers: { 'idempotency-key': KEY }, body: 'small' });
    expect([small.status, await small.text()]).toEqual([201, 'small']);
    expect(runs).toBe(1);
  });

  it('two Idempotency-Key header fields are refused with 400, not joined into one key', async () => {
    let runs = 0;
    const app = express();
    app.use(idempotency({ store: memoryStore() }));
    app.post('/orders', (_req, res) => { runs++; res.status(201).end(); });
    const r = await start(app);
    const answer = await raw(r.base, `POST /orders HTTP/1.1\r\nHost: x\r\nIdempotency-Key: ${KEY}\r\nIdempotency-Key: ${KEY.replace('1', '2')}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('"code":"IDEMPOTENCY_KEY_INVALID"');
    const hono = new Hono();
    hono.use('*', honoIdempotency({ store: memoryStore() }));
    hono.post('/orders', (c) => { runs++; return c.body(null, 201); });
    const headers = new Headers({ 'idempotency-key': KEY });
    headers.append('idempotency-key', KEY);
    const twice = await hono.request('/orders', { method: 'POST', headers, body: '{}' });
    expect([twice.status, ((await twice.json()) as { code: string }).code]).toEqual([400, 'IDEMPOTENCY_KEY_INVALID']);
    expect(runs).toBe(0);
  });
});
