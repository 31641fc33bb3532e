// The worker's side of deferral (deferInWorker, under the Workbox plugin and deferOnFailure) and
// its answers to pages, in Node with fake-indexeddb and a stand-in for the service worker's scope.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { defineTask } from '../src/task.js';
import { createHttpTask, type StoredRequest } from '../src/http.js';
import { serve, type HalfsyncWorker } from '../src/worker.js';
import { acceptedResponse, deferInWorker, deferOnFailure, deferPlugin } from '../src/workbox.js';
import { TaskStore } from '../src/store/store.js';
import type { ChannelMessage } from '../src/channel.js';
import type { TaskRecord } from '../src/record.js';
import { freshDb, storedRecords } from './helpers.js';

type Listener = (event: unknown) => void;
const g = globalThis as unknown as Record<string, unknown>;
const cleanups: Array<() => void> = [];
afterEach(() => { while (cleanups.length) cleanups.pop()!(); vi.restoreAllMocks(); });

/** Installs a stand-in service-worker scope on globalThis for serve(); undone after each test. */
function workerScope({ sync = true } = {}) {
  const listeners = new Map<string, Listener[]>();
  const tags: string[] = [];
  const saved = { registration: g.registration, clients: g.clients, addEventListener: g.addEventListener };
  g.registration = sync ? { sync: { register: async (tag: string) => { tags.push(tag); } } } : {};
  g.clients = { matchAll: async () => [] };
  g.addEventListener = (type: string, fn: Listener) => { listeners.set(type, [...(listeners.get(type) ?? []), fn]); };
  cleanups.push(() => Object.assign(g, saved));
  /** Sends a page's request to the worker's message listener; resolves with its reply. */
  const ask = (data: unknown) => new Promise<unknown>((resolve) => {
    const event = { data, ports: [{ postMessage: resolve }], source: null, waitUntil: (p: Promise<unknown>) => void p };
    for (const fn of listeners.get('message') ?? []) fn(event);
  });
  return { tags, ask };
}

/** Every message on the database's BroadcastChannel, as a page hears them. */
function hear(db: string): ChannelMessage[] {
  const heard: ChannelMessage[] = [];
  const channel = new BroadcastChannel(`halfsync:${db}`);
  channel.onmessage = (e: MessageEvent<ChannelMessage>) => heard.push(e.data);
  cleanups.push(() => channel.close());
  return heard;
}

const stored = async (db: string): Promise<TaskRecord[]> => {
  const store = new TaskStore(db);
  cleanups.push(() => store.close());
  return storedRecords(await store.db());
};
const until = async (check: () => boolean, what: string) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
};

const note = defineTask('note', { run: async (n: { text: string }) => n.text });

