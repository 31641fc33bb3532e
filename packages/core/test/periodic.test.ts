// Periodic tasks on the manual clock: one run per period across runners and restarts, a missed
// week made one run, the daily window, and what a defer of one is told.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { definePeriodicTask, HalfsyncError, periodic, type PeriodicTaskOptions, type Task } from '../src/index.js';
import { inWindow, nextInWindow } from '../src/periodic.js';
import { createTestClient, type TestClient } from '../src/testing/node.js';

const MIN = 60_000;
const DAY = 86_400_000;
const open: TestClient[] = [];
afterEach(() => { open.splice(0).forEach((t) => t.close()); });

/** A periodic task counting its runs, with the times they started. */
function counter(name: string, options: Omit<Partial<PeriodicTaskOptions<undefined, number>>, 'run'> = {}) {
  const runs: number[] = [];
  let clock = () => 0;
  const task = definePeriodicTask<undefined, number>(name, { every: '15m', ...options, run: () => { runs.push(clock()); return runs.length; } });
  return { task, runs, use: (t: TestClient) => { clock = t.clock.now; return t; } };
}

const make = (tasks: Parameters<typeof createTestClient>[0]['tasks'], dbName?: string, startAt?: number) => {
  const t = createTestClient({ tasks, ...(dbName ? { dbName } : {}), ...(startAt !== undefined ? { startAt } : {}) });
  open.push(t);
  return t;
};

const alive = (t: TestClient, name: string): Task[] => t.client.getSnapshot().filter((x) => x.name === name && (x.status === 'pending' || x.status === 'running'));

