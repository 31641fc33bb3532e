// The draft's rules, proven against the in-memory store: what the first request, a retry, a concurrent
// duplicate, a reused key, bad input and a failing store each get.
import { describe, expect, it, vi } from 'vitest';
import {
  HalfsyncServerError,
  idempotent,
  jsonReply,
  memoryStore,
  MIN_KEY_LENGTH,
  type IdempotencyOptions,
  type IdempotencyStore,
  type IdempotentHandler,
  type MemoryStore,
} from '@halfsync/server';

const URL_BASE = 'http://shop.test';

function request(path: string, init: { method?: string; key?: string | null; body?: BodyInit | null; headers?: Record<string, string> } = {}): Request {
  const headers = new Headers(init.headers);
  if (init.key !== null && init.key !== undefined) headers.set('idempotency-key', init.key);
  const method = init.method ?? 'POST';
  return new Request(URL_BASE + path, { method, headers, body: method === 'GET' ? null : (init.body ?? null) });
}

interface Problem { type: string; title: string; status: number; detail: string; code: string }
const problemOf = async (res: Response): Promise<Problem> => {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  return (await res.json()) as Problem;
};

/** A handler that counts its runs and answers 201 with the run number and the body it read. */
function counting(extra: (run: number) => ResponseInit = () => ({})) {
  let runs = 0;
  const handler: IdempotentHandler<void, never> = async (req) => {
    runs++;
    const init = extra(runs);
    return Response.json({ run: runs, body: await req.text() }, { status: 201, ...init });
  };
  return { handler, runs: () => runs };
}

function layer<Tx, Out>(handler: IdempotentHandler<Tx, Out>, options: Partial<IdempotencyOptions<Tx, Out>> & { store: IdempotencyStore<Tx, Out> }) {
  return idempotent(handler, options);
}

describe('the first request and its retries', () => {
  it('runs the handler once and answers a retry with the stored response, marked Idempotent-Replayed', async () => {
    const c = counting(() => ({ headers: { 'x-order': 'A1', 'set-cookie': 'session=secret' } }));
    const handle = layer(c.handler, { store: memoryStore() });
    const first = await handle(request('/orders', { key: 'k1-4b1d9e07c2a3f856', body: '{"a":1}' }));
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(first.headers.get('set-cookie')).toBe('session=secret');
    const firstBody = await first.text();

    const again = await handle(request('/orders', { key: 'k1-4b1d9e07c2a3f856', body: '{"a":1}' }));
    expect(again.status).toBe(201);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('x-order')).toBe('A1');
    expect(again.headers.get('content-type')).toBe('application/json');
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(await again.text()).toBe(firstBody);
    expect(c.runs()).toBe(1);
  });

  it('gives the handler the body it would have read without the layer', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore() });
    const res = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'héllo' }));
    expect(await res.json()).toEqual({ run: 1, body: 'héllo' });
  });

  it('treats a quoted key (a Structured Field String, as the draft writes it) as the same key as its bare form', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore() });
    await handle(request('/orders', { key: '"abc-1-4b1d9e07c2a3f856"', body: 'x' }));
    const again = await handle(request('/orders', { key: 'abc-1-4b1d9e07c2a3f856', body: 'x' }));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(c.runs()).toBe(1);
  });

  it('stores and replays a 4xx answer: it was the real outcome of the request', async () => {
    let runs = 0;
    const handle = layer(async () => { runs++; return Response.json({ error: 'out of stock' }, { status: 409 }); }, { store: memoryStore() });
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).status).toBe(409);
    const again = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect(again.status).toBe(409);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual({ error: 'out of stock' });
    expect(runs).toBe(1);
  });

  it('replays a 204 without a body', async () => {
    const handle = layer(async () => new Response(null, { status: 204, headers: { 'x-done': '1' } }), { store: memoryStore() });
    await handle(request('/ping', { key: 'k-4b1d9e07c2a3f856' }));
    const again = await handle(request('/ping', { key: 'k-4b1d9e07c2a3f856' }));
    expect([again.status, again.headers.get('x-done'), again.headers.get('idempotent-replayed'), again.body]).toEqual([204, '1', 'true', null]);
  });

  it('stores only the headers a policy allows: `only` and `except`', async () => {
    const headers = { 'x-a': '1', 'x-b': '2', 'set-cookie': 'c=1' };
    const only = layer(async () => new Response('ok', { headers }), { store: memoryStore(), headers: { only: ['x-a', 'Set-Cookie'] } });
    await only(request('/a', { key: 'k-4b1d9e07c2a3f856' }));
    const replayOnly = await only(request('/a', { key: 'k-4b1d9e07c2a3f856' }));
    expect([replayOnly.headers.get('x-a'), replayOnly.headers.get('x-b'), replayOnly.headers.get('set-cookie')]).toEqual(['1', null, 'c=1']);

    const except = layer(async () => new Response('ok', { headers }), { store: memoryStore(), headers: { except: ['X-B'] } });
    await except(request('/a', { key: 'k-4b1d9e07c2a3f856' }));
    const replayExcept = await except(request('/a', { key: 'k-4b1d9e07c2a3f856' }));
    expect([replayExcept.headers.get('x-a'), replayExcept.headers.get('x-b'), replayExcept.headers.get('set-cookie')]).toEqual(['1', null, null]);
  });

  it('keeps keys apart by scope', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore(), scope: (req) => req.headers.get('x-account') ?? '' });
    await handle(request('/orders', { key: 'same-4b1d9e07c2a3f856', body: 'x', headers: { 'x-account': 'ada' } }));
    const other = await handle(request('/orders', { key: 'same-4b1d9e07c2a3f856', body: 'x', headers: { 'x-account': 'bob' } }));
    expect(other.headers.get('idempotent-replayed')).toBeNull();
    expect(c.runs()).toBe(2);
  });

  it('lets through, untouched, the methods it does not guard', async () => {
    const seen: Array<string | undefined> = [];
    const handle = layer(async (_req, ctx) => { seen.push(ctx.key); return new Response('list'); }, { store: memoryStore() });
    expect((await handle(request('/orders', { method: 'GET', key: 'k-4b1d9e07c2a3f856' }))).status).toBe(200);
    expect((await handle(request('/orders', { method: 'PUT', key: 'k-4b1d9e07c2a3f856', body: 'x' }))).status).toBe(200);
    expect((await handle(request('/orders', { method: 'DELETE' }))).status).toBe(200);
    expect(seen).toEqual([undefined, undefined, undefined]);
  });

  it('guards the methods it is told to, PUT included', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore(), methods: ['put'] });
    await handle(request('/orders/1', { method: 'PUT', key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect((await handle(request('/orders/1', { method: 'PUT', key: 'k-4b1d9e07c2a3f856', body: 'x' }))).headers.get('idempotent-replayed')).toBe('true');
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).headers.get('idempotent-replayed')).toBeNull();
  });
});