describe('deferInWorker', () => {
  it('commits the defers of one tick in one batch, tells every tab, and wakes the runner with a Background Sync', async () => {
    const db = freshDb();
    const scope = workerScope();
    const heard = hear(db);
    const worker = serve({ tasks: [note], dbName: db, drainOnStart: false });
    const [a, b] = await Promise.all([deferInWorker(worker, note, { text: 'a' }), deferInWorker(worker, note, { text: 'b' }, { orderKey: 'notes' })]);
    expect([a.status, b.status]).toEqual(['pending', 'pending']);
    expect(b.orderKey).toBe('notes');
    expect((await stored(db)).map((r) => r.payload)).toEqual([{ text: 'a' }, { text: 'b' }]);
    await until(() => heard.some((m) => m.t === 'changed'), 'the change on the channel');
    const changed = heard.filter((m): m is Extract<ChannelMessage, { t: 'changed' }> => m.t === 'changed');
    expect(changed).toHaveLength(1);
    expect(changed[0]!.tasks.map((t) => t.id)).toEqual([a.id, b.id]);
    expect(scope.tags).toHaveLength(1);
    expect(scope.tags[0]).toMatch(new RegExp(`^halfsync:${db}:`));
  });

  it('drains at once where there is no Background Sync', async () => {
    const db = freshDb();
    workerScope({ sync: false });
    const worker = serve({ tasks: [note], dbName: db, drainOnStart: false });
    const task = await deferInWorker(worker, note, { text: 'now' });
    await until(() => worker.lastDrain !== undefined && worker.lastDrain.succeeded === 1, 'the drain');
    expect((await stored(db)).find((r) => r.id === task.id)?.status).toBe('succeeded');
  });

  it('refuses bad input as a page would, and stores nothing', async () => {
    const db = freshDb();
    workerScope();
    const worker = serve({ tasks: [note], dbName: db, drainOnStart: false });
    const other = defineTask('other', { run: async () => undefined });
    await expect(deferInWorker(worker, other, undefined)).rejects.toMatchObject({ code: 'UNKNOWN_TASK' });
    await expect(deferInWorker(worker, note, { text: 'x', later: () => 1 } as unknown as { text: string })).rejects.toMatchObject({ code: 'PAYLOAD_NOT_CLONEABLE' });
    await expect(deferInWorker({ drain: worker.drain, lastDrain: undefined }, note, { text: 'x' })).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringMatching(/serve\(\{ tasks \}\)/) });
    expect(await stored(db)).toHaveLength(0);
  });
});

describe('the worker’s answers to pages', () => {
  it('a drain it is woken for gathers: tasks committed just after the wake-up run in that one drain', async () => {
    const db = freshDb();
    const scope = workerScope();
    serve({ tasks: [note], dbName: db, drainOnStart: false });
    const store = new TaskStore(db);
    cleanups.push(() => store.close());
    await store.db();
    const asked = scope.ask({ halfsync: 1, op: 'drain', db });
    // A page deferring one task after another, the first a moment after it asked for the drain.
    await new Promise((r) => setTimeout(r, 30));
    const now = Date.now();
    for (const n of [1, 2, 3]) {
      const id = `gathered-${n}`;
      await store.insert([{ id, name: 'note', payload: { text: id }, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: now, due: now, idempotencyKey: id, rev: 1 }]);
    }
    expect(await asked).toMatchObject({ ok: true, op: 'drain', summary: { ran: 3, succeeded: 3 } });
  });

  it('answers a request it could not serve with a documented code, never an undocumented one', async () => {
    const db = freshDb();
    const scope = workerScope();
    serve({ tasks: [note], dbName: db, drainOnStart: false });
    const saved = g.indexedDB;
    g.indexedDB = { open() { throw new TypeError('the storage backend went away'); } };
    cleanups.push(() => { g.indexedDB = saved; });
    const reply = await scope.ask({ halfsync: 1, op: 'status', db });
    expect(reply).toMatchObject({ ok: false, code: 'WORKER_UNAVAILABLE', message: expect.stringMatching(/status request .*the storage backend went away/) });
    expect(await scope.ask({ halfsync: 1, op: 'jump', db })).toMatchObject({ ok: false, code: 'INVALID_OPTIONS' });
  });
});