describe('periodic tasks', () => {
  it('runs at once, then every period after the last run ended; nothing runs between', async () => {
    const c = counter('every-15m');
    const t = c.use(make([c.task]));
    const start = t.clock.now();
    await t.drain();
    expect(c.runs).toEqual([start]);
    const [next] = alive(t, 'every-15m');
    expect(next).toMatchObject({ status: 'pending', every: 15 * MIN, nextRunAt: start + 15 * MIN });
    t.clock.advance(15 * MIN - 1);
    await t.drain();
    expect(c.runs).toHaveLength(1);
    t.clock.advance(1);
    const summary = await t.drain();
    expect(c.runs).toEqual([start, start + 15 * MIN]);
    expect(summary.nextDueAt).toBe(start + 30 * MIN);
    expect(alive(t, 'every-15m')).toHaveLength(1);
  });

  it('makes a missed week one run, then goes on from it', async () => {
    const c = counter('missed-week');
    const t = c.use(make([c.task]));
    await t.drain();
    t.clock.advance(7 * DAY);
    await t.drain();
    await t.drain();
    expect(c.runs).toHaveLength(2);
    const after = t.clock.now();
    expect(alive(t, 'missed-week')[0]?.nextRunAt).toBe(after + 15 * MIN);
    // The week-old run did not expire for its age (a plain task past maxAgeMs would): it ran.
    expect(t.client.getSnapshot().filter((x) => x.status === 'failed')).toEqual([]);
  });

  it('survives a restart: the runner started after it keeps the schedule, with no second run in the period', async () => {
    const db = `periodic-restart-${Math.random().toString(36).slice(2)}`;
    const c = counter('restarted');
    const first = c.use(make([c.task], db));
    await first.drain();
    const start = first.clock.now();
    first.close();
    // Five minutes later, a new page (or worker) starts on the same database.
    const second = c.use(make([c.task], db, start + 5 * MIN));
    await second.drain();
    expect(c.runs).toEqual([start]);
    second.clock.set(start + 15 * MIN);
    await second.drain();
    expect(c.runs).toEqual([start, start + 15 * MIN]);
    expect(alive(second, 'restarted')).toHaveLength(1);
  });

  it('runs once per period with two runners on one database draining at the same moments', async () => {
    const db = `periodic-two-${Math.random().toString(36).slice(2)}`;
    const c = counter('shared');
    const a = c.use(make([c.task], db));
    const b = make([c.task], db, a.clock.now());
    for (let i = 0; i < 8; i++) {
      await Promise.all([a.drain(), b.drain()]);
      a.clock.advance(5 * MIN);
      b.clock.set(a.clock.now());
    }
    // 40 minutes: runs at 0, 15 and 30.
    expect(c.runs).toHaveLength(3);
    for (let i = 1; i < c.runs.length; i++) expect(c.runs[i]! - c.runs[i - 1]!).toBeGreaterThanOrEqual(15 * MIN);
    await a.client.drain();
    const stored = await a.client.query({ task: 'shared' });
    expect(stored.tasks.filter((x) => x.status === 'pending')).toHaveLength(1);
  });

  it('starts runs inside its daily window only, the first at the next opening', async () => {
    const morning = new Date(2026, 11, 7, 12, 0).getTime(); // noon, local time
    const c = counter('window', { every: '1d', window: { from: '05:00', to: '09:00' } });
    const t = c.use(make([c.task], undefined, morning));
    await t.drain();
    expect(c.runs).toEqual([]);
    const opening = new Date(2026, 11, 8, 5, 0).getTime();
    expect(alive(t, 'window')[0]?.nextRunAt).toBe(opening);
    // The device sleeps through the next window: due at 05:00, it wakes at 10:00 and waits for the next.
    t.clock.set(new Date(2026, 11, 8, 10, 0).getTime());
    await t.drain();
    expect(c.runs).toEqual([]);
    expect(alive(t, 'window')[0]?.nextRunAt).toBe(new Date(2026, 11, 9, 5, 0).getTime());
    t.clock.set(new Date(2026, 11, 9, 6, 30).getTime());
    await t.drain();
    expect(c.runs).toEqual([new Date(2026, 11, 9, 6, 30).getTime()]);
    // The next one the next day, at the window's opening: a daily run never drifts out of its window.
    expect(alive(t, 'window')[0]?.nextRunAt).toBe(new Date(2026, 11, 10, 5, 0).getTime());
    // Run late in the window (08:55), the next is still the next morning's opening, not 08:55 plus a day's drift.
    t.clock.set(new Date(2026, 11, 10, 8, 55).getTime());
    await t.drain();
    expect(c.runs).toHaveLength(2);
    expect(alive(t, 'window')[0]?.nextRunAt).toBe(new Date(2026, 11, 11, 5, 0).getTime());
  });

  it('a window across midnight counts its day from its opening', () => {
    const task = definePeriodicTask('night', { every: '1d', window: { from: '22:00', to: '02:00' }, run: () => undefined });
    // A run at 01:00 on the 2nd belongs to the window that opened at 22:00 on the 1st: the next opens at 22:00 on the 2nd.
    const ranAt = new Date(2026, 0, 2, 1, 0).getTime();
    expect(task.schedule.nextAfter(ranAt, ranAt)).toBe(new Date(2026, 0, 2, 22, 0).getTime());
    // A run that started at 01:59 and ended at 02:01, past the window's end, still belongs to that night.
    const late = new Date(2026, 0, 2, 2, 1).getTime();
    expect(task.schedule.nextAfter(late, late)).toBe(new Date(2026, 0, 2, 22, 0).getTime());
  });

  it('a window across midnight', () => {
    const w = { from: 22 * 60, to: 2 * 60 };
    expect(inWindow(new Date(2026, 0, 1, 23, 0).getTime(), w)).toBe(true);
    expect(inWindow(new Date(2026, 0, 1, 1, 59).getTime(), w)).toBe(true);
    expect(inWindow(new Date(2026, 0, 1, 2, 0).getTime(), w)).toBe(false);
    expect(nextInWindow(new Date(2026, 0, 1, 12, 0).getTime(), w)).toBe(new Date(2026, 0, 1, 22, 0).getTime());
    expect(nextInWindow(new Date(2026, 0, 1, 23, 30).getTime(), w)).toBe(new Date(2026, 0, 1, 23, 30).getTime());
  });

  it('a run that keeps failing gives way after its attempts; the next period runs anyway', async () => {
    let calls = 0;
    const task = definePeriodicTask('flaky-periodic', { every: '1h', retry: { baseDelayMs: 1_000, maxDelayMs: 1_000 }, run: () => { calls++; throw new Error('down'); } });
    const t = make([task]);
    const start = t.clock.now();
    for (let i = 0; i < 6; i++) { await t.drain(); t.clock.advance(1_000); }
    expect(calls).toBe(5);
    const failed = t.client.getSnapshot().find((x) => x.name === 'flaky-periodic' && x.status === 'failed');
    expect(failed).toMatchObject({ attempts: 5, lastError: { message: 'down' } });
    const [next] = alive(t, 'flaky-periodic');
    expect(next!.nextRunAt).toBe(failed!.updatedAt + 60 * MIN);
    expect(next!.nextRunAt - start).toBeGreaterThanOrEqual(60 * MIN);
  });

  it('keeps one failed run per schedule through an outage, and refuses to retry it (its schedule made the next)', async () => {
    const task = definePeriodicTask('outage-periodic', { every: '15m', retry: { maxAttempts: 1 }, run: () => { throw new Error('down'); } });
    const t = make([task]);
    for (let i = 0; i < 8; i++) { await t.drain(); t.clock.advance(15 * MIN); }
    const failed = t.client.getSnapshot().filter((x) => x.name === 'outage-periodic' && x.status === 'failed');
    expect(failed).toHaveLength(1);
    expect(await t.client.count({ task: 'outage-periodic', status: 'failed' })).toBe(1);
    await expect(t.client.retry(failed[0]!.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION', message: expect.stringContaining('periodic') });
    expect(alive(t, 'outage-periodic')).toHaveLength(1);
  });

  it('another tab sees each run the runner makes, the first one (made and run in one step) too', async () => {
    const db = `periodic-tabs-${Math.random().toString(36).slice(2)}`;
    const c = counter('seen-by-tabs');
    const runner = c.use(make([c.task], db));
    const watcher = make([c.task], db, runner.clock.now());
    await watcher.client.ready;
    await runner.drain();
    expect(c.runs).toHaveLength(1);
    const seen = () => watcher.client.getSnapshot().filter((x) => x.name === 'seen-by-tabs').map((x) => x.status).sort();
    for (let i = 0; i < 200 && seen().join() !== 'pending,succeeded'; i++) await new Promise((r) => setTimeout(r, 5));
    expect(seen()).toEqual(['pending', 'succeeded']);
  });

  it('a cancelled run is replaced by the next period\'s', async () => {
    const c = counter('cancelled-run', { every: '1h' });
    const t = c.use(make([c.task]));
    await t.drain();
    const [waiting] = alive(t, 'cancelled-run');
    await t.client.cancel(waiting!.id);
    await t.drain();
    const [next] = alive(t, 'cancelled-run');
    expect(next!.id).not.toBe(waiting!.id);
    expect(next!.nextRunAt).toBe(t.clock.now() + 60 * MIN);
  });

  it('keeps one schedule per user: each runs as its owner, and another user\'s run waits for them', async () => {
    const owners: Array<string | undefined> = [];
    const task = definePeriodicTask('per-user', { every: '1h', run: (_: undefined, ctx) => { owners.push(ctx.owner); } });
    const t = make([task]);
    await t.client.signIn('alice');
    await t.drain();
    await t.client.signIn('bob');
    await t.drain();
    expect(owners).toEqual(['alice', 'bob']);
    t.clock.advance(60 * MIN);
    await t.drain();
    expect(owners).toEqual(['alice', 'bob', 'bob']);
    await t.client.signIn('alice');
    await t.drain();
    expect(owners).toEqual(['alice', 'bob', 'bob', 'alice']);
  });

  it('is never deferred: PERIODIC_TASK, nothing stored', async () => {
    const c = counter('not-deferred');
    const t = make([c.task]);
    await t.client.ready;
    let caught: unknown;
    // @ts-expect-error a periodic definition is not a DeferrableTask
    try { t.client.defer(c.task, undefined); } catch (error) { caught = error; }
    expect(caught).toBeInstanceOf(HalfsyncError);
    expect(caught).toMatchObject({ code: 'PERIODIC_TASK', details: { task: 'not-deferred' } });
    expect(t.client.getSnapshot()).toEqual([]);
  });

  it('refuses a malformed schedule with INVALID_OPTIONS, naming the option', () => {
    const run = () => undefined;
    const bad = (options: object) => { try { definePeriodicTask('bad', { run, every: '1h', ...options }); } catch (e) { return e as HalfsyncError; } return undefined; };
    expect(bad({ every: '15 minutes' })).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('every') });
    expect(bad({ every: 500 })).toMatchObject({ code: 'INVALID_OPTIONS' });
    expect(bad({ window: { from: '25:00', to: '09:00' } })).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('window.from') });
    expect(bad({ window: { from: '09:00', to: '09:00' } })).toMatchObject({ code: 'INVALID_OPTIONS' });
    expect(bad({ input: { f: () => 1 } })).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('input') });
    expect(bad({ orderKey: 'x' })).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('orderKey') });
    expect(definePeriodicTask('good', { run, every: 90_000 }).schedule).toMatchObject({ everyMs: 90_000 });
  });
});