describe('the same key while the first request runs', () => {
  it('answers 409 with Retry-After, and the retry after it gets the stored response', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    let runs = 0;
    const handle = layer(async () => { runs++; await gate; return Response.json({ ok: true }, { status: 201 }); }, { store: memoryStore(), retryAfterSeconds: 2 });
    const first = handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    await vi.waitFor(() => expect(runs).toBe(1));
    const busy = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect(busy.status).toBe(409);
    expect(busy.headers.get('retry-after')).toBe('2');
    const p = await problemOf(busy);
    expect(p).toMatchObject({ status: 409, code: 'IDEMPOTENCY_KEY_IN_USE', type: 'urn:halfsync:problem:idempotency-key-in-use' });
    expect(p.detail).toMatch(/still being handled/);
    release();
    expect((await first).status).toBe(201);
    const after = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect(after.headers.get('idempotent-replayed')).toBe('true');
    expect(runs).toBe(1);
  });

  it('applies one of fifty concurrent requests with one key; the others are replays or 409s', async () => {
    let runs = 0;
    const handle = layer(async () => { runs++; await new Promise((r) => setTimeout(r, 5)); return Response.json({ n: runs }, { status: 201 }); }, { store: memoryStore() });
    const answers = await Promise.all(Array.from({ length: 50 }, () => handle(request('/orders', { key: 'same-4b1d9e07c2a3f856', body: 'x' }))));
    const statuses = answers.map((a) => `${a.status}${a.headers.get('idempotent-replayed') ? ' replay' : ''}`);
    expect(statuses.filter((s) => s === '201')).toHaveLength(1);
    expect(statuses.every((s) => s === '201' || s === '201 replay' || s === '409')).toBe(true);
    expect(runs).toBe(1);
  });

  it('renews the claim while a slow handler runs, so a retry is not let in after lockTimeoutMs', async () => {
    let runs = 0;
    const handle = layer(async () => { runs++; await new Promise((r) => setTimeout(r, 2_500)); return new Response('done', { status: 201 }); }, { store: memoryStore(), lockTimeoutMs: 1_000 });
    const first = handle(request('/slow', { key: 'k-4b1d9e07c2a3f856' }));
    // Well past the lock's first expiry: only the renewals keep the key.
    await new Promise((r) => setTimeout(r, 1_600));
    expect((await handle(request('/slow', { key: 'k-4b1d9e07c2a3f856' }))).status).toBe(409);
    expect((await first).status).toBe(201);
    expect(runs).toBe(1);
  });

  it('reports no lost lock for a renewal that settles after the handler finished', async () => {
    const inner = memoryStore();
    // Renewals that take longer than the handler: the one in flight settles after the record completed.
    const store: typeof inner = { ...inner, renew: (claim, until) => new Promise((r) => setTimeout(r, 300)).then(() => inner.renew(claim, until)) };
    const errors: string[] = [];
    const handle = layer(async () => { await new Promise((r) => setTimeout(r, 400)); return new Response('ok', { status: 201 }); }, { store, lockTimeoutMs: 1_000, onError: (e) => errors.push(e.code) });
    expect((await handle(request('/x', { key: 'k-4b1d9e07c2a3f856' }))).status).toBe(201);
    await new Promise((r) => setTimeout(r, 400));
    expect(errors).toEqual([]);
  });

  it('takes over a claim whose server died (no renewal) once its lock has passed, and not before', async () => {
    let now = 1_000_000;
    const store = memoryStore();
    // A claim left by a server that died mid-handler: running, never renewed.
    await store.insert({ scope: '', key: 'k-4b1d9e07c2a3f856', owner: 'dead-server', fingerprint: await fingerprintOf('/orders', 'x'), lockedUntil: now + 30_000, expiresAt: now + 86_400_000 });
    const c = counting();
    const handle = layer(c.handler, { store, now: () => now });
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).status).toBe(409);
    now += 30_000;
    const taken = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect(taken.status).toBe(201);
    expect(taken.headers.get('idempotent-replayed')).toBeNull();
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).headers.get('idempotent-replayed')).toBe('true');
    expect(c.runs()).toBe(1);
  });
});

