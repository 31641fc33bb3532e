import { afterEach, describe, expect, it } from 'vitest';
import { openDB } from 'idb';
import { clientPool, freshDb, openAsSchema } from './helpers.js';
import { defineTask } from '../src/index.js';
import { TaskStore } from '../src/store/store.js';
import { SCHEMA_VERSION, type HalfsyncSchema } from '../src/store/schema.js';
import { APART_OVER, small } from '../src/store/payloads.js';
import type { TaskRecord } from '../src/record.js';

// The payload apart from the status record (store/payloads.ts): a large payload is kept in the
// `payloads` store once its task is in `tasks`, so claims, renewals and settlements rewrite the
// record alone; every reader that hands a task on joins the payload back.

const seen: Array<{ text: string; n: number }> = [];
const doc = defineTask('payload-doc', {
  run: async (p: { text: string; n: number }) => { seen.push(p); return p.n; },
  retry: { maxAttempts: 1 },
});
const failing = defineTask('payload-failing', { run: async (_p: { text: string }) => { throw new Error('no'); }, retry: { maxAttempts: 1 } });
const { open, closeAll } = clientPool([doc, failing], { autoRun: false });
afterEach(() => { closeAll(); seen.length = 0; });

const big = (n: number) => ({ text: `${n}:`.padEnd(APART_OVER * 4, 'x'), n });

/** The raw rows, as IndexedDB holds them. */
async function raw(name: string) {
  const db = await openDB<HalfsyncSchema>(name);
  const tx = db.transaction(['tasks', 'inbox', 'payloads']);
  const [tasks, inbox, payloads] = await Promise.all([tx.objectStore('tasks').getAll(), tx.objectStore('inbox').getAll(), tx.objectStore('payloads').getAll()]);
  db.close();
  return { tasks, inbox, payloads };
}

