// Guarantee 10, "Run as its owner", under its races: who is signed in has one truth, the committed
// `state` record. A tab's belief and a runner's are derived from it (versioned, so the newest
// wins); a task is stamped with it inside its insert; lanes are per owner.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { openDB } from 'idb';
import { clientPool, freshDb, rig, storedRecords } from './helpers.js';
import { defineTask, type HalfsyncClient } from '../src/index.js';
import { TaskStore, commitBatch } from '../src/store/store.js';
import { setOwner } from '../src/store/owner.js';
import { channelName } from '../src/channel.js';
import { MIGRATIONS } from '../src/store/schema.js';
import type { HalfsyncSchema } from '../src/store/schema.js';
import type { NewTaskRecord, TaskRecord } from '../src/record.js';

const ran: Array<{ n: number; owner: string | undefined }> = [];
const order = defineTask('order', { run: (p: { n: number }, ctx) => { ran.push({ n: p.n, owner: ctx.owner }); return p.n; } });
const short = defineTask('short-lived', { run: (p: { n: number }) => p.n, retention: { maxAgeMs: 60_000, finishedMs: 60_000 } });
const tasks = [order, short];

const { open, closeAll } = clientPool(tasks, { autoRun: false });
afterEach(() => { closeAll(); ran.length = 0; });

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));
const until = async (check: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 400; i++) { if (check()) return; await tick(); }
  throw new Error(`timed out waiting for ${what}`);
};
const storedOwner = async (db: string): Promise<string | undefined> => {
  const s = new TaskStore(db);
  const v = (await (await s.db()).get('state', 'owner'))?.value;
  s.close();
  return typeof v === 'string' ? v : undefined;
};
const records = async (db: string): Promise<TaskRecord[]> => {
  const s = new TaskStore(db);
  const all = await storedRecords(await s.db());
  s.close();
  return all;
};