/** The default fingerprint of a POST with this path and body, as the layer computes it. */
async function fingerprintOf(path: string, body: string): Promise<string> {
  const { requestFingerprint } = await import('@halfsync/server');
  return requestFingerprint({ method: 'POST', url: new URL(URL_BASE + path), body: new TextEncoder().encode(body) });
}

describe('a key reused for a different request', () => {
  it.each([
    ['another body', { path: '/orders', method: 'POST', body: '{"a":2}' }],
    ['another path', { path: '/labels', method: 'POST', body: '{"a":1}' }],
    ['another query', { path: '/orders?dry=1', method: 'POST', body: '{"a":1}' }],
    ['another method', { path: '/orders', method: 'PATCH', body: '{"a":1}' }],
  ])('answers 422 for %s and runs nothing', async (_name, second) => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore(), methods: ['POST', 'PATCH'] });
    await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: '{"a":1}' }));
    const res = await handle(request(second.path, { method: second.method, key: 'k-4b1d9e07c2a3f856', body: second.body }));
    expect(res.status).toBe(422);
    expect(await problemOf(res)).toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED', title: 'Idempotency-Key already used for a different request' });
    expect(c.runs()).toBe(1);
  });

  it('answers 422 even while the first request still runs', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => { release = r; });
    const handle = layer(async () => { await gate; return new Response('ok'); }, { store: memoryStore() });
    const first = handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'one' }));
    await new Promise((r) => setTimeout(r, 10));
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'two' }))).status).toBe(422);
    release();
    await first;
  });

  it('uses a custom fingerprint when given one: here, JSON with its fields in any order is the same request', async () => {
    const c = counting();
    const handle = layer(c.handler, {
      store: memoryStore(),
      fingerprint: ({ body }) => {
        const value = JSON.parse(new TextDecoder().decode(body)) as Record<string, unknown>;
        return JSON.stringify(Object.keys(value).sort().map((k) => [k, value[k]]));
      },
    });
    await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: '{"a":1,"b":2}' }));
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: '{"b":2,"a":1}' }))).headers.get('idempotent-replayed')).toBe('true');
    expect(c.runs()).toBe(1);
  });
});