describe('the periodic capability', () => {
  afterEach(() => { vi.unstubAllGlobals(); });

  /** A browser whose worker registration has Periodic Background Sync, with the permission given. */
  const browser = (permission: PermissionState, periodicSync = true) => {
    const registered: Array<{ tag: string; minInterval: number }> = [];
    const registration = periodicSync ? { periodicSync: { register: async (tag: string, o: { minInterval: number }) => { registered.push({ tag, ...o }); } } } : {};
    vi.stubGlobal('navigator', {
      onLine: true,
      serviceWorker: { getRegistration: async () => registration, ready: Promise.resolve(registration) },
      permissions: { query: async () => ({ state: permission }) },
    });
    return registered;
  };

  it('registers the worker\'s tag with the shortest every as minInterval once the browser grants it, and reads the next run', async () => {
    const registered = browser('granted');
    const a = definePeriodicTask('cap-a', { every: '1h', run: () => undefined });
    const b = definePeriodicTask('cap-b', { every: '15m', run: () => undefined });
    const t = createTestClient({ tasks: [a, b], use: [periodic] });
    open.push(t as unknown as TestClient);
    expect(await t.client.periodicSync()).toEqual({ state: 'registered', minIntervalMs: 15 * MIN });
    expect(registered).toEqual([{ tag: 'halfsync', minInterval: 15 * MIN }]);
    await t.drain();
    expect(t.client.nextRun(a)).toMatchObject({ name: 'cap-a', status: 'pending', nextRunAt: t.clock.now() + 60 * MIN });
  });

  it('says not-granted, unsupported or no-periodic-tasks, and registers nothing then', async () => {
    const registered = browser('prompt');
    const a = definePeriodicTask('cap-c', { every: '1h', run: () => undefined });
    const t = createTestClient({ tasks: [a], use: [periodic] });
    open.push(t as unknown as TestClient);
    expect((await t.client.periodicSync()).state).toBe('not-granted');
    browser('granted', false);
    const u = createTestClient({ tasks: [a], use: [periodic] });
    open.push(u as unknown as TestClient);
    expect((await u.client.periodicSync()).state).toBe('unsupported');
    const plain = createTestClient({ tasks: [], use: [periodic] });
    open.push(plain as unknown as TestClient);
    expect(await plain.client.periodicSync()).toEqual({ state: 'no-periodic-tasks', minIntervalMs: undefined });
    expect(registered).toEqual([]);
  });
});