describe('the Workbox plugin and deferOnFailure', () => {
  const origin = 'http://127.0.0.1:9';
  const api = createHttpTask({ name: 'api', allowOrigins: [origin] });
  const setup = (): { db: string; worker: HalfsyncWorker } => {
    const db = freshDb();
    workerScope();
    return { db, worker: serve({ tasks: [api], dbName: db, drainOnStart: false }) };
  };
  const post = (path: string, headers: Record<string, string> = {}) =>
    new Request(`${origin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"n":1}' });

  it('defers a request the network could not carry and answers 202 with the task', async () => {
    const { db, worker } = setup();
    const plugin = deferPlugin({ worker, task: api });
    const state: Record<string, unknown> = {};
    await plugin.fetchDidFail({ request: post('/api/orders', { 'idempotency-key': 'order-7' }), error: new TypeError('Failed to fetch'), state });
    const res = await plugin.handlerDidError({ request: post('/api/orders'), state });
    expect(res?.status).toBe(202);
    const body = (await res!.json()) as { deferred: boolean; id: string; idempotencyKey: string };
    expect(body).toMatchObject({ deferred: true, idempotencyKey: 'order-7' });
    const [record] = await stored(db);
    expect(record).toMatchObject({ id: body.id, name: 'api', idempotencyKey: 'order-7', status: 'pending' });
    expect((record!.payload as StoredRequest).url).toBe(`${origin}/api/orders`);
    expect(new TextDecoder().decode(((record!.payload as StoredRequest).body as { bytes: ArrayBuffer }).bytes)).toBe('{"n":1}');
  });

  it('answers with the app’s own response when asked', async () => {
    const { worker } = setup();
    const plugin = deferPlugin({ worker, task: api, respond: ({ task }) => Response.json({ queued: task.id }, { status: 200 }) });
    const state: Record<string, unknown> = {};
    await plugin.fetchDidFail({ request: post('/api/orders'), state });
    const res = await plugin.handlerDidError({ request: post('/api/orders'), state });
    expect(res?.status).toBe(200);
    expect(await res!.json()).toMatchObject({ queued: expect.any(String) });
  });

  it('leaves the error as it was for a request it cannot store, and says why in the console', async () => {
    const { db, worker } = setup();
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const plugin = deferPlugin({ worker, task: api });
    const state: Record<string, unknown> = {};
    await plugin.fetchDidFail({ request: new Request('http://elsewhere.example/api', { method: 'POST', body: 'x' }), state });
    expect(await plugin.handlerDidError({ request: post('/api/orders'), state })).toBeUndefined();
    expect(warn.mock.calls[0]?.[0]).toMatch(/not deferred \(ORIGIN_NOT_ALLOWED/);
    // A request the page cancelled is not deferred at all; a handler error without a failed fetch neither.
    const cancelled: Record<string, unknown> = {};
    await plugin.fetchDidFail({ request: post('/api/orders'), error: new DOMException('aborted', 'AbortError'), state: cancelled });
    expect(await plugin.handlerDidError({ request: post('/api/orders'), state: cancelled })).toBeUndefined();
    expect(await plugin.handlerDidError({ request: post('/api/orders'), state: {} })).toBeUndefined();
    expect(await stored(db)).toHaveLength(0);
  });

  it('deferOnFailure: passes the server’s answers through, defers what the network could not carry', async () => {
    const { db, worker } = setup();
    const fetchMock = vi.spyOn(globalThis, 'fetch');
    fetchMock.mockResolvedValueOnce(new Response('busy', { status: 503 }));
    const through = await deferOnFailure({ request: post('/api/orders') }, { worker, task: api });
    expect(through.status).toBe(503);
    fetchMock.mockRejectedValueOnce(new TypeError('Failed to fetch'));
    const deferred = await deferOnFailure({ request: post('/api/orders') }, { worker, task: api });
    expect(deferred.status).toBe(202);
    expect(deferred.headers.get('halfsync-task')).toBe((await stored(db))[0]?.id);
    fetchMock.mockRejectedValueOnce(new DOMException('aborted', 'AbortError'));
    await expect(deferOnFailure({ request: post('/api/orders') }, { worker, task: api })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await stored(db)).toHaveLength(1);
  });

  it('sends the request with the Idempotency-Key its task will be replayed with (deferPlugin): the same key on the first try and the task', async () => {
    const { db, worker } = setup();
    const plugin = deferPlugin({ worker, task: api });
    const state: Record<string, unknown> = {};
    // Workbox hands requestWillFetch a clone and sends what it returns; fetchDidFail gets that request.
    const page = new Request(post('/api/orders'), { referrer: `${origin}/shop/cart` });
    const sent = await plugin.requestWillFetch({ request: page, state });
    const key = sent.headers.get('idempotency-key');
    // Still the page's request otherwise: its referrer is not replaced by the worker's.
    expect(sent.referrer).toBe(`${origin}/shop/cart`);
    expect(key).toMatch(/^[0-9a-f-]{36}$/);
    expect(await sent.clone().text()).toBe('{"n":1}');
    await plugin.fetchDidFail({ request: sent, error: new TypeError('Failed to fetch'), state });
    const body = (await (await plugin.handlerDidError({ request: sent, state }))!.json()) as { idempotencyKey: string };
    expect(body.idempotencyKey).toBe(key);
    expect((await stored(db))[0]).toMatchObject({ idempotencyKey: key });
    // Left as they are: a key of the app's own, a GET, another origin, and every request with sendKey: false.
    const own = await plugin.requestWillFetch({ request: post('/api/orders', { 'idempotency-key': 'order-7' }) });
    expect(own.headers.get('idempotency-key')).toBe('order-7');
    expect((await plugin.requestWillFetch({ request: new Request(`${origin}/api/orders`) })).headers.has('idempotency-key')).toBe(false);
    expect((await plugin.requestWillFetch({ request: new Request('http://elsewhere.example/api', { method: 'POST', body: 'x' }) })).headers.has('idempotency-key')).toBe(false);
    expect((await deferPlugin({ worker, task: api, sendKey: false }).requestWillFetch({ request: post('/api/orders') })).headers.has('idempotency-key')).toBe(false);
  });

  it('sends the request with the Idempotency-Key its task will be replayed with (deferOnFailure)', async () => {
    const { db, worker } = setup();
    const sent: Request[] = [];
    const fetchMock = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input) => {
      sent.push(input as Request);
      if (sent.length === 1) return new Response('ok');
      throw new TypeError('Failed to fetch');
    });
    expect((await deferOnFailure({ request: post('/api/orders') }, { worker, task: api })).status).toBe(200);
    const deferred = await deferOnFailure({ request: post('/api/orders') }, { worker, task: api });
    expect(deferred.status).toBe(202);
    expect(fetchMock).toHaveBeenCalledTimes(2);
    const [first, second] = sent.map((r) => r.headers.get('idempotency-key'));
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(second).toMatch(/^[0-9a-f-]{36}$/);
    expect(first).not.toBe(second);
    expect((await stored(db)).map((r) => r.idempotencyKey)).toEqual([second]);
  });

  it('stores the body in an engine without Request.body (Firefox), through deferPlugin and deferOnFailure', async () => {
    const descriptor = Object.getOwnPropertyDescriptor(Request.prototype, 'body')!;
    delete (Request.prototype as { body?: unknown }).body;
    cleanups.push(() => Object.defineProperty(Request.prototype, 'body', descriptor));
    const { db, worker } = setup();
    const plugin = deferPlugin({ worker, task: api });
    const state: Record<string, unknown> = {};
    await plugin.fetchDidFail({ request: await plugin.requestWillFetch({ request: post('/api/orders') }), error: new TypeError('NetworkError when attempting to fetch resource.'), state });
    vi.spyOn(globalThis, 'fetch').mockRejectedValueOnce(new TypeError('NetworkError when attempting to fetch resource.'));
    expect((await deferOnFailure({ request: post('/api/orders') }, { worker, task: api })).status).toBe(202);
    const bodies = (await stored(db)).map((r) => new TextDecoder().decode(((r.payload as StoredRequest).body as { bytes: ArrayBuffer }).bytes));
    expect(bodies).toEqual(['{"n":1}', '{"n":1}']);
  });

  it('acceptedResponse is a 202 naming the task', async () => {
    const res = acceptedResponse({ task: { id: 't1', idempotencyKey: 'k1' } as Parameters<typeof acceptedResponse>[0]['task'] });
    expect([res.status, res.headers.get('content-type')]).toEqual([202, 'application/json']);
    expect(await res.json()).toEqual({ deferred: true, id: 't1', idempotencyKey: 'k1' });
  });
});
