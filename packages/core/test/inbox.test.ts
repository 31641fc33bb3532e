import { afterEach, describe, expect, it } from 'vitest';
import { openDB, type IDBPDatabase } from 'idb';
import { clientPool, freshDb, manualClock, openAsSchema, rig } from './helpers.js';
import { defineTask } from '../src/index.js';
import { TaskStore } from '../src/store/store.js';
import { MIGRATIONS, INBOX_FIRST_SEQ, SCHEMA_VERSION, type HalfsyncSchema } from '../src/store/schema.js';
import { settleInbox } from '../src/store/inbox.js';
import type { TaskRecord } from '../src/record.js';

// The inbox (store/inbox.ts): plain defers commit into a store of their own, and move into `tasks`
// inside a runner's step or any transaction over every store.

const ran: number[] = [];
const op = defineTask('inbox-op', { run: async (p: { n: number }) => { ran.push(p.n); return p.n; } });
const low = defineTask('inbox-low', { run: async (p: { n: number }) => { ran.push(p.n); return p.n; }, priority: 1 });
const urgent = defineTask('inbox-urgent', { run: async (p: { n: number }) => { ran.push(p.n); return p.n; }, priority: 9 });
const { open, closeAll } = clientPool([op, low, urgent], { autoRun: false });
afterEach(() => { closeAll(); ran.length = 0; });

/** Keeps a transaction over `stores` open until `release` is called (a runner's long step). */
function holdOpen(db: IDBPDatabase<HalfsyncSchema>, stores: Array<'tasks' | 'quarantine' | 'state' | 'inbox' | 'gate'>) {
  const tx = db.transaction(stores, 'readwrite');
  let held = true;
  const spin = (): void => { if (held) tx.objectStore(stores[0]!).count().then(spin, () => {}); };
  spin();
  return { release: async () => { held = false; await tx.done; } };
}