describe('one truth for who is signed in', () => {
  it('two tabs signing in different users at once: both tabs end believing what committed, and stamp it', async () => {
    for (let i = 0; i < 10; i++) {
      const db = freshDb();
      const one = open(db);
      const two = open(db);
      await Promise.all([one.ready, two.ready]);
      await Promise.all([one.signIn('ada'), two.signIn('grace')]);
      const committed = await storedOwner(db);
      await until(() => one.owner === committed && two.owner === committed, `both tabs to believe ${committed}`);
      const hs = [one.defer(order, { n: 1 }), two.defer(order, { n: 2 })];
      await Promise.all(hs.map((h) => h.persisted));
      expect((await records(db)).map((r) => r.owner)).toEqual([committed, committed]);
      one.close();
      two.close();
    }
  });

  it('a tab still loading while another tab signs in ends with the newer owner', async () => {
    for (let i = 0; i < 40; i++) {
      const db = freshDb();
      const one = open(db);
      await one.signIn('ada');
      const loading = open(db);
      await tick(i % 4);
      await one.signIn('grace');
      await loading.ready;
      await until(() => loading.owner === 'grace', 'the loading tab to believe grace');
      await tick(10);
      expect(loading.owner).toBe('grace');
    }
  });

  it('a defer made while the tab believed one user, committed after another tab\'s sign-in, is refused with OWNER_CHANGED, never stamped as the other', async () => {
    const db = freshDb();
    const one = open(db);
    const two = open(db);
    await Promise.all([one.ready, two.ready]);
    await one.signIn('ada');
    await until(() => two.owner === 'ada', 'tab two to believe ada');
    // Grace's sign-in commits in tab one; tab two, which has not heard yet, defers as ada.
    await one.signIn('grace');
    const h = two.defer(order, { n: 7 });
    await expect(h.persisted).rejects.toMatchObject({ code: 'OWNER_CHANGED', details: { expected: 'ada', owner: 'grace' } });
    await expect(h.result).rejects.toMatchObject({ code: 'OWNER_CHANGED' });
    expect(two.get(h.id)).toBeUndefined();
    expect((await records(db)).filter((r) => r.id === h.id)).toEqual([]);
    await until(() => two.owner === 'grace', 'tab two to believe grace');
    expect((await two.defer(order, { n: 8 }).persisted).owner).toBe('grace');
  });

  it('a forged channel message can neither change whose tasks are stamped nor make the runner spin; malformed ones are dropped', async () => {
    const db = freshDb();
    const c = open(db);
    await c.signIn('ada');
    const forged = new BroadcastChannel(channelName(db));
    const progress: unknown[] = [];
    const listen = new BroadcastChannel(channelName(db));
    listen.onmessage = (e) => { if ((e.data as { t?: string } | null)?.t === 'progress') progress.push(e.data); };
    try {
      forged.postMessage({ t: 'owner', owner: 'mallory', version: 1_000_000 });
      forged.postMessage({ t: 'owner', owner: 'mallory', committed: false });
      forged.postMessage({ t: 'changed', tasks: 'nope', removed: 3 });
      forged.postMessage(null);
      forged.postMessage({ t: 'progress', tasks: [{ id: 1 }], removed: [] });
      await tick(20);
      expect(c.owner).toBe('ada');
      const h = c.defer(order, { n: 1 });
      expect((await h.persisted).owner).toBe('ada');
      await c.drain();
      expect(ran).toEqual([{ n: 1, owner: 'ada' }]);
      await tick(50);
      expect(progress.length).toBeLessThan(10);
    } finally {
      forged.close();
      listen.close();
    }
  });

  it('a sign-in announced but never committed (its tab closed) leaves no runner spinning: what committed decides', async () => {
    const db = freshDb();
    const slow = defineTask('slow', { run: async (p: { n: number }, ctx) => { await tick(60); ran.push({ n: p.n, owner: ctx.owner }); return p.n; } });
    const pool = clientPool([order, slow], { autoRun: false });
    // One at a time: the tasks behind the slow one wait, claimed, in the runner's queue.
    const runner = pool.open(db, { concurrency: 1 });
    const progress: unknown[] = [];
    const listen = new BroadcastChannel(channelName(db));
    listen.onmessage = (e) => { if ((e.data as { t?: string } | null)?.t === 'progress') progress.push(e.data); };
    const left = new BroadcastChannel(channelName(db));
    try {
      await runner.signIn('ada');
      const hs = [runner.defer(slow, { n: 1 }), runner.defer(order, { n: 2 }), runner.defer(order, { n: 3 })];
      await Promise.all(hs.map((h) => h.persisted));
      const draining = runner.drain();
      await tick(10);
      // What a tab that closed mid sign-in leaves behind: an announcement with no commit after it.
      left.postMessage({ t: 'owner', owner: 'grace', committed: false });
      left.postMessage({ t: 'owner', owner: 'grace', version: 99 });
      const ended = await Promise.race([draining.then(() => 'ended'), tick(3_000).then(() => 'still draining')]);
      expect(ended).toBe('ended');
      await runner.drain();
      expect(ran.map((r) => r.owner)).toEqual(['ada', 'ada', 'ada']);
      expect(progress.length).toBeLessThan(20);
    } finally {
      listen.close();
      left.close();
      pool.closeAll();
    }
  });

  it('a defer in the worker (no belief) is stamped with the owner committed, inside its insert', async () => {
    const db = freshDb();
    const store = new TaskStore(db);
    await setOwner(store, 'ada', Date.now(), false);
    const now = Date.now();
    const r: NewTaskRecord = { id: 'w1', name: 'order', payload: { n: 1 }, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: now, due: now, idempotencyKey: 'w1', rev: 1 };
    const { results } = await commitBatch(store, [r], () => order.retention);
    expect((results[0] as TaskRecord).owner).toBe('ada');
    store.close();
  });
});

describe('lanes per owner', () => {
  it('a signed-out user\'s held task never blocks the next user\'s tasks of the same order key', async () => {
    const db = freshDb();
    const c = open(db);
    await c.signIn('ada');
    const adas = c.defer(order, { n: 1 }, { orderKey: 'stats' });
    await adas.persisted;
    await c.signOut();
    await c.signIn('grace');
    const graces = c.defer(order, { n: 2 }, { orderKey: 'stats' });
    await graces.persisted;
    await c.drain();
    expect(ran).toEqual([{ n: 2, owner: 'grace' }]);
    await c.signIn('ada');
    await c.drain();
    expect(ran).toEqual([{ n: 2, owner: 'grace' }, { n: 1, owner: 'ada' }]);
  });

  it('held tasks expire like any other, at their maxAgeMs', async () => {
    const r = rig(tasks);
    const store = r.store;
    await setOwner(store, 'ada', r.clock.now(), false);
    const held = await r.insert('short-lived', { n: 1 }, { orderKey: 'k' });
    await setOwner(store, 'grace', r.clock.now(), false);
    expect((await r.byId(held.id))?.due).toBeUndefined();
    r.clock.advance(61_000);
    await r.executor.drain();
    expect(await r.byId(held.id)).toMatchObject({ status: 'failed', lastError: { code: 'EXPIRED' } });
  });

  it('schema 6 splits a lane shared by two users, written by schema 5, and the signed-in user\'s task runs', async () => {
    const db = freshDb();
    const now = Date.now();
    const v5 = await openDB<HalfsyncSchema>(db, 5, {
      async upgrade(d, old, _n, tx) { for (let v = old; v < 5; v++) await MIGRATIONS[v]!(d, tx as never); },
    });
    const base = { name: 'order', status: 'pending' as const, attempts: 0, createdAt: now, updatedAt: now, nextRunAt: now, rev: 1, orderKey: 'stats', lane: 'stats' };
    // Ada's task holds the shared lane's head (held: no due); Grace's waits behind it.
    await v5.put('tasks', { ...base, id: 'a', idempotencyKey: 'a', payload: { n: 1 }, owner: 'ada' } as TaskRecord);
    await v5.put('tasks', { ...base, id: 'g', idempotencyKey: 'g', payload: { n: 2 }, owner: 'grace' } as TaskRecord);
    await v5.put('state', { key: 'owner', value: 'grace', at: now });
    v5.close();
    const c: HalfsyncClient = open(db);
    await c.ready;
    expect(c.owner).toBe('grace');
    await c.drain();
    expect(ran).toEqual([{ n: 2, owner: 'grace' }]);
    const left = await records(db);
    expect(left.find((x) => x.id === 'a')).toMatchObject({ owner: 'ada', lane: 'ada\u0000stats', idempotencyKey: 'a', status: 'pending' });
  });
});