describe('keys expire', () => {
  it('forgets a key after expiresAfterMs: the same key then runs the handler again, even for another body', async () => {
    let now = 5_000_000;
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore(), expiresAfterMs: 60_000, now: () => now });
    await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'a' }));
    now += 59_999;
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'a' }))).headers.get('idempotent-replayed')).toBe('true');
    now += 1;
    const fresh = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'b' }));
    expect(fresh.status).toBe(201);
    expect(fresh.headers.get('idempotent-replayed')).toBeNull();
    expect(c.runs()).toBe(2);
  });

  it('purges expired records from the store, at most once per purgeIntervalMs', async () => {
    let now = 0;
    const store = memoryStore();
    const handle = layer(async () => new Response('ok'), { store, expiresAfterMs: 1_000, purgeIntervalMs: 10_000, now: () => now });
    for (const key of ['a-4b1d9e07c2a3f856', 'b-4b1d9e07c2a3f856', 'c-4b1d9e07c2a3f856']) await handle(request('/x', { key }));
    expect(store.size).toBe(3);
    now = 5_000;
    await handle(request('/x', { key: 'd-4b1d9e07c2a3f856' }));
    expect(store.size).toBe(4); // the last purge was at 0
    now = 10_000;
    await handle(request('/x', { key: 'e-4b1d9e07c2a3f856' }));
    await vi.waitFor(() => expect(store.size).toBe(1));
  });
});

describe('a handler that fails stores nothing', () => {
  it('a handler that throws: the error propagates, and the retry runs the handler again', async () => {
    let runs = 0;
    const handle = layer(async () => { runs++; if (runs === 1) throw new Error('database hiccup'); return new Response('ok', { status: 201 }); }, { store: memoryStore() });
    await expect(handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).rejects.toThrow('database hiccup');
    const retry = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect([retry.status, retry.headers.get('idempotent-replayed')]).toEqual([201, null]);
    expect(runs).toBe(2);
  });

  it('a 5xx answer is passed on as it is, and the retry runs the handler again', async () => {
    let runs = 0;
    const handle = layer(async () => { runs++; return runs === 1 ? new Response('busy', { status: 503, headers: { 'retry-after': '3' } }) : new Response('ok', { status: 201 }); }, { store: memoryStore() });
    const first = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect([first.status, first.headers.get('retry-after'), await first.text()]).toEqual([503, '3', 'busy']);
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).status).toBe(201);
    expect(runs).toBe(2);
  });
});

describe('bad input', () => {
  it('answers 400 IDEMPOTENCY_KEY_MISSING for a guarded request without a key, and runs nothing', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore() });
    const res = await handle(request('/orders', { body: 'x' }));
    expect(res.status).toBe(400);
    const p = await problemOf(res);
    expect(p).toMatchObject({ status: 400, code: 'IDEMPOTENCY_KEY_MISSING', title: 'Idempotency-Key header required', type: 'urn:halfsync:problem:idempotency-key-missing' });
    expect(p.detail).toMatch(/POST \/orders requires an Idempotency-Key header/);
    expect(c.runs()).toBe(0);
  });

  it('lets a keyless request through unguarded where the route does not require a key', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore(), required: (req) => new URL(req.url).pathname !== '/optional' });
    expect((await handle(request('/optional', { body: 'x' }))).status).toBe(201);
    expect((await handle(request('/optional', { body: 'x' }))).status).toBe(201);
    expect((await handle(request('/orders', { body: 'x' }))).status).toBe(400);
    expect(c.runs()).toBe(2);
  });

  it.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['an empty quoted string', '""'],
    ['256 characters', 'k'.repeat(256)],
    ['a tab inside', 'a\tb'],
    ['a control character', 'a\u0001b'],
    ['DEL', 'a\u007fb'],
    ['a non-ASCII letter', 'clé'],
    ['an unclosed quote', '"abc'],
    ['text after the closing quote', '"abc"d'],
    ['a bad escape in a quoted key', '"a\\nb"'],
  ])('answers 400 IDEMPOTENCY_KEY_INVALID for a key that is %s, and runs nothing', async (_name, key) => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore() });
    const res = await handle(request('/orders', { key, body: 'x' }));
    expect(res.status).toBe(400);
    expect(await problemOf(res)).toMatchObject({ code: 'IDEMPOTENCY_KEY_INVALID' });
    expect(c.runs()).toBe(0);
  });

  it('accepts a key of exactly 255 characters, and printable ASCII of every kind', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore() });
    expect((await handle(request('/orders', { key: 'k'.repeat(255), body: 'x' }))).status).toBe(201);
    expect((await handle(request('/orders', { key: 'a b:c/d+e=f~!"#$%&*()', body: 'x' }))).status).toBe(201);
  });

  it('answers 413 BODY_TOO_LARGE for a body over maxBodyBytes, declared or streamed, and runs nothing', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore(), maxBodyBytes: 1_000 });
    expect((await handle(request('/orders', { key: 'a-4b1d9e07c2a3f856', body: 'x'.repeat(1_000) }))).status).toBe(201);
    const declared = await handle(request('/orders', { key: 'b-4b1d9e07c2a3f856', body: 'x'.repeat(1_001) }));
    expect(declared.status).toBe(413);
    expect(await problemOf(declared)).toMatchObject({ code: 'BODY_TOO_LARGE', status: 413 });
    const chunk = new TextEncoder().encode('y'.repeat(400));
    const streamed = new Request(`${URL_BASE}/orders`, {
      method: 'POST',
      headers: { 'idempotency-key': 'c-4b1d9e07c2a3f856' },
      body: new ReadableStream({ start(controller) { for (let i = 0; i < 3; i++) controller.enqueue(chunk); controller.close(); } }),
      duplex: 'half',
    } as RequestInit);
    expect((await handle(streamed)).status).toBe(413);
    expect(c.runs()).toBe(1);
  });

  it('refuses malformed options with INVALID_OPTIONS', () => {
    const noop = async () => new Response('');
    const bad: Array<Partial<IdempotencyOptions<void, never>>> = [
      {},
      { store: memoryStore(), lockTimeoutMs: 999 },
      { store: memoryStore(), expiresAfterMs: 0 },
      { store: memoryStore(), retryAfterSeconds: 1.5 },
      { store: memoryStore(), maxBodyBytes: -1 },
      { store: memoryStore(), methods: ['PO ST'] },
    ];
    for (const options of bad) {
      expect(() => idempotent(noop, options as IdempotencyOptions<void, never>)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    }
  });
});

