// Guarantee 10, "Run as its owner": a task records whose action it was and runs only while that
// owner is signed in; sign-out keeps or discards that user's work, by the app's choice.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { clientPool, freshDb, storedRecords } from './helpers.js';
import { defineTask, PermanentError } from '../src/index.js';
import { TaskStore } from '../src/store/store.js';
import { quarantine } from '../src/store/quarantine.js';
import { settleInbox } from '../src/store/inbox.js';

const ran: Array<{ n: number; owner: string | undefined }> = [];
const order = defineTask('order', { run: (p: { n: number }, ctx) => { ran.push({ n: p.n, owner: ctx.owner }); return p.n; } });
const bad = defineTask('bad', { run: () => { throw new PermanentError('no'); } });
const tasks = [order, bad];

const { open, closeAll } = clientPool(tasks, { autoRun: false });
afterEach(() => { closeAll(); ran.length = 0; });
const raw = async (db: string) => {
  const store = new TaskStore(db);
  const d = await store.db();
  const all = { tasks: await storedRecords(d), quarantine: await d.getAll('quarantine') };
  store.close();
  return all;
};

describe('every task has an owner, and runs only as that owner', () => {
  it('A defers offline and signs out (keep), B signs in: nothing of A runs for B; A signs in again: A\'s complete, as A', async () => {
    const db = freshDb();
    const c = open(db);
    await c.signIn('A');
    const a = [1, 2, 3].map((n) => c.defer(order, { n }));
    await Promise.all(a.map((h) => h.persisted));
    expect(c.get(a[0]!.id)?.owner).toBe('A');
    await c.signOut();
    await c.signIn('B');
    const b = c.defer(order, { n: 10 });
    await c.drain();
    await c.drain();
    expect(ran).toEqual([{ n: 10, owner: 'B' }]);
    expect(await b.result).toBe(10);
    // Held for A, and out of B's view.
    expect(a.map((h) => c.get(h.id))).toEqual([undefined, undefined, undefined]);
    expect((await raw(db)).tasks.filter((t) => t.owner === 'A').map((t) => t.status)).toEqual(['pending', 'pending', 'pending']);
    await c.signOut();
    await c.signIn('A');
    await c.drain();
    expect(ran.slice(1).sort((x, y) => x.n - y.n)).toEqual([1, 2, 3].map((n) => ({ n, owner: 'A' })));
  });

  it('runs work deferred signed out only while signed out', async () => {
    const c = open(freshDb());
    await c.ready;
    const anon = c.defer(order, { n: 7 });
    await anon.persisted;
    await c.signIn('A');
    await c.drain();
    expect(ran).toEqual([]);
    await c.signOut();
    await c.drain();
    expect(ran).toEqual([{ n: 7, owner: undefined }]);
  });

  it('a record edited to another owner in IndexedDB does not run for the current one', async () => {
    const db = freshDb();
    const c = open(db);
    await c.signIn('A');
    const h = c.defer(order, { n: 1 }, { delay: 10 });
    await h.persisted;
    const store = new TaskStore(db);
    await settleInbox(store);
    const d = await store.db();
    const r = (await d.getFromIndex('tasks', 'id', h.id))!;
    await d.put('tasks', { ...r, owner: 'mallory', due: 0 });
    store.close();
    await new Promise((res) => setTimeout(res, 20));
    await c.drain();
    expect(ran).toEqual([]);
  });

  it('sign-out with discard deletes the departing owner\'s tasks, payloads, results and quarantined records', async () => {
    const db = freshDb();
    const c = open(db);
    await c.signIn('A');
    const done = c.defer(order, { n: 1 });
    await c.drain();
    expect(await done.result).toBe(1);
    const failed = c.defer(bad, {});
    await c.drain();
    await expect(failed.result).rejects.toMatchObject({ code: 'TASK_FAILED' });
    const waiting = c.defer(order, { n: 2 }, { delay: 60_000 });
    await waiting.persisted;
    // A quarantined record of A's.
    const store = new TaskStore(db);
    await quarantine(store, [{ raw: { seq: 999_999, id: 'q', owner: 'A', payload: { secret: 'card' } }, reason: 'test' }], Date.now());
    await quarantine(store, [{ raw: { seq: 999_998, id: 'q2', owner: 'B', payload: { secret: 'other' } }, reason: 'test' }], Date.now());
    store.close();
    await c.signOut({ discard: true });
    const left = await raw(db);
    expect(left.tasks.filter((t) => t.owner === 'A')).toEqual([]);
    expect(JSON.stringify(left)).not.toContain('card');
    expect(left.quarantine.map((q) => (q.record as { id: string }).id)).toEqual(['q2']);
    expect(c.get(waiting.id)).toBeUndefined();
    await expect(waiting.result).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
  });

  it('purges one owner, or everything ("delete my data on this device")', async () => {
    const db = freshDb();
    const c = open(db);
    await c.signIn('A');
    c.defer(order, { n: 1 }, { delay: 60_000 });
    await c.signIn('B');
    const b = c.defer(order, { n: 2 }, { delay: 60_000 });
    await b.persisted;
    await c.purge({ owner: 'A' });
    expect((await raw(db)).tasks.map((t) => t.owner)).toEqual(['B']);
    await c.purge({ everyone: true });
    expect(await raw(db)).toEqual({ tasks: [], quarantine: [] });
    expect(c.getSnapshot()).toEqual([]);
  });

  it('a sign-in in one tab takes effect in the other before any task runs there', async () => {
    const db = freshDb();
    const one = open(db);
    const two = open(db);
    await Promise.all([one.ready, two.ready]);
    await one.signIn('A');
    for (let i = 0; i < 50 && two.owner !== 'A'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(two.owner).toBe('A');
    const h = two.defer(order, { n: 3 });
    expect(two.get(h.id)?.owner).toBe('A');
    await two.drain();
    expect(ran).toEqual([{ n: 3, owner: 'A' }]);
    // A new tab reads who is signed in from IndexedDB.
    const three = open(db);
    await three.ready;
    expect(three.owner).toBe('A');
  });

  it('refuses an owner id that is not a string or too long; a change during a defer burst loses nothing', async () => {
    const c2db = freshDb();
    const c = open(c2db);
    await expect(c.signIn(42 as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(c.signIn('x'.repeat(201))).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(c.signIn('')).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(c.signOut({ discard: 'yes' } as never)).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await c.signIn('A');
    const before = c.defer(order, { n: 1 });
    const signing = c.signIn('B');
    const after = c.defer(order, { n: 2 });
    await signing;
    await Promise.all([before.persisted, after.persisted]);
    const owners = new Map((await raw(c2db)).tasks.map((t) => [t.id, t.owner]));
    expect([owners.get(before.id), owners.get(after.id)]).toEqual(['A', 'B']);
    await c.drain();
    expect(ran).toEqual([{ n: 2, owner: 'B' }]);
    await c.signIn('A');
    await c.drain();
    expect(ran).toEqual([{ n: 2, owner: 'B' }, { n: 1, owner: 'A' }]);
  });
});