describe('the payload apart from the status record', () => {
  it('a large payload leaves its record when the task moves on; the claim hands it to the handler; the settlement writes the record alone', async () => {
    const name = freshDb();
    const c = open(name);
    await c.ready;
    const h = c.defer(doc, big(1));
    await h.persisted;
    // In the inbox the record is whole.
    expect((await raw(name)).inbox[0]).toMatchObject({ payload: big(1) });
    await c.drain();
    expect(await h.result).toBe(1);
    expect(seen).toEqual([big(1)]);
    const { tasks, payloads } = await raw(name);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]).toMatchObject({ status: 'succeeded', apart: true, result: 1 });
    expect(Object.hasOwn(tasks[0]!, 'payload')).toBe(false);
    // The record the claim and the settlement rewrote is small; the payload was written once.
    expect(JSON.stringify(tasks[0]).length).toBeLessThan(1_000);
    expect(payloads).toEqual([{ id: h.id, payload: big(1) }]);
    expect(c.get(h.id)?.payload).toEqual(big(1));
  });

  it('a small payload stays in its record: no second write, no second read', async () => {
    const name = freshDb();
    const c = open(name);
    await c.ready;
    const h = c.defer(doc, { text: 'short', n: 2 });
    await c.drain();
    expect(await h.result).toBe(2);
    const { tasks, payloads } = await raw(name);
    expect(tasks[0]).toMatchObject({ payload: { text: 'short', n: 2 } });
    expect(tasks[0]!.apart).toBeUndefined();
    expect(payloads).toEqual([]);
  });

  it('a tab\'s load, a page of history and another tab all see the payload of a task whose payload is apart', async () => {
    const name = freshDb();
    const a = open(name);
    await a.ready;
    const failed = a.defer(failing, big(3));
    const laned = a.defer(doc, big(4), { orderKey: 'k' });
    await Promise.all([failed.persisted, laned.persisted]);
    await a.drain();
    await failed.result.catch(() => {});
    expect((await raw(name)).payloads).toHaveLength(2);
    // A tab opened now loads them from `tasks`, with their payloads.
    const b = open(name);
    await b.ready;
    expect(b.get(failed.id)).toMatchObject({ status: 'failed', payload: big(3) });
    expect(b.get(laned.id)).toMatchObject({ status: 'succeeded', payload: big(4) });
    const page = await b.query({}, { order: 'oldest' });
    expect(page.tasks.map((t) => t.payload)).toEqual([big(3), big(4)]);
    // A retry (its record read from `tasks` without the payload) keeps the payload in both tabs' views.
    await b.retry(failed.id);
    await new Promise((r) => setTimeout(r, 50));
    for (const tab of [a, b]) expect(tab.get(failed.id)).toMatchObject({ status: 'pending', payload: big(3) });
  });

  it('a tab that does not hold a task still tells the tabs that do: a cancel made from history reaches them, payload kept', async () => {
    const name = freshDb();
    const a = open(name);
    await a.ready;
    const first = a.defer(doc, big(5), { orderKey: 'k' });
    const second = a.defer(doc, big(6), { orderKey: 'k' });
    await Promise.all([first.persisted, second.persisted]);
    await new Promise((r) => setTimeout(r, 20));
    // A tab whose window holds one pending task: the second is beyond it.
    const b = open(name, { pendingWindow: 1 });
    await b.ready;
    expect(b.get(second.id)).toBeUndefined();
    await b.cancel(second.id);
    await new Promise((r) => setTimeout(r, 50));
    expect(a.get(second.id)).toMatchObject({ status: 'cancelled', payload: big(6) });
    expect(b.get(second.id)).toBeUndefined();
  });

  it('an update replaces the payload wherever it was kept: apart to inline to apart; the handler runs the last', async () => {
    const name = freshDb();
    const c = open(name);
    await c.ready;
    const h = c.defer(doc, big(7), { orderKey: 'k', delay: 60_000 });
    await h.persisted;
    expect((await raw(name)).payloads).toHaveLength(1);
    await c.update(h.id, { text: 'small now', n: 8 });
    let now = await raw(name);
    expect(now.payloads).toEqual([]);
    expect(now.tasks[0]).toMatchObject({ payload: { text: 'small now', n: 8 } });
    expect(now.tasks[0]!.apart).toBeUndefined();
    await c.update(h.id, big(9));
    now = await raw(name);
    expect(now.payloads).toEqual([{ id: h.id, payload: big(9) }]);
    expect(now.tasks[0]!.apart).toBe(true);
    expect(c.get(h.id)?.payload).toEqual(big(9));
    // An undefined payload is a payload too: the large one kept apart goes.
    await c.update(h.id, undefined);
    now = await raw(name);
    expect(now.payloads).toEqual([]);
    expect(Object.hasOwn(now.tasks[0]!, 'payload')).toBe(true);
    expect(now.tasks[0]!.payload).toBeUndefined();
    expect(c.get(h.id)?.payload).toBeUndefined();
  });

  it('a record in the inbox marked apart by hand, its payload in hand, is stored by its payload\'s size when it moves', async () => {
    const name = freshDb();
    const c = open(name);
    await c.ready;
    const h = c.defer(doc, big(20));
    await h.persisted;
    const db = await openDB<HalfsyncSchema>(name);
    const r = (await db.getFromIndex('inbox', 'id', h.id))!;
    await db.put('inbox', { ...r, apart: true });
    db.close();
    await c.drain();
    expect(seen).toEqual([big(20)]);
    expect((await raw(name)).payloads).toEqual([{ id: h.id, payload: big(20) }]);
  });

  it('whatever deletes a task deletes the payload it keeps apart: acknowledge, purge, a sign-out that discards', async () => {
    const name = freshDb();
    const c = open(name);
    await c.ready;
    await c.signIn('ada');
    const done = c.defer(doc, big(10), { orderKey: 'a' });
    const kept = c.defer(doc, big(11), { orderKey: 'b', delay: 60_000 });
    await Promise.all([done.persisted, kept.persisted]);
    await c.drain();
    await done.result;
    expect((await raw(name)).payloads).toHaveLength(2);
    await c.acknowledge(done.id);
    expect((await raw(name)).payloads.map((p) => p.id)).toEqual([kept.id]);
    await c.signOut({ discard: true });
    expect(await raw(name)).toMatchObject({ tasks: [], payloads: [] });
    await c.signIn('grace');
    const g = c.defer(doc, big(12), { orderKey: 'g', delay: 60_000 });
    await g.persisted;
    expect((await raw(name)).payloads).toHaveLength(1);
    await c.purge({ owner: 'grace' });
    expect((await raw(name)).payloads).toEqual([]);
  });

  it('a record made unreadable is quarantined with the payload it kept apart', async () => {
    const name = freshDb();
    const c = open(name);
    await c.ready;
    const h = c.defer(doc, big(13), { orderKey: 'k' });
    await h.persisted;
    const db = await openDB<HalfsyncSchema>(name);
    const r = (await db.getFromIndex('tasks', 'id', h.id))!;
    await db.put('tasks', { ...r, attempts: -1 } as TaskRecord);
    db.close();
    await c.drain();
    const q = await c.quarantined();
    expect(q).toHaveLength(1);
    expect(q[0]).toMatchObject({ reason: expect.stringMatching(/attempts/), payload: big(13) });
    expect((await raw(name)).payloads).toEqual([]);
  });
});