/** A memory store whose steps can be made to fail, as a database that went away does. */
function breakable(): { store: MemoryStore; fail: Set<keyof IdempotencyStore> } {
  const inner = memoryStore();
  const fail = new Set<keyof IdempotencyStore>();
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (fail.has(prop as keyof IdempotencyStore)) return Promise.reject(new Error(`connection refused (${String(prop)})`));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, fail };
}

describe('a store that is down', () => {
  it('answers 503 STORE_UNAVAILABLE with Retry-After, never runs the handler, and reports the cause', async () => {
    const { store, fail } = breakable();
    const errors: HalfsyncServerError[] = [];
    const c = counting();
    const handle = layer(c.handler, { store, onError: (e) => errors.push(e), unavailableRetryAfterSeconds: 7 });
    fail.add('insert');
    const res = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('7');
    expect(await problemOf(res)).toMatchObject({ code: 'STORE_UNAVAILABLE', status: 503 });
    expect(c.runs()).toBe(0);
    expect(errors.map((e) => e.code)).toEqual(['STORE_UNAVAILABLE']);
    expect(errors[0]!.message).toMatch(/connection refused \(insert\)/);

    fail.clear();
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).status).toBe(201);
    expect(c.runs()).toBe(1);
  });

  it('a store lost after the handler ran: 503 RESPONSE_NOT_RECORDED, never a success for an unrecorded effect', async () => {
    const { store, fail } = breakable();
    const errors: HalfsyncServerError[] = [];
    const c = counting();
    const handle = layer(c.handler, { store, onError: (e) => errors.push(e) });
    fail.add('complete');
    const res = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    const p = await problemOf(res);
    expect(p.code).toBe('RESPONSE_NOT_RECORDED');
    expect(p.detail).toMatch(/was handled but its response could not be recorded/);
    expect(errors.map((e) => e.code)).toEqual(['RESPONSE_NOT_RECORDED']);
    expect(c.runs()).toBe(1);
  });
});

