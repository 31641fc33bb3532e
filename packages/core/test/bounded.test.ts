// Guarantee 11, "Bounded": a tab's time and memory follow the work in flight, not the history kept.
// Finished tasks are paged from indexes; changes cost what changed; one notification per tick.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { clientPool, freshDb } from './helpers.js';
import type { HalfsyncError} from '../src/index.js';
import { defineTask, DeferredActionObserver, PermanentError, type Task } from '../src/index.js';
import { TaskStore, inTx } from '../src/store/store.js';
import type { NewTaskRecord, TaskRecord } from '../src/record.js';
import { loadAlive } from '../src/store/load.js';
import { INBOX_FIRST_SEQ } from '../src/store/schema.js';

const echo = defineTask('echo', { run: (p: { n: number }) => p.n });
const other = defineTask('other', { run: () => 'x' });
const refuse = defineTask('refuse', { run: (_: { n: number }) => { throw new PermanentError('no'); } });
const tasks = [echo, other, refuse];

const { open, closeAll } = clientPool(tasks);
afterEach(() => { closeAll(); vi.restoreAllMocks(); });
const tick = () => new Promise((r) => setTimeout(r, 0));
const until = async (check: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 500; i++) { if (check()) return; await new Promise((r) => setTimeout(r, 5)); }
  throw new Error(`timed out waiting for ${what}`);
};

/** Writes `n` records of one status straight into the store, createdAt 1, 2, 3... */
async function seed(db: string, n: number, status: Task['status'], name = 'echo', at0 = 0): Promise<void> {
  const store = new TaskStore(db);
  const records: NewTaskRecord[] = Array.from({ length: n }, (_, i) => {
    const at = at0 + i + 1;
    const base: NewTaskRecord = { id: `${status}-${name}-${at}`, name, payload: { n: at }, status, attempts: 1, createdAt: at, updatedAt: at, nextRunAt: at, idempotencyKey: `k-${status}-${at}`, rev: 2 };
    if (status === 'pending') return { ...base, attempts: 0, nextRunAt: Date.now() + 3_600_000, due: Date.now() + 3_600_000 };
    if (status === 'succeeded' || status === 'cancelled') return { ...base, result: at, purgeAt: Date.now() + 86_400_000 };
    return base;
  });
  await store.insert(records);
  store.close();
}