describe('what counts as a large payload', () => {
  it('counts as defer does, stops once over, and takes cycles and binary data', () => {
    expect(small({ text: 'x'.repeat(APART_OVER - 20) })).toBe(true);
    expect(small({ text: 'x'.repeat(APART_OVER + 1) })).toBe(false);
    expect(small(new Uint8Array(APART_OVER + 1))).toBe(false);
    expect(small(new Map([['k', 'x'.repeat(APART_OVER)]]))).toBe(false);
    expect(small(Array.from({ length: 100 }, (_, i) => i))).toBe(false);
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    expect(small(cycle)).toBe(true);
    expect(small(undefined)).toBe(true);
  });
});

describe('schema 9: the migration from schema 8', () => {
  it('moves each large payload of tasks apart, leaves small ones and the inbox as they are; every task reads and runs as before', async () => {
    const name = freshDb();
    const old = await openAsSchema(name, 8);
    const now = Date.now() - 60_000;
    const rec = (seq: number, payload: unknown, extra: Partial<TaskRecord> = {}): TaskRecord => ({
      seq, id: `t${seq}`, name: 'payload-doc', payload, status: 'pending', attempts: 0, createdAt: now + seq, updatedAt: now + seq, nextRunAt: now + seq,
      due: now + seq, idempotencyKey: `key-${seq}`, rev: 1, priority: 5, ...extra,
    } as TaskRecord);
    const records = [
      rec(1, big(1), { orderKey: 'k', lane: 'k' }),
      rec(2, { text: 'small', n: 2 }),
      rec(3, big(3), { status: 'succeeded', result: 3, purgeAt: now + 999_999, due: undefined }),
    ];
    for (const r of records) { if (r.due === undefined) delete r.due; await old.put('tasks', r); }
    const waiting = { ...rec(2 ** 40, big(4)), id: 't4', idempotencyKey: 'key-4', createdAt: now + 4, updatedAt: now + 4, nextRunAt: now + 4, due: now + 4 };
    await old.put('inbox', waiting);
    old.close();

    const store = new TaskStore(name);
    const db = await store.db();
    expect(db.version).toBe(SCHEMA_VERSION);
    store.close();
    const { tasks, inbox, payloads } = await raw(name);
    // The large ones are apart, the record otherwise unchanged; the small one and the inbox are untouched.
    const strip = ({ payload: _p, ...rest }: TaskRecord) => ({ ...rest, apart: true });
    expect(tasks).toEqual([strip(records[0]!), records[1], strip(records[2]!)]);
    expect(payloads).toEqual([{ id: 't1', payload: big(1) }, { id: 't3', payload: big(3) }]);
    expect(inbox).toEqual([waiting]);

    const c = open(name);
    await c.ready;
    expect(['t1', 't2', 't3', 't4'].map((id) => c.get(id)?.payload)).toEqual([big(1), { text: 'small', n: 2 }, big(3), big(4)]);
    await c.drain();
    expect(seen.map((p) => p.n).sort()).toEqual([1, 2, 4]);
  });
});