describe('the transactional mode', () => {
  it('records the reply with the effect, and answers the retry from it without running the handler', async () => {
    const effects: string[] = [];
    let runs = 0;
    const handle = layer(async (req, { transaction, key }) => {
      runs++;
      const body = await req.text();
      return transaction(() => { effects.push(`${key}:${body}`); return jsonReply({ saved: body }, { status: 201 }); });
    }, { store: memoryStore() });
    const first = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'pen' }));
    expect([first.status, await first.json()]).toEqual([201, { saved: 'pen' }]);
    const again = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'pen' }));
    expect([again.status, again.headers.get('idempotent-replayed'), await again.json()]).toEqual([201, 'true', { saved: 'pen' }]);
    expect(effects).toEqual(['k-4b1d9e07c2a3f856:pen']);
    expect(runs).toBe(1);
  });

  it('answers with the recorded reply even if the handler returns something else', async () => {
    const handle = layer(async (_req, { transaction }) => {
      await transaction(() => jsonReply({ recorded: true }, { status: 201 }));
      return new Response('not this', { status: 200 });
    }, { store: memoryStore() });
    const first = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect([first.status, await first.json()]).toEqual([201, { recorded: true }]);
  });

  it('a 5xx reply is not recorded, so the retry runs again', async () => {
    let runs = 0;
    const handle = layer(async (_req, { transaction }) => {
      runs++;
      return transaction(() => (runs === 1 ? jsonReply({ error: 'later' }, { status: 503 }) : jsonReply({ ok: true }, { status: 201 })));
    }, { store: memoryStore() });
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).status).toBe(503);
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).status).toBe(201);
    expect(runs).toBe(2);
  });

  it('runs once per request, needs a store with transactions, and checks the reply', async () => {
    const twice = layer(async (_req, { transaction }) => {
      await transaction(() => jsonReply(1));
      return transaction(() => jsonReply(2));
    }, { store: memoryStore() });
    await expect(twice(request('/a', { key: 'k-4b1d9e07c2a3f856' }))).rejects.toMatchObject({ code: 'TRANSACTION_ALREADY_USED' });

    const { transaction: _omitted, ...rest } = memoryStore();
    const plain: IdempotencyStore<void, never> = rest;
    const none = layer(async (_req, ctx) => (ctx.transaction as unknown as (w: () => unknown) => Promise<Response>)(() => jsonReply(1)), { store: plain });
    await expect(none(request('/a', { key: 'k-4b1d9e07c2a3f856' }))).rejects.toMatchObject({ code: 'TRANSACTION_UNSUPPORTED' });

    const badStatus = layer(async (_req, { transaction }) => transaction(() => ({ status: 99 })), { store: memoryStore() });
    await expect(badStatus(request('/a', { key: 'k-4b1d9e07c2a3f856' }))).rejects.toMatchObject({ code: 'INVALID_REPLY' });
  });

  it('rolls back and answers 409 when another request took the key over before the commit', async () => {
    let now = 0;
    const store = memoryStore();
    const effects: string[] = [];
    const errors: string[] = [];
    const handle = idempotent(async (_req, { transaction }) => {
      // Meanwhile the claim's lock passed (its renewals failed) and another request took the key over.
      const record = (await store.get('', 'k-4b1d9e07c2a3f856'))!;
      now += 2_000;
      await store.takeOver({ ...record, owner: 'another-request', lockedUntil: now + 1_000 }, record);
      return transaction(() => { effects.push('applied'); return jsonReply({ mine: true }, { status: 201 }); });
    }, { store, now: () => now, lockTimeoutMs: 1_000, onError: (e) => errors.push(e.code) });
    const answer = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect(answer.status).toBe(409);
    expect(await problemOf(answer)).toMatchObject({ code: 'IDEMPOTENCY_KEY_IN_USE' });
    expect(errors).toContain('LOCK_LOST');
    expect(effects).toEqual([]);
    expect((await store.get('', 'k-4b1d9e07c2a3f856'))?.owner).toBe('another-request');
  });
});

describe('the claim while its handler runs', () => {
  it('is not reported lost once its transaction committed, however long the handler goes on after', async () => {
    const errors: string[] = [];
    const handle = idempotent(async (_req, { transaction }) => {
      const answer = await transaction(() => jsonReply({ ok: true }, { status: 201 }));
      await new Promise((r) => setTimeout(r, 1_100)); // three renewal periods of a 1 s lock
      return answer;
    }, { store: memoryStore(), lockTimeoutMs: 1_000, onError: (e) => errors.push(e.code) });
    expect((await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }))).status).toBe(201);
    expect(errors).toEqual([]);
  });

  it('reports a lost claim once, not at every renewal', async () => {
    const store = memoryStore();
    const errors: string[] = [];
    let release!: () => void;
    const handle = idempotent(async () => {
      const record = (await store.get('', 'k-4b1d9e07c2a3f856'))!;
      await store.takeOver({ ...record, owner: 'another-request' }, record);
      await new Promise<void>((r) => { release = r; setTimeout(r, 1_100); });
      return new Response('late', { status: 201 });
    }, { store, lockTimeoutMs: 1_000, onError: (e) => errors.push(e.code) });
    const answer = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    release();
    expect(answer.status).toBe(503);
    // One from the renewals, one from the response that could not be recorded.
    expect(errors).toEqual(['LOCK_LOST', 'LOCK_LOST']);
  });

  it('is neither taken over nor purged past expiresAfterMs while its lock is renewed', async () => {
    let now = 0;
    const store = memoryStore();
    let runs = 0;
    let finish!: () => void;
    const handle = idempotent(async () => {
      runs++;
      await new Promise<void>((r) => { finish = r; });
      return new Response('done', { status: 201 });
    }, { store, expiresAfterMs: 1_000, lockTimeoutMs: 10_000, now: () => now });
    const first = handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    await vi.waitFor(() => expect(runs).toBe(1));
    now = 2_000; // past the record's expiry, inside its lock
    const retry = await handle(request('/orders', { key: 'k-4b1d9e07c2a3f856', body: 'x' }));
    expect([retry.status, (await problemOf(retry)).code]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE']);
    expect(await store.purge(now)).toBe(0);
    finish();
    expect((await first).status).toBe(201);
    expect(runs).toBe(1);
  });

  it('purgeIntervalMs: Infinity never purges, not even at the first request', async () => {
    let now = 0;
    const store = memoryStore();
    const earlier = layer(async () => new Response('ok'), { store, expiresAfterMs: 1_000, now: () => now });
    for (const key of ['a-4b1d9e07c2a3f856', 'b-4b1d9e07c2a3f856']) await earlier(request('/x', { key }));
    now = 1_000_000; // both expired
    const handle = layer(async () => new Response('ok'), { store, expiresAfterMs: 1_000, purgeIntervalMs: Infinity, now: () => now });
    await handle(request('/x', { key: 'c-4b1d9e07c2a3f856' }));
    await new Promise((r) => setTimeout(r, 10));
    expect(store.size).toBe(3);
  });
});

