// The store, the group commit, the Web Lock between runners, BroadcastChannel between clients and
// the upgrade path, in real Chromium (Vitest browser mode).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createClient, defineTask, history, type HalfsyncClient } from '../src/index.js';
import { Executor } from '../src/executor.js';
import { TaskStore } from '../src/store/store.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { loadAlive } from '../src/store/load.js';
import type { TaskRecord } from '../src/record.js';
import { taskRegistry } from '../src/task.js';
import { writeVersion1 } from './fixtures/v1.js';

let n = 0;
const freshDb = () => `browser-${Date.now()}-${n++}`;
const echo = defineTask('echo', { run: (p: { text: string }) => p.text.toUpperCase() });
const clients: HalfsyncClient[] = [];
const open = (dbName: string) => {
  const c = createClient({ tasks: [echo], dbName, persistStorage: false, use: [history] });
  clients.push(c);
  return c;
};
afterEach(() => { while (clients.length) clients.pop()!.close(); vi.restoreAllMocks(); });

const until = async (check: () => boolean | Promise<boolean>, what: string) => {
  for (let i = 0; i < 400; i++) { if (await check()) return; await new Promise((r) => setTimeout(r, 10)); }
  throw new Error(`timed out waiting for ${what}`);
};

describe('in Chromium', () => {
  it('runs on real IndexedDB, Web Locks and BroadcastChannel', () => {
    expect(navigator.userAgent).toMatch(/Chrome\//);
    expect(typeof navigator.locks.request).toBe('function');
    expect(typeof BroadcastChannel).toBe('function');
  });

  it('commits a burst of defers in one strict transaction, in order, and the records survive a new connection', async () => {
    const txs: Array<{ mode: string; durability: string | undefined }> = [];
    const real = IDBDatabase.prototype.transaction;
    vi.spyOn(IDBDatabase.prototype, 'transaction').mockImplementation(function (this: IDBDatabase, stores, mode, options) {
      const tx = real.call(this, stores, mode, options);
      if (mode === 'readwrite') txs.push({ mode, durability: (tx as IDBTransaction & { durability?: string }).durability });
      return tx;
    });
    const db = freshDb();
    const c = createClient({ tasks: [echo], dbName: db, persistStorage: false, serviceWorker: false });
    clients.push(c);
    await c.ready;
    // Keep the runner out of the way: the page runner is paused by holding its drain lock.
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    void navigator.locks.request(`halfsync:${db}:drain`, () => held);
    txs.length = 0;
    const handles = Array.from({ length: 200 }, (_, i) => c.defer(echo, { text: `t${i}` }));
    const stored = await Promise.all(handles.map((h) => h.persisted));
    expect(txs).toEqual([{ mode: 'readwrite', durability: 'strict' }]);
    expect(stored.map((t) => t.seq)).toEqual(stored.map((_, i) => stored[0]!.seq! + i));
    const raw = await new TaskStore(db).db();
    // Plain tasks commit into the inbox (store/inbox.ts) until a runner moves them on.
    const all = await raw.getAll('inbox');
    expect(all.map((r) => (r.payload as { text: string }).text)).toEqual(handles.map((_, i) => `t${i}`));
    raw.close();
    release();
    await Promise.all(handles.map((h) => h.result));
  });

  it('lets only one executor drain at a time across contexts: a held Web Lock makes the drain wait', async () => {
    const db = freshDb();
    const store = new TaskStore(db);
    let running = 0;
    let peak = 0;
    const slow = defineTask('slow', { run: async () => { running++; peak = Math.max(peak, running); await new Promise((r) => setTimeout(r, 5)); running--; } });
    const a = new Executor({ store, tasks: taskRegistry([slow]), concurrency: 1 });
    const b = new Executor({ store: new TaskStore(db), tasks: taskRegistry([slow]), concurrency: 1 });
    const now = Date.now();
    await store.insert(Array.from({ length: 6 }, (_, i) => ({ id: `s${i}`, name: 'slow', payload: {}, status: 'pending' as const, attempts: 0, createdAt: now, updatedAt: now, nextRunAt: now, due: now, idempotencyKey: `s${i}`, rev: 1, lastError: undefined, result: undefined, leaseUntil: undefined, orderKey: undefined })).map((r) => { const x: Record<string, unknown> = { ...r }; for (const k of Object.keys(x)) if (x[k] === undefined) delete x[k]; return x as never; }));
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const holding = navigator.locks.request(`halfsync:${db}:drain`, () => held);
    const drains = Promise.all([a.drain(), b.drain()]);
    await until(async () => (await navigator.locks.query()).pending?.filter((l) => l.name === `halfsync:${db}:drain`).length === 2, 'both drains to queue on the lock');
    expect(running).toBe(0);
    release();
    await holding;
    const [sa, sb] = await drains;
    expect(sa.ran + sb.ran).toBe(6);
    expect(peak).toBe(1);
  });

  it('shows each client the other’s changes over BroadcastChannel, and rebuilds a new client from IndexedDB', async () => {
    const db = freshDb();
    const a = open(db);
    const b = open(db);
    await Promise.all([a.ready, b.ready]);
    const h = a.defer(echo, { text: 'seen' });
    await until(() => b.get(h.id)?.status === 'succeeded', 'b to see the success');
    expect(b.get(h.id)?.result).toBe('SEEN');
    const later = open(db);
    await later.ready;
    expect(later.get(h.id)).toMatchObject({ status: 'succeeded', result: 'SEEN' });
  });

  it('upgrades a version 1 database in place without losing a task, then runs them', async () => {
    const db = freshDb();
    await writeVersion1(indexedDB, db, Date.now());
    const stat = defineTask('stat', { run: () => 'stat' });
    const mail = defineTask('mail', { run: () => 'mail' });
    const c = createClient({ tasks: [stat, mail], dbName: db, persistStorage: false });
    clients.push(c);
    await c.ready;
    expect(c.getSnapshot().map((t) => t.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const raw = await new TaskStore(db).db();
    expect(raw.version).toBe(SCHEMA_VERSION);
    raw.close();
    await until(() => ['a', 'b', 'c'].every((id) => c.get(id)?.status === 'succeeded'), 'the upgraded tasks to run');
  });

  it('quarantines a corrupt record found at load, and keeps the good ones', async () => {
    const db = freshDb();
    const first = open(db);
    const h = first.defer(echo, { text: 'good' });
    await h.result;
    const raw = await new TaskStore(db).db();
    // Indexed as a pending task (status and createdAt are sound), unreadable otherwise.
    await raw.put('tasks', { seq: 10_000, id: 'bad', name: 'echo', status: 'pending', createdAt: 1, attempts: 'many' } as never);
    raw.close();
    const second = open(db);
    await second.ready;
    expect(second.get('bad')).toBeUndefined();
    expect(second.get(h.id)?.status).toBe('succeeded');
    const q = await second.quarantined();
    expect(q).toEqual([expect.objectContaining({ seq: 10_000, reason: expect.stringContaining('attempts') })]);
  });

  it('reads the pending work of the user signed in past another user\'s held queue, signed in and signed out, by index, counts and keys', async () => {
    const name = freshDb();
    const store = new TaskStore(name);
    const d = await store.db();
    const pending = (k: number, owner: string | undefined) => ({
      id: `p-${k}`, name: 'echo', payload: { text: String(k) }, status: 'pending', attempts: 0, createdAt: k, updatedAt: k, nextRunAt: k,
      idempotencyKey: `p-${k}`, rev: 1, priority: 5, ...(owner === undefined ? {} : { owner }),
    } as TaskRecord);
    // 2,000 of Bob's; Alice's every third from 500; work deferred signed out: 10 among Bob's, 10 after them.
    const tx = d.transaction('tasks', 'readwrite');
    for (let k = 0; k < 2_000; k++) void tx.store.put(pending(k, k >= 500 && k % 3 === 0 ? 'alice' : 'bob'));
    for (let k = 0; k < 10; k++) void tx.store.put(pending(700.5 + k, undefined));
    for (let k = 0; k < 10; k++) void tx.store.put(pending(3_000 + k, undefined));
    await tx.done;
    const alice = await loadAlive(d, 0, 100, { owner: 'alice' });
    expect(alice.records.map((r) => r.createdAt)).toEqual(Array.from({ length: 100 }, (_, i) => 501 + 3 * i));
    expect(alice.pendingBeyond).toBe(true);
    // Signed out, the ten among Bob's are not among the newest: read by key.
    const signedOut = await loadAlive(d, 0, 15, { owner: undefined });
    expect(signedOut.records.map((r) => r.createdAt)).toEqual([...Array.from({ length: 10 }, (_, i) => 700.5 + i), 3_000, 3_001, 3_002, 3_003, 3_004]);
    expect(signedOut.pendingBeyond).toBe(true);
    // Once those are gone, the rest are among the newest.
    for (let k = 0; k < 10; k++) await d.delete('tasks', (await d.getKeyFromIndex('tasks', 'id', `p-${700.5 + k}`))!);
    const newest = await loadAlive(d, 0, 15, { owner: undefined });
    expect(newest.records.map((r) => r.createdAt)).toEqual(Array.from({ length: 10 }, (_, i) => 3_000 + i));
    expect(newest.pendingBeyond).toBe(false);
    expect((await loadAlive(d, 0, 15, { owner: 'carol' })).records).toEqual([]);
    store.close();
  });
});