describe('the inbox', () => {
  it('a plain defer commits while a runner\'s step holds the tasks store; a defer with an order key waits for it', async () => {
    const db = freshDb();
    const c = open(db);
    await c.ready;
    const store = new TaskStore(db);
    const step = holdOpen(await store.db(), ['tasks', 'quarantine', 'state']);
    const order: string[] = [];
    await c.defer(op, { n: 1 }).persisted;
    order.push('plain');
    // A tick with a laned defer commits in `tasks` (it looks up its lane): it waits for the step.
    const laned = c.defer(op, { n: 2 }, { orderKey: 'k' }).persisted.then(() => order.push('laned'));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual(['plain']);
    order.push('step ended');
    await step.release();
    await laned;
    expect(order).toEqual(['plain', 'step ended', 'laned']);
    store.close();
  });

  it('moves every task in commit order, each with a key from tasks and its revision moved on; other tabs take the new keys', async () => {
    const db = freshDb();
    const a = open(db);
    const b = open(db);
    await Promise.all([a.ready, b.ready]);
    // Something in `tasks` first (a laned task), then plain ones in the inbox.
    await a.defer(op, { n: 0 }, { orderKey: 'k' }).persisted;
    const plain = await Promise.all([1, 2, 3].map((n) => a.defer(op, { n }).persisted));
    expect(plain.every((t) => t.seq! >= INBOX_FIRST_SEQ)).toBe(true);
    // A count in another tab reads the store: the inbox moves on first.
    expect(await b.count({})).toBe(4);
    const store = new TaskStore(db);
    const d = await store.db();
    expect(await d.count('inbox')).toBe(0);
    const moved = await Promise.all(plain.map((t) => d.getFromIndex('tasks', 'id', t.id)));
    expect(moved.every((r, i) => r!.seq < INBOX_FIRST_SEQ && r!.rev === plain[i]!.rev + 1)).toBe(true);
    const seqs = moved.map((r) => r!.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(seqs[0]).toBeGreaterThan((await d.getFromIndex('tasks', 'orderKey', IDBKeyRange.lowerBound(['k', 0])))!.seq);
    // A tab reading the store (a page of history) moves the inbox on first, and every tab sees the new keys.
    await a.defer(op, { n: 4 }).persisted;
    const page = await b.query({}, { order: 'oldest' });
    expect(page.tasks.map((t) => (t.payload as { n: number }).n)).toEqual([0, 1, 2, 3, 4]);
    await expect.poll(() => a.getSnapshot().map((t) => t.seq! < INBOX_FIRST_SEQ)).toEqual([true, true, true, true, true]);
    expect(a.getSnapshot().map((t) => (t.payload as { n: number }).n)).toEqual([0, 1, 2, 3, 4]);
    store.close();
  });

  it('a tab loads the tasks still in the inbox without moving them, and counts those beyond its window', async () => {
    const db = freshDb();
    const a = open(db);
    await a.ready;
    await Promise.all([1, 2, 3].map((n) => a.defer(op, { n }).persisted));
    await new Promise((r) => setTimeout(r, 20)); // a's copy for other tabs has gone out: b reads the store
    const b = open(db, { pendingWindow: 2 });
    await b.ready;
    expect(b.getSnapshot().map((t) => (t.payload as { n: number }).n)).toEqual([1, 2]);
    const store = new TaskStore(db);
    expect(await (await store.db()).count('inbox')).toBe(3);
    // A count reads the whole queue: it moves the inbox on first.
    expect(await b.count({ status: 'pending' })).toBe(3);
    expect(await (await store.db()).count('inbox')).toBe(0);
    store.close();
  });

  it('a runner claims what waits in the inbox in its first step, and a task deferred during a long drain within the drain', async () => {
    const clock = manualClock();
    const slow = defineTask('inbox-op', { run: async (p: { n: number }) => { clock.advance(60); await new Promise((r) => setTimeout(r, 5)); ran.push(p.n); } });
    const r = rig([slow], { now: clock.now, concurrency: 1 });
    await Promise.all([1, 2, 3].map((n) => r.store.insert([base(`s${n}`, n, clock.now())])));
    expect(await (await r.store.db()).count('inbox')).toBe(3);
    const drained = r.executor.drain();
    // Deferred while the first tasks run: moved on by a later step of the same drain (every 100 ms).
    await new Promise((res) => setTimeout(res, 2));
    await r.store.insert([base('s9', 9, clock.now())]);
    expect(await drained).toMatchObject({ ran: 4, succeeded: 4 });
    expect(ran.sort()).toEqual([1, 2, 3, 9]);
    r.store.close();
  });

  it('a long inbox moves a chunk at a time: the first claim waits for one chunk, not for all of it, and every task runs', async () => {
    const r = rig([op]);
    for (let k = 0; k < 3; k++) await r.store.insert(Array.from({ length: 400 }, (_, i) => base(`c${k}-${i}`, k * 400 + i, r.clock.now())));
    const moves: number[] = [];
    const tx = r.store.tx.bind(r.store);
    r.store.tx = (d, scope) => { if (scope === 'move') moves.push(moves.length); return tx(d, scope); };
    expect(await r.executor.drain()).toMatchObject({ ran: 1200, succeeded: 1200 });
    // 1,200 in chunks of 500: three moves, each its own transaction (the clock never moved: no timed move).
    expect(moves).toHaveLength(3);
    expect(await (await r.store.db()).count('inbox')).toBe(0);
    r.store.close();
  });

  it('a record tasks refuses (an id already there, written by hand) is quarantined with why; the rest move and run', async () => {
    const r = rig([op]);
    const [first] = (await r.store.insert([base('dup', 1, r.clock.now())])).results as TaskRecord[];
    await settleInbox(r.store);
    const db = await r.store.db();
    // The same id again, straight into the inbox, then a good one.
    const { seq: _seq, ...again } = first!;
    await db.add('inbox', again as TaskRecord);
    await r.store.insert([base('ok', 2, r.clock.now())]);
    expect(await r.executor.drain()).toMatchObject({ ran: 2, succeeded: 2 });
    const q = await r.store.quarantined();
    expect(q).toHaveLength(1);
    expect(q[0]!.reason).toMatch(/could not move from the inbox/);
    expect(await db.count('inbox')).toBe(0);
    r.store.close();
  });

  it('tasks left in the inbox by a page that closed are run once by the next runner', async () => {
    const db = freshDb();
    const c = open(db);
    await Promise.all([1, 2].map((n) => c.defer(op, { n }).persisted));
    c.close();
    const r = rig([op], { db, now: Date.now });
    expect(await r.executor.drain()).toMatchObject({ ran: 2, succeeded: 2 });
    expect(await r.executor.drain()).toMatchObject({ ran: 0 });
    expect(ran.sort()).toEqual([1, 2]);
    r.store.close();
  });
});

const base = (id: string, n: number, now: number) => ({
  id, name: 'inbox-op', payload: { n }, status: 'pending' as const, attempts: 0, createdAt: now, updatedAt: now, nextRunAt: now, due: now, idempotencyKey: id, rev: 1,
});

describe('a drain stopped', () => {
  it('leaves the rest of a long inbox where it waits: it moves no further chunk once stopped', async () => {
    const controller = new AbortController();
    const stopper = defineTask('inbox-stopper', { run: async () => { controller.abort(); } });
    const { store, executor, clock } = rig([stopper]);
    const now = clock.now();
    const records = Array.from({ length: 1_200 }, (_, i) => ({ ...base(`s${i}`, i, now), name: 'inbox-stopper' }));
    await store.insert(records);
    const summary = await executor.drain({ signal: controller.signal });
    expect(summary.stopped).toBe('aborted');
    // One chunk moved for the claim; the other two still wait, for the next drain.
    expect(await (await store.db()).count('inbox')).toBe(700);
    store.close();
  });
});

describe('the move by priority', () => {
  it('a payment deferred after 1,200 queued low-priority tasks, with no runner in between, moves in the first chunk and runs first', async () => {
    const db = freshDb();
    const c = open(db, { concurrency: 1 });
    await c.ready;
    await Promise.all(Array.from({ length: 1_200 }, (_, i) => c.defer(low, { n: i }).persisted));
    await c.defer(urgent, { n: -1 }).persisted;
    await c.drain();
    expect(ran[0]).toBe(-1);
    // Each priority keeps its commit order.
    expect(ran.slice(1)).toEqual(Array.from({ length: 1_200 }, (_, i) => i));
  });

  it('schema 10: an inbox written by schema 9 keeps every record, and runs by priority once upgraded', async () => {
    const name = freshDb();
    const old = await openAsSchema(name, 9);
    const now = Date.now() - 1_000;
    const rec = (seq: number, name: string, priority: number | undefined, n: number) => ({
      ...base(`r${seq}`, n, now), seq, name, ...(priority === undefined ? {} : { priority }),
    }) as TaskRecord;
    const records = [rec(INBOX_FIRST_SEQ, 'inbox-low', 1, 1), rec(INBOX_FIRST_SEQ + 1, 'inbox-op', undefined, 2), rec(INBOX_FIRST_SEQ + 2, 'inbox-urgent', 9, 3), rec(INBOX_FIRST_SEQ + 3, 'inbox-op', 5, 4)];
    for (const r of records) await old.put('inbox', r);
    old.close();
    const store = new TaskStore(name);
    const d = await store.db();
    expect(d.version).toBe(SCHEMA_VERSION);
    expect(await d.getAll('inbox')).toEqual(records);
    store.close();
    const c = open(name, { concurrency: 1 });
    await c.ready;
    await c.drain();
    // By priority (9, 5, 1), then the one with none (written before priorities, or by hand).
    expect(ran).toEqual([3, 4, 1, 2]);
  });
});

describe('schema 8: the migration from schema 7', () => {
  it('keeps every record, lane, parent link, owner and idempotency key; the owner state reaches the gate; new defers land in the inbox', async () => {
    const name = freshDb();
    // A database as schema 7 left it, with what today's code writes: lanes, a chain, two owners, finished and failed tasks.
    const old = await openAsSchema(name, 7);
    const now = Date.now() - 60_000;
    const rec = (seq: number, extra: Partial<TaskRecord>): TaskRecord => ({
      seq, id: `t${seq}`, name: 'inbox-op', payload: { n: seq }, status: 'pending', attempts: 0, createdAt: now + seq, updatedAt: now + seq, nextRunAt: now + seq,
      idempotencyKey: `key-${seq}`, rev: 1, priority: 5, owner: 'ada', ...extra,
    } as TaskRecord);
    const records = [
      rec(1, { orderKey: 'cart', lane: 'ada\u0000cart', due: now + 1 }),
      rec(2, { orderKey: 'cart', lane: 'ada\u0000cart' }),
      rec(3, { status: 'succeeded', result: 3, purgeAt: now + 99_999, dependents: true }),
      rec(4, { after: ['t3'], parentResults: { t3: { name: 'inbox-op', result: 3 } }, due: now + 4 }),
      rec(5, { owner: 'grace' }),
      rec(6, { status: 'failed', attempts: 5, lastError: { code: 'HTTP_500', message: 'x', permanent: false, at: now } }),
    ];
    for (const r of records) await old.put('tasks', r);
    await old.put('state', { key: 'owner', value: 'ada', at: now, version: 3 });
    old.close();

    const store = new TaskStore(name);
    const db = await store.db();
    expect(db.version).toBe(SCHEMA_VERSION);
    expect(await db.getAll('tasks')).toEqual(records);
    expect(await db.get('gate', 'owner')).toEqual({ key: 'owner', value: 'ada', at: now, version: 3 });
    expect(await db.count('inbox')).toBe(0);
    store.close();

    // A client on the new code: a plain defer is stamped with the owner the gate holds, in the inbox.
    const c = open(name);
    await c.ready;
    expect(c.owner).toBe('ada');
    const t = await c.defer(op, { n: 7 }).persisted;
    expect(t.seq).toBeGreaterThanOrEqual(INBOX_FIRST_SEQ);
    expect(t.owner).toBe('ada');
    // Everything runs as it would have: the lane in order, the child after its parent, Grace's held for her.
    await c.drain();
    expect(ran.sort((x, y) => x - y)).toEqual([1, 2, 4, 7]);
    const all = await c.query({}, { order: 'oldest' });
    expect(all.tasks.find((x) => x.id === 't5')).toMatchObject({ status: 'pending', owner: 'grace' });
    expect(all.tasks.filter((x) => x.id.startsWith('t')).map((x) => x.idempotencyKey)).toEqual(records.map((r) => r.idempotencyKey));
  });

  it('a tab on the older code is told with a coded error once the newer one upgraded; nothing it held is touched', async () => {
    const name = freshDb();
    const old = await openDB<HalfsyncSchema>(name, 7, {
      upgrade: async (d, from, _to, tx) => { for (let v = from; v < 7; v++) await MIGRATIONS[v]!(d, tx); },
      // What the older code does when a newer tab upgrades: let go of its connection.
      blocking: () => old.close(),
    });
    await old.put('tasks', { seq: 1, id: 'kept', name: 'inbox-op', payload: { n: 1 }, status: 'pending', attempts: 0, createdAt: 1, updatedAt: 1, nextRunAt: 1, due: 1, idempotencyKey: 'kept', rev: 1, priority: 5 } as TaskRecord);
    const store = new TaskStore(name);
    expect((await store.db()).version).toBe(SCHEMA_VERSION);
    // The older tab opens its version again: the browser refuses, and the client says what to do.
    await expect(openDB(name, 7)).rejects.toMatchObject({ name: 'VersionError' });
    store.close();
    const newer = await openDB(name, SCHEMA_VERSION + 1);
    newer.close();
    const behind = new TaskStore(name);
    await expect(behind.db()).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE', message: expect.stringMatching(/newer version of this app; reload/) });
    const check = await openDB<HalfsyncSchema>(name);
    expect((await check.getAll('tasks')).map((r) => r.id)).toEqual(['kept']);
    check.close();
  });
});