describe('HalfsyncServerError', () => {
  it('carries a code and details', () => {
    const e = new HalfsyncServerError('STORE_CLOSED', 'closed', { details: { key: 'k-4b1d9e07c2a3f856' } });
    expect([e.name, e.code, e.details, e instanceof Error]).toEqual(['HalfsyncServerError', 'STORE_CLOSED', { key: 'k-4b1d9e07c2a3f856' }, true]);
  });
});

// What issue 26 found: keys shared by every caller, short keys, joined header fields, records kept by an idle
// server, hung handlers holding their keys, and leases too short to renew.
describe('keys belong to their caller', () => {
  const KEY = '5e0f3c1a-9b7d-4e2f-8a6c-000000000026';
  const as = (authorization: string, body = '{"refund":5}') => request('/refunds', { key: KEY, body, headers: { authorization } });

  it('another caller never gets the first caller\'s recorded response: with credentials and no scope, 500 SCOPE_REQUIRED and the handler does not run', async () => {
    const c = counting();
    const errors: string[] = [];
    const handle = layer(c.handler, { store: memoryStore(), onError: (e) => errors.push(e.code) });
    const first = await handle(as('Bearer ada-token'));
    const second = await handle(as('Bearer bob-token'));
    for (const res of [first, second]) {
      expect(res.status).toBe(500);
      const p = await problemOf(res);
      expect(p.code).toBe('SCOPE_REQUIRED');
      expect(p.detail).toMatch(/scope/);
    }
    const cookie = await handle(request('/refunds', { key: KEY, body: 'x', headers: { cookie: 'session=ada' } }));
    expect(cookie.status).toBe(500);
    expect(c.runs()).toBe(0);
    expect(errors).toEqual(['SCOPE_REQUIRED', 'SCOPE_REQUIRED', 'SCOPE_REQUIRED']);
  });

  it('with a scope from the principal: another user with the same key gets a run of their own; the same user after a token refresh gets the replay', async () => {
    const c = counting();
    // The account behind a token (as an auth library verifies it): "<account>.<issue number>".
    const accountOf = (req: Request) => (req.headers.get('authorization') ?? '').replace(/^Bearer /, '').split('.')[0]!;
    const handle = layer(c.handler, { store: memoryStore(), scope: accountOf });
    const ada = await handle(as('Bearer ada.1'));
    expect(ada.status).toBe(201);
    const bob = await handle(as('Bearer bob.1'));
    expect([bob.status, bob.headers.get('idempotent-replayed'), ((await bob.json()) as { run: number }).run]).toEqual([201, null, 2]);
    const refreshed = await handle(as('Bearer ada.2'));
    expect([refreshed.status, refreshed.headers.get('idempotent-replayed'), await refreshed.text()]).toEqual([201, 'true', await ada.text()]);
    expect(c.runs()).toBe(2);
  });

  it('requests without credentials share one scope, and need none configured', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore() });
    expect((await handle(request('/orders', { key: KEY, body: 'x' }))).status).toBe(201);
    expect((await handle(request('/orders', { key: KEY, body: 'x' }))).headers.get('idempotent-replayed')).toBe('true');
  });

  it(`refuses a key shorter than ${MIN_KEY_LENGTH} characters with 400, saying how long a key must be`, async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore() });
    for (const key of ['1', 'order-42', 'x'.repeat(MIN_KEY_LENGTH - 1)]) {
      const res = await handle(request('/orders', { key, body: 'x' }));
      expect(res.status).toBe(400);
      const p = await problemOf(res);
      expect(p.code).toBe('IDEMPOTENCY_KEY_INVALID');
      expect(p.detail).toMatch(new RegExp(`at least ${MIN_KEY_LENGTH}`));
    }
    expect((await handle(request('/orders', { key: 'x'.repeat(MIN_KEY_LENGTH), body: 'x' }))).status).toBe(201);
    const lenient = layer(c.handler, { store: memoryStore(), minKeyLength: 4 });
    expect((await lenient(request('/orders', { key: 'abcd', body: 'x' }))).status).toBe(201);
    expect(c.runs()).toBe(2);
  });

  it('two Idempotency-Key fields, which Fetch joins with a comma, are refused with 400', async () => {
    const c = counting();
    const handle = layer(c.handler, { store: memoryStore() });
    const headers = new Headers();
    headers.append('idempotency-key', KEY);
    headers.append('idempotency-key', KEY.replace('0', '1'));
    const res = await handle(new Request(`${URL_BASE}/orders`, { method: 'POST', headers, body: 'x' }));
    expect(res.status).toBe(400);
    expect((await problemOf(res)).detail).toMatch(/comma/);
    expect(c.runs()).toBe(0);
  });
});