describe('load what is alive, page the rest', () => {
  it('loads every pending and failed task and only the newest finished ones', async () => {
    const db = freshDb();
    await seed(db, 300, 'succeeded');
    await seed(db, 10, 'pending', 'echo', 1_000);
    await seed(db, 2, 'failed', 'refuse', 2_000);
    const c = open(db, { recentFinished: 20, autoRun: false });
    await c.ready;
    const snap = c.getSnapshot();
    expect(snap.filter((t) => t.status === 'pending')).toHaveLength(10);
    expect(snap.filter((t) => t.status === 'failed')).toHaveLength(2);
    const finished = snap.filter((t) => t.status === 'succeeded');
    expect(finished.map((t) => t.createdAt)).toEqual(Array.from({ length: 20 }, (_, i) => 281 + i));
    expect(snap.map((t) => t.seq)).toEqual([...snap.map((t) => t.seq)].sort((a, b) => a! - b!));
  });

  it('reads the newest finished tasks across statuses by (defer time, key), those deferred in one millisecond included, and skips what cannot be read', async () => {
    const db = freshDb();
    // Three statuses over the same times, with ties: eight succeeded in each millisecond from 1 to
    // 30, five cancelled at 29, 30 and 31, three superseded at 30. Fewer than asked in two statuses.
    const store = new TaskStore(db);
    const at = (status: Task['status'], t: number, k: number): NewTaskRecord => ({
      id: `${status}-${t}-${k}`, name: 'echo', payload: { n: t }, status, attempts: 1, createdAt: t, updatedAt: t, nextRunAt: t, idempotencyKey: `k-${status}-${t}-${k}`, rev: 2,
    });
    const records: NewTaskRecord[] = [];
    for (let t = 1; t <= 30; t++) for (let k = 0; k < 8; k++) records.push(at('succeeded', t, k));
    for (const t of [29, 30, 31]) for (let k = 0; k < 5; k++) records.push(at('cancelled', t, k));
    for (let k = 0; k < 3; k++) records.push(at('superseded', 30, k));
    // A record that cannot be read among the newest: passed over, not counted in the window.
    records.push({ ...at('succeeded', 31, 9), name: 42 } as unknown as NewTaskRecord);
    const d = await store.db();
    const tx = d.transaction('tasks', 'readwrite');
    for (const r of records) void tx.store.put(r as TaskRecord);
    await tx.done;
    const all = (await d.getAll('tasks')).filter((r) => typeof r.name === 'string');
    const newest = (n: number) => [...all].sort((a, b) => b.createdAt - a.createdAt || b.seq - a.seq).slice(0, n).map((r) => r.id).sort();
    for (const recent of [1, 4, 20, 37, 500]) {
      const { records: got } = await loadAlive(d, recent);
      expect(got.map((r) => r.id).sort()).toEqual(newest(recent));
      expect(got.map((r) => r.seq)).toEqual(got.map((r) => r.seq).sort((a, b) => a - b));
    }
    store.close();
  });

  it('fills the window from the inbox past another user\'s records, a batch at a time, and says when the user\'s work goes beyond it', async () => {
    const db = freshDb();
    const store = new TaskStore(db);
    const d = await store.db();
    // 300 of Bob's, then 800 alternating: 400 of Alice's among them, past several batches of the read.
    const tx = d.transaction('inbox', 'readwrite');
    for (let i = 0; i < 1_100; i++) {
      const owner = i < 300 || i % 2 === 0 ? 'bob' : 'alice';
      const r: TaskRecord = { seq: INBOX_FIRST_SEQ + i, id: `in-${i}`, name: 'echo', payload: { n: i }, status: 'pending', attempts: 0, createdAt: i, updatedAt: i, nextRunAt: i, due: i, idempotencyKey: `in-${i}`, rev: 1, priority: 0, owner };
      void tx.store.put(r);
    }
    await tx.done;
    const alice = { owner: 'alice' };
    const aliceSeqs = Array.from({ length: 1_100 }, (_, i) => i).filter((i) => i >= 300 && i % 2 === 1).map((i) => INBOX_FIRST_SEQ + i);
    const some = await loadAlive(d, 0, 150, alice);
    expect(some.records.map((r) => r.seq)).toEqual(aliceSeqs.slice(0, 150));
    expect(some.pendingBeyond).toBe(true);
    const exactly = await loadAlive(d, 0, 400, alice);
    expect(exactly.records.map((r) => r.seq)).toEqual(aliceSeqs);
    expect(exactly.pendingBeyond).toBe(false);
    const unbounded = await loadAlive(d, 0, Infinity, alice);
    expect(unbounded.records).toHaveLength(400);
    expect(unbounded.pendingBeyond).toBe(false);
    store.close();
  });

  it('another user\'s queue costs a tab nothing: signed in, its own pending work is read through its index; signed out, by key', async () => {
    const db = freshDb();
    const store = new TaskStore(db);
    const d = await store.db();
    // 3,000 of Bob's pending tasks (held for him), the oldest; then 30 of Alice's and 30 deferred signed out, interleaved.
    const pending = (k: number, owner: string | undefined): TaskRecord => ({
      id: `p-${k}`, name: 'echo', payload: { n: k }, status: 'pending', attempts: 0, createdAt: k, updatedAt: k, nextRunAt: k, idempotencyKey: `p-${k}`, rev: 1, priority: 5,
      ...(owner === undefined ? {} : { owner }),
    } as TaskRecord);
    const tx = d.transaction('tasks', 'readwrite');
    for (let k = 0; k < 3_000; k++) void tx.store.put(pending(k, 'bob'));
    for (let k = 3_000; k < 3_060; k++) void tx.store.put(pending(k, k % 2 === 0 ? 'alice' : undefined));
    await tx.done;
    // Count the records of Bob's read (the fake IndexedDB clones each value it hands out).
    const original = globalThis.structuredClone;
    const read = { bob: 0 };
    vi.spyOn(globalThis, 'structuredClone').mockImplementation(<T>(value: T, options?: StructuredSerializeOptions): T => {
      if ((value as { owner?: unknown } | null)?.owner === 'bob') read.bob++;
      return original(value, options);
    });
    const alice = await loadAlive(d, 0, 20, { owner: 'alice' });
    expect(alice.records.map((r) => r.createdAt)).toEqual(Array.from({ length: 20 }, (_, i) => 3_000 + 2 * i));
    expect(alice.pendingBeyond).toBe(true);
    const signedOut = await loadAlive(d, 0, 20, { owner: undefined });
    expect(signedOut.records.map((r) => r.createdAt)).toEqual(Array.from({ length: 20 }, (_, i) => 3_001 + 2 * i));
    expect(signedOut.pendingBeyond).toBe(true);
    const all = await loadAlive(d, 0, 100, { owner: undefined });
    expect(all.records).toHaveLength(30);
    expect(all.pendingBeyond).toBe(false);
    const carol = await loadAlive(d, 0, 20, { owner: 'carol' });
    expect(carol.records).toHaveLength(0);
    expect(carol.pendingBeyond).toBe(false);
    // Signed out with none of its own pending work: the counts say so.
    const bobOnly = new TaskStore(freshDb());
    const d2 = await bobOnly.db();
    const before = read.bob;
    const tx2 = d2.transaction('tasks', 'readwrite');
    for (let k = 0; k < 3_000; k++) void tx2.store.put(pending(k, 'bob'));
    await tx2.done;
    read.bob = before; // writes clone too: not counted
    const none = await loadAlive(d2, 0, 20, { owner: undefined });
    expect(none.records).toHaveLength(0);
    expect(none.pendingBeyond).toBe(false);
    // And with work deferred signed out among Bob's, neither the oldest nor the newest: found by key.
    const tx3 = d2.transaction('tasks', 'readwrite');
    for (let k = 0; k < 25; k++) void tx3.store.put(pending(500.5 + 3 * k, undefined));
    await tx3.done;
    const early = await loadAlive(d2, 0, 20, { owner: undefined });
    expect(early.records.map((r) => r.createdAt)).toEqual(Array.from({ length: 20 }, (_, i) => 500.5 + 3 * i));
    expect(early.pendingBeyond).toBe(true);
    bobOnly.close();
    // Signed in, none of Bob's; signed out, his in the first page and among the newest, not all 3,000.
    expect(read.bob).toBeLessThan(500);
    vi.restoreAllMocks();
    // A tab that signs Alice in holds her work (the window, and what her sign-in changed), none of Bob's.
    const c = open(db, { pendingWindow: 20, autoRun: false });
    await c.ready;
    await c.signIn('alice');
    await until(() => c.getSnapshot().length >= 20, 'the window of Alice\'s work');
    expect(c.getSnapshot().every((t) => t.owner === 'alice')).toBe(true);
    store.close();
  });

  it('holds a window of the oldest pending tasks and every lane\'s head; the rest stays in the store, counted, and fills the window as tasks leave it', async () => {
    const db = freshDb();
    await seed(db, 300, 'pending', 'echo', 1_000);
    const writer = open(db, { autoRun: false });
    await writer.ready;
    // The newest pending task heads a lane of its own: beyond the window by age, held all the same.
    const late = await writer.defer(echo, { n: -1 }, { orderKey: 'late-lane', delay: 3_600_000 }).persisted;
    writer.close();
    const c = open(db, { pendingWindow: 50, autoRun: false });
    await c.ready;
    const pending = () => c.getSnapshot().filter((t) => t.status === 'pending');
    expect(pending()).toHaveLength(51);
    expect(pending().slice(0, 50).map((t) => t.createdAt)).toEqual(Array.from({ length: 50 }, (_, i) => 1_001 + i));
    expect(c.get(late.id)?.orderKey).toBe('late-lane');
    expect(await c.count({ status: 'pending' })).toBe(301);
    const page = await c.query({ status: 'pending' }, { order: 'oldest', limit: 100, cursor: undefined });
    expect(page.tasks).toHaveLength(100);
    // Thirty of the window leave (cancelled): below half of it, the tab reads the window again.
    for (const t of pending().slice(0, 30)) await c.cancel(t.id);
    await until(() => pending().some((t) => t.createdAt > 1_050 && t.orderKey === undefined), 'the window to fill up again');
    // What it holds is the oldest pending work in the store, with no gap.
    const held = pending().filter((t) => t.orderKey === undefined).map((t) => t.createdAt);
    expect(held.length).toBeGreaterThanOrEqual(25);
    expect(held).toEqual(Array.from({ length: held.length }, (_, i) => 1_031 + i));
  });

  it('fills the window again as the tasks it read leave, whatever new defers the tab holds meanwhile', async () => {
    const db = freshDb();
    await seed(db, 300, 'pending', 'echo', 1_000);
    const c = open(db, { pendingWindow: 50, autoRun: false });
    await c.ready;
    const first = c.getSnapshot().filter((t) => t.status === 'pending');
    // Forty new defers: pending, held, but not what the window read.
    await Promise.all(Array.from({ length: 40 }, (_, i) => c.defer(echo, { n: i }, { delay: 3_600_000 }).persisted));
    for (const t of first.slice(0, 30)) await c.cancel(t.id);
    await until(() => c.getSnapshot().some((t) => t.status === 'pending' && t.createdAt > 1_050 && t.createdAt < 2_000), 'the window to read past its first 50');
  });

  it('fills the window with the pending work of the user signed in, past another user\'s', async () => {
    const db = freshDb();
    const setup = open(db, { autoRun: false });
    await setup.ready;
    await setup.signIn('bob');
    await Promise.all(Array.from({ length: 80 }, (_, i) => setup.defer(echo, { n: i }, { delay: 3_600_000 }).persisted));
    await setup.signIn('alice');
    await Promise.all(Array.from({ length: 10 }, (_, i) => setup.defer(echo, { n: 100 + i }, { delay: 3_600_000 }).persisted));
    setup.close();
    const c = open(db, { pendingWindow: 20, autoRun: false });
    await c.ready;
    const mine = c.getSnapshot().filter((t) => t.status === 'pending');
    expect(mine).toHaveLength(10);
    expect(mine.every((t) => t.owner === 'alice')).toBe(true);
  });

  it('refuses a pendingWindow that is not a positive integer', () => {
    expect(() => open(freshDb(), { pendingWindow: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('pendingWindow') }));
  });

  it('pages finished tasks newest first with a cursor, by status, task, order key and time, and counts from indexes', async () => {
    const db = freshDb();
    await seed(db, 120, 'succeeded');
    await seed(db, 30, 'succeeded', 'other', 500);
    await seed(db, 5, 'cancelled', 'echo', 900);
    const c = open(db, { recentFinished: 0, autoRun: false });
    await c.ready;
    expect(c.getSnapshot()).toHaveLength(0);
    const seen: number[] = [];
    let page = await c.query({ task: echo, status: 'succeeded' }, { limit: 50 });
    for (;;) {
      seen.push(...page.tasks.map((t) => t.createdAt));
      if (!page.cursor) break;
      page = await c.query({ task: echo, status: 'succeeded' }, { limit: 50, cursor: page.cursor });
    }
    expect(seen).toEqual(Array.from({ length: 120 }, (_, i) => 120 - i));
    const oldest = await c.query({ status: ['succeeded', 'cancelled'] }, { order: 'oldest', limit: 3 });
    expect(oldest.tasks.map((t) => t.createdAt)).toEqual([1, 2, 3]);
    const window = await c.query({ since: 510, until: 520 }, { limit: 100 });
    expect(window.tasks.map((t) => t.createdAt)).toEqual([519, 518, 517, 516, 515, 514, 513, 512, 511, 510]);
    expect(window.cursor).toBeUndefined();
    expect(await c.count({ status: 'succeeded' })).toBe(150);
    expect(await c.count({ task: 'other' })).toBe(30);
    expect(await c.count({ task: echo, status: 'cancelled' })).toBe(5);
    expect(await c.count()).toBe(155);
    await expect(c.query({ status: 'done' as never })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(c.query({}, { cursor: 'nonsense' })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
    await expect(c.query({}, { limit: 5_000 })).rejects.toMatchObject({ code: 'INVALID_OPTIONS' });
  });

  it('keeps the window of finished tasks in memory as tasks finish, and the older ones stay readable', async () => {
    const c = open(freshDb(), { recentFinished: 5 });
    const handles = Array.from({ length: 12 }, (_, i) => c.defer(echo, { n: i }));
    await Promise.all(handles.map((h) => h.result));
    await until(() => c.getSnapshot().length === 5, 'the window to hold five');
    expect(c.getSnapshot().map((t) => t.payload)).toEqual([7, 8, 9, 10, 11].map((n) => ({ n })));
    expect(await c.count({ status: 'succeeded' })).toBe(12);
    // A result asked for after its task left memory comes from the store.
    expect(await c.result(handles[0]!.id)).toBe(0);
  });
});

describe('result(): every waiter settles', () => {
  it('rejects TASK_NOT_FOUND for an id that is not stored, asked before the client loaded, and settles both of two callers', async () => {
    const c = open(freshDb());
    const first = c.result('no-such-task');
    const second = c.result('no-such-task');
    await expect(first).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
    await expect(second).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
  });

  it('resolves for a finished task outside the window, asked before the client loaded', async () => {
    const db = freshDb();
    await seed(db, 50, 'succeeded');
    const c = open(db, { recentFinished: 1 });
    expect(await c.result('succeeded-echo-3')).toBe(3);
  });
});

describe('an incremental snapshot, one notification per tick', () => {
  it('notifies once for a burst of 1,000 defers in one tick, and the snapshot holds them all', async () => {
    const c = open(freshDb(), { autoRun: false });
    await c.ready;
    let notified = 0;
    c.subscribe(() => { notified++; });
    for (let i = 0; i < 1_000; i++) c.defer(echo, { n: i });
    expect(c.getSnapshot()).toHaveLength(1_000);
    await Promise.resolve();
    await Promise.resolve();
    expect(notified).toBe(1);
  });

  it('notifies a slice only when a task of the slice changes, and keeps its array until then', async () => {
    const c = open(freshDb(), { autoRun: false });
    await c.ready;
    const echoes = c.select({ task: 'echo' });
    const failed = c.select({ status: 'failed' });
    const calls = { echoes: 0, failed: 0 };
    echoes.subscribe(() => { calls.echoes++; });
    failed.subscribe(() => { calls.failed++; });
    const before = failed.getSnapshot();
    const h = c.defer(echo, { n: 1 });
    await h.persisted;
    await tick();
    expect(calls.failed).toBe(0);
    expect(failed.getSnapshot()).toBe(before);
    expect(calls.echoes).toBeGreaterThan(0);
    expect(echoes.getSnapshot().map((t) => t.id)).toEqual([h.id]);
    // A definition selects as its name does (and shares the subscribed slice).
    expect(c.select({ task: echo })).toBe(echoes);
    const r = c.defer(refuse, { n: 2 });
    await c.drain();
    await expect(r.result).rejects.toMatchObject({ code: 'TASK_FAILED' });
    await tick();
    expect(failed.getSnapshot().map((t) => t.id)).toEqual([r.id]);
    expect(calls.failed).toBe(1);
    // The same selector, subscribed, is shared.
    expect(c.select({ status: ['failed'] })).toBe(failed);
  });
});

describe('the action observer (framework-free) and the settled signal', () => {
  it('follows a new where or optimistic given through setOptions, and notifies nothing for an equivalent one passed anew', async () => {
    const c = open(freshDb(), { autoRun: false });
    await c.ready;
    const o = new DeferredActionObserver(c, echo, { where: (p: { n: number }) => p.n < 10, optimistic: (p: { n: number }) => ({ label: `#${p.n}` }) });
    let notified = 0;
    o.subscribe(() => { notified++; });
    o.run({ n: 1 });
    o.run({ n: 20 });
    await tick();
    expect(o.getSnapshot().optimistic.map((i) => i.value)).toEqual([{ label: '#1' }]);
    const before = notified;
    // The same rule, as a render passes it anew: nothing to notify, the same state.
    const state = o.getSnapshot();
    o.setOptions({ where: (p: { n: number }) => p.n < 10, optimistic: (p: { n: number }) => ({ label: `#${p.n}` }) });
    expect(notified).toBe(before);
    expect(o.getSnapshot()).toBe(state);
    o.setOptions({ where: (p: { n: number }) => p.n >= 10, optimistic: (p: { n: number }) => ({ label: `#${p.n}` }) });
    expect(notified).toBe(before + 1);
    expect(o.getSnapshot().optimistic.map((i) => i.value)).toEqual([{ label: '#20' }]);
    o.setOptions({ where: (p: { n: number }) => p.n >= 10, optimistic: (p: { n: number }) => ({ label: `n=${p.n}` }) });
    expect(o.getSnapshot().optimistic.map((i) => i.value)).toEqual([{ label: 'n=20' }]);
  });

  it('reports an exception thrown by the app\'s onSuccess, onError or onSettled instead of swallowing it, and still calls the next callback', async () => {
    const c = open(freshDb(), { autoRun: false });
    await c.ready;
    const reported: unknown[] = [];
    const g = globalThis as { reportError?: (e: unknown) => void };
    const real = g.reportError;
    g.reportError = (e) => { reported.push(e); };
    try {
      const settled: string[] = [];
      const ok = new DeferredActionObserver(c, echo, { onSuccess: () => { throw new Error('onSuccess broke'); }, onSettled: (id) => { settled.push(id); throw new Error('onSettled broke'); } });
      const bad = new DeferredActionObserver(c, refuse, { onError: () => { throw new Error('onError broke'); } });
      const a = ok.run({ n: 1 });
      bad.run({ n: 2 });
      await c.drain();
      await tick();
      await tick();
      expect(reported.map((e) => (e as Error).message).sort()).toEqual(['onError broke', 'onSettled broke', 'onSuccess broke']);
      expect(settled).toEqual([a.ok ? a.id : '']);
    } finally {
      g.reportError = real;
    }
  });

  it('shows optimistic items, marks or drops failures, and keeps succeeded ones only when asked', async () => {
    const c = open(freshDb(), { autoRun: false });
    await c.ready;
    const mark = new DeferredActionObserver(c, refuse, { optimistic: (p) => `#${p.n}` });
    const drop = new DeferredActionObserver(c, refuse, { rollback: 'drop' });
    const keep = new DeferredActionObserver(c, echo, { keepSucceeded: true });
    const plain = new DeferredActionObserver(c, echo, { prepare: (s: string) => { if (!s) throw new Error('empty'); return { n: s.length }; } });
    for (const o of [mark, drop, keep, plain]) o.subscribe(() => {});
    expect(plain.run('')).toMatchObject({ ok: false });
    const ran = plain.run('abc');
    expect(ran).toMatchObject({ ok: true, payload: { n: 3 } });
    mark.run({ n: 9 });
    expect(mark.getSnapshot().optimistic.map((i) => [i.value, i.status])).toEqual([['#9', 'pending']]);
    expect(plain.getSnapshot()).toMatchObject({ pendingCount: 1 });
    await c.drain();
    await tick();
    expect(mark.getSnapshot().optimistic.map((i) => [i.value, i.status])).toEqual([['#9', 'failed']]);
    expect(drop.getSnapshot().optimistic).toEqual([]);
    expect(drop.getSnapshot().failed).toHaveLength(1);
    expect(plain.getSnapshot().optimistic).toEqual([]);
    expect(keep.getSnapshot().optimistic.map((i) => i.status)).toEqual(['succeeded']);
    // The same state object until something of the action changes.
    expect(plain.getSnapshot()).toBe(plain.getSnapshot());
  });

  it('tells every tab when a task settles, wherever it ran', async () => {
    const db = freshDb();
    const a = open(db);
    const b = open(db, { autoRun: false });
    await Promise.all([a.ready, b.ready]);
    const heard: string[] = [];
    const observer = new DeferredActionObserver(b, echo, { onSettledAnywhere: (t) => heard.push(`${t.id}:${t.status}`) });
    observer.subscribe(() => {});
    const h = a.defer(echo, { n: 4 });
    await h.result;
    await until(() => heard.length === 1, 'the other tab to hear of it');
    expect(heard).toEqual([`${h.id}:succeeded`]);
  });
});

describe('failures that do not vanish', () => {
  it('surfaces a bug in a transaction body as itself, not as a storage error', async () => {
    const store = new TaskStore(freshDb());
    await expect(inTx(store, 'relaxed', 'a test', async () => { throw new TypeError('undefined is not a function'); })).rejects.toBeInstanceOf(TypeError);
    await expect(inTx(store, 'relaxed', 'a test', async () => { throw Object.assign(new Error('x'), { name: 'UnknownError' }); })).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    store.close();
  });

  it('fails an open blocked by another connection of the old version with STORAGE_BLOCKED instead of hanging, and opens once it is gone', async () => {
    const name = freshDb();
    // An old tab: version 1, and no versionchange handler, so it never lets go.
    const old = await new Promise<IDBDatabase>((resolve, reject) => {
      const req = indexedDB.open(name, 1);
      req.onupgradeneeded = () => {
        const tasks = req.result.createObjectStore('tasks', { keyPath: 'seq', autoIncrement: true });
        tasks.createIndex('id', 'id', { unique: true });
        tasks.createIndex('status', 'status');
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const store = new TaskStore(name, 100);
    const error = await store.db().then(() => undefined, (e: unknown) => e as HalfsyncError);
    expect(error).toMatchObject({ code: 'STORAGE_BLOCKED' });
    old.close();
    await until(() => true, 'nothing');
    const db = await store.db();
    expect(db.version).toBeGreaterThan(1);
    store.close();
  });

  it('reports a failed page-runner drain in lastError, tries again, and clears it when a drain succeeds', async () => {
    const c = open(freshDb());
    await c.ready;
    const real = TaskStore.prototype.tx;
    let failures = 1;
    vi.spyOn(TaskStore.prototype, 'tx').mockImplementation(function (this: TaskStore, durability) {
      if (durability === 'relaxed' && failures-- > 0) return Promise.reject(Object.assign(new Error('disk'), { name: 'UnknownError' }));
      return real.call(this, durability);
    });
    const h = c.defer(echo, { n: 5 });
    await until(() => c.lastError !== undefined, 'the failure to be reported');
    expect(c.lastError).toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(await h.result).toBe(5);
    await until(() => c.lastError === undefined, 'the error to clear');
  });
});