describe('views hold the signed-in user\'s work', () => {
  it('another user\'s held tasks, payloads included, are in no snapshot or slice, in this tab or one opened later', async () => {
    const db = freshDb();
    const c = open(db);
    await c.signIn('ada');
    const adas = c.defer(order, { n: 4242 });
    await adas.persisted;
    await c.signOut();
    await c.signIn('grace');
    const graces = c.defer(order, { n: 1 });
    await graces.persisted;
    await tick(10);
    const slice = c.select({ task: 'order' });
    for (const view of [c.getSnapshot(), slice.getSnapshot()]) {
      expect(view.map((t) => t.id)).toEqual([graces.id]);
      expect(JSON.stringify(view)).not.toContain('4242');
    }
    const later = open(db);
    await later.ready;
    await until(() => later.getSnapshot().length === 1, 'the later tab to load');
    expect(later.getSnapshot().map((t) => t.id)).toEqual([graces.id]);
    // Counted, without payloads, where the app asks.
    expect(await c.count({ task: order, status: 'pending' })).toBe(2);
    expect(await c.count({ status: 'pending', owner: 'ada' })).toBe(1);
    expect(await c.count({ owner: 'grace' })).toBe(1);
    expect(await c.count({ owner: null })).toBe(0);
    expect((await c.query({ owner: 'ada' })).tasks.map((t) => t.id)).toEqual([adas.id]);
    // Ada back: her work is in view again.
    await c.signIn('ada');
    await until(() => c.getSnapshot().some((t) => t.id === adas.id), 'ada\'s task back in view');
    expect(c.getSnapshot().map((t) => t.id)).toEqual([adas.id]);
    expect(c.get(adas.id)?.payload).toEqual({ n: 4242 });
  });

  it('sign-out with discard deletes the record of the task running, payload and all; its handler finishes into nothing', async () => {
    const db = freshDb();
    let release!: () => void;
    const started = new Promise<void>((res) => { release = res; });
    let finish!: () => void;
    const slow = defineTask('slow-secret', { run: async () => { release(); await new Promise<void>((r) => { finish = r; }); return 'done'; } });
    const pool = clientPool([slow], { autoRun: false });
    const c = pool.open(db);
    try {
      await c.signIn('ada');
      const h = c.defer(slow, { card: '4242-secret' });
      await h.persisted;
      const draining = c.drain();
      await started;
      await c.signOut({ discard: true });
      finish();
      await draining;
      expect(JSON.stringify(await records(db))).not.toContain('4242-secret');
      expect(await records(db)).toEqual([]);
    } finally {
      pool.closeAll();
    }
  });

  it('a forged removal on the channel does not take a stored task out of view', async () => {
    const db = freshDb();
    const c = open(db);
    await c.ready;
    const h = c.defer(order, { n: 1 });
    await h.persisted;
    const forged = new BroadcastChannel(channelName(db));
    try {
      forged.postMessage({ t: 'changed', tasks: [], removed: [h.id] });
      forged.postMessage({ t: 'progress', tasks: [], removed: [h.id] });
      await tick(30);
      expect(c.get(h.id)?.status).toBe('pending');
      // A real removal still reaches the other tab.
      const other = open(db);
      await other.ready;
      await until(() => other.get(h.id) !== undefined, 'the other tab to load it');
      await c.cancel(h.id);
      await c.acknowledge(h.id);
      await until(() => other.get(h.id) === undefined, 'the acknowledged task to leave the other tab');
    } finally {
      forged.close();
    }
  });
});