describe('the layer\'s upkeep', () => {
  const KEY = (n: number) => `0c9a7e1f-upkeep-${String(n).padStart(4, '0')}`;

  it('purges expired records on a timer while no request comes', async () => {
    let now = 0;
    const store = memoryStore();
    const handle = layer(async () => new Response('ok'), { store, expiresAfterMs: 1_000, purgeIntervalMs: 50, now: () => now });
    for (const n of [1, 2, 3]) await handle(request('/x', { key: KEY(n) }));
    expect(store.size).toBe(3);
    now = 5_000;
    await vi.waitFor(() => expect(store.size).toBe(0), { timeout: 1_000 });
    await store.close();
  });

  it('maxHandlerMs: a handler still running then gets its claim given up and its client a 503, so a retry runs it again', async () => {
    const errors: string[] = [];
    let runs = 0;
    const signals: AbortSignal[] = [];
    const handle = layer(async (_req, { signal }) => {
      runs++;
      signals.push(signal);
      if (runs === 1) await new Promise((r) => setTimeout(r, 400));
      return new Response(`run ${runs}`, { status: 201 });
    }, { store: memoryStore(), maxHandlerMs: 100, onError: (e) => errors.push(e.code) });
    const started = Date.now();
    const first = await handle(request('/orders', { key: KEY(1), body: 'x' }));
    expect(Date.now() - started).toBeLessThan(350);
    expect([first.status, first.headers.get('retry-after')]).toEqual([503, '5']);
    expect((await problemOf(first)).code).toBe('HANDLER_TIMEOUT');
    expect(signals[0]!.aborted).toBe(true);
    const retry = await handle(request('/orders', { key: KEY(1), body: 'x' }));
    expect([retry.status, await retry.text()]).toEqual([201, 'run 2']);
    expect(errors).toEqual(['HANDLER_TIMEOUT']);
  });

  it('maxHandlerMs in the transactional mode: work that would commit after it is rolled back', async () => {
    const effects: string[] = [];
    const handle = layer(async (_req, { transaction }) => {
      await new Promise((r) => setTimeout(r, 200));
      return transaction(() => { effects.push('late'); return jsonReply({ ok: true }, { status: 201 }); });
    }, { store: memoryStore(), maxHandlerMs: 50 });
    const res = await handle(request('/orders', { key: KEY(2), body: 'x' }));
    expect(res.status).toBe(503);
    await new Promise((r) => setTimeout(r, 300));
    expect(effects).toEqual([]);
  });

  it('refuses a lease too short to renew (lockTimeoutMs under 1 s), and a maxHandlerMs or minKeyLength out of range', () => {
    const noop = async () => new Response('');
    for (const options of [{ lockTimeoutMs: 999 }, { maxHandlerMs: 0 }, { minKeyLength: 0 }, { minKeyLength: 256 }]) {
      expect(() => idempotent(noop, { store: memoryStore(), ...options })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    }
    expect(() => idempotent(noop, { store: memoryStore(), lockTimeoutMs: 1_000 })).not.toThrow();
  });
});
