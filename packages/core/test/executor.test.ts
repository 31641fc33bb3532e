import { describe, expect, it } from 'vitest';
import { rig } from './helpers.js';
import { defineTask } from '../src/task.js';
import { PermanentError, RetryableError } from '../src/errors.js';
import { Executor } from '../src/executor.js';
import { pump } from '../src/store/pump.js';
import { modify } from '../src/store/ops.js';
import { taskRegistry } from '../src/task.js';

const ok = defineTask('ok', { run: (p: { n: number }) => ({ doubled: p.n * 2 }) });

describe('executor: settling', () => {
  it('runs a due task and stores its result as succeeded', async () => {
    const r = rig([ok]);
    const t = await r.insert('ok', { n: 21 });
    const s = await r.executor.drain();
    expect(s).toMatchObject({ ran: 1, succeeded: 1, retried: 0, failed: 0, dueNow: 0, stopped: 'idle' });
    const done = await r.byId(t.id);
    expect(done).toMatchObject({ status: 'succeeded', result: { doubled: 42 }, attempts: 1 });
    expect(done?.lane).toBeUndefined();
  });

  it('drains one task in two steps: the claim, then the settlement that also finds nothing more', async () => {
    const r = rig([ok]);
    await r.executor.drain(); // the first drain also sweeps once
    await r.insert('ok', { n: 1 });
    let steps = 0;
    let moves = 0;
    const tx = r.store.tx.bind(r.store);
    r.store.tx = (d, scope) => { if (scope === 'working') steps++; else moves++; return tx(d, scope); };
    expect(await r.executor.drain()).toMatchObject({ ran: 1, succeeded: 1, stopped: 'idle' });
    // Both steps over the working stores alone; the task came out of the inbox in one short transaction before them.
    expect(steps).toBe(2);
    expect(moves).toBe(1);
    // A retry scheduled by the settling step is reported from that same step.
    const later = defineTask('later', { run: () => { throw new RetryableError('busy', { retryAfterMs: 5_000 }); } });
    const r2 = rig([later]);
    await r2.executor.drain();
    await r2.insert('later', {});
    expect(await r2.executor.drain()).toMatchObject({ retried: 1, nextDueAt: r2.clock.now() + 5_000 });
  });

  it('keeps a succeeded task for its retention, then purges it', async () => {
    const short = defineTask('short', { run: () => 1, retention: { finishedMs: 10_000 } });
    const r = rig([short]);
    const t = await r.insert('short', {});
    await r.executor.drain();
    r.clock.advance(9_999);
    await r.executor.drain();
    expect(await r.byId(t.id)).toBeDefined();
    r.clock.advance(2);
    expect((await r.executor.drain()).purged).toBe(1);
    expect(await r.byId(t.id)).toBeUndefined();
  });

  it('puts a retryable failure back to pending with backoff, then succeeds', async () => {
    let calls = 0;
    const flaky = defineTask('flaky', { run: () => { if (++calls < 3) throw new Error('server down'); return 'ok'; }, retry: { baseDelayMs: 1_000, maxDelayMs: 60_000 } });
    const r = rig([flaky], { random: () => 0.5 });
    const t = await r.insert('flaky', {});
    const s1 = await r.executor.drain();
    expect(s1).toMatchObject({ ran: 1, retried: 1, nextDueAt: r.clock.now() + 500 });
    let rec = await r.byId(t.id);
    expect(rec).toMatchObject({ status: 'pending', attempts: 1, nextRunAt: r.clock.now() + 500, lastError: { message: 'server down', permanent: false } });
    expect((await r.executor.drain()).ran).toBe(0); // not due yet
    r.clock.advance(500);
    await r.executor.drain();
    rec = await r.byId(t.id);
    expect(rec).toMatchObject({ status: 'pending', attempts: 2, nextRunAt: r.clock.now() + 1_000 });
    r.clock.advance(1_000);
    await r.executor.drain();
    expect(await r.byId(t.id)).toMatchObject({ status: 'succeeded', attempts: 3, result: 'ok' });
  });

  it('honours a RetryableError retry-after hint', async () => {
    const limited = defineTask('limited', { run: () => { throw new RetryableError('429', { retryAfterMs: 7_000, code: 'RATE_LIMITED' }); } });
    const r = rig([limited]);
    const t = await r.insert('limited', {});
    await r.executor.drain();
    expect(await r.byId(t.id)).toMatchObject({ nextRunAt: r.clock.now() + 7_000, lastError: { code: 'RATE_LIMITED' } });
  });

  it('fails at once on a PermanentError and keeps the task until acknowledged', async () => {
    const bad = defineTask('bad', { run: () => { throw new PermanentError('400: missing field', { code: 'BAD_REQUEST' }); } });
    const r = rig([bad]);
    const t = await r.insert('bad', {});
    expect(await r.executor.drain()).toMatchObject({ failed: 1, nextDueAt: undefined });
    r.clock.advance(365 * 86_400_000);
    await r.executor.drain();
    expect(await r.byId(t.id)).toMatchObject({ status: 'failed', attempts: 1, lastError: { code: 'BAD_REQUEST', permanent: true } });
  });

  it('fails after maxAttempts', async () => {
    const down = defineTask('down', { run: () => { throw new Error('nope'); }, retry: { maxAttempts: 2 } });
    const r = rig([down], { random: () => 0 });
    const t = await r.insert('down', {});
    await r.executor.drain();
    r.clock.advance(1);
    await r.executor.drain();
    expect(await r.byId(t.id)).toMatchObject({ status: 'failed', attempts: 2 });
  });

  it('fails a task older than its maxAge with EXPIRED instead of running it', async () => {
    let ran = false;
    const old = defineTask('old', { run: () => { ran = true; }, retention: { maxAgeMs: 1_000 } });
    const r = rig([old]);
    const t = await r.insert('old', {});
    r.clock.advance(1_001);
    await r.executor.drain();
    expect(ran).toBe(false);
    expect(await r.byId(t.id)).toMatchObject({ status: 'failed', lastError: { code: 'EXPIRED' } });
  });

  it('leaves a task it has no definition for pending, with an UNKNOWN_TASK error', async () => {
    const r = rig([ok]);
    const t = await r.insert('from-a-newer-page', {});
    const s = await r.executor.drain();
    expect(s.ran).toBe(0);
    expect(await r.byId(t.id)).toMatchObject({ status: 'pending', attempts: 0, lastError: { code: 'UNKNOWN_TASK' } });
  });

  it('stores a failure when the result cannot be stored', async () => {
    const fnResult = defineTask('fn-result', { run: () => ({ f: () => 1 }) });
    const r = rig([fnResult]);
    const t = await r.insert('fn-result', {});
    await r.executor.drain();
    expect(await r.byId(t.id)).toMatchObject({ status: 'failed', lastError: { code: 'RESULT_NOT_CLONEABLE' } });
  });

  it('gives handlers the id, attempt and idempotency key, the same on every attempt', async () => {
    const seen: Array<{ id: string; attempt: number; key: string; lastChance: boolean }> = [];
    const spy = defineTask('spy', { run: (_: unknown, ctx) => { seen.push({ id: ctx.id, attempt: ctx.attempt, key: ctx.idempotencyKey, lastChance: ctx.lastChance }); if (ctx.attempt < 2) throw new Error('again'); } });
    const r = rig([spy], { random: () => 0.5 });
    const t = await r.insert('spy', {}, { idempotencyKey: 'order-7' });
    await r.executor.drain();
    r.clock.advance(500);
    await r.executor.drain({ lastChance: true });
    expect(seen).toEqual([
      { id: t.id, attempt: 1, key: 'order-7', lastChance: false },
      { id: t.id, attempt: 2, key: 'order-7', lastChance: true },
    ]);
  });
});

describe('executor: concurrency and order keys', () => {
  it('runs at most `concurrency` handlers at once', async () => {
    let running = 0;
    let peak = 0;
    const slow = defineTask('slow', { run: async () => { running++; peak = Math.max(peak, running); await new Promise((res) => setTimeout(res, 5)); running--; } });
    const r = rig([slow], { concurrency: 3 });
    for (let i = 0; i < 12; i++) await r.insert('slow', { i });
    const s = await r.executor.drain();
    expect(s.succeeded).toBe(12);
    expect(peak).toBe(3);
  });

  it('runs tasks that share an order key one at a time, in deferral order, beside other lanes', async () => {
    const log: string[] = [];
    let inLaneA = 0;
    const step = defineTask('step', { run: async (p: { lane: string; i: number }) => {
      if (p.lane === 'a') { inLaneA++; expect(inLaneA).toBe(1); }
      await new Promise((res) => setTimeout(res, 1 + ((p.i * 7) % 4)));
      log.push(`${p.lane}${p.i}`);
      if (p.lane === 'a') inLaneA--;
    } });
    const r = rig([step], { concurrency: 4 });
    for (let i = 0; i < 6; i++) {
      await r.insert('step', { lane: 'a', i }, { orderKey: 'a' });
      await r.insert('step', { lane: 'b', i }, { orderKey: 'b' });
    }
    await r.executor.drain();
    expect(log.filter((x) => x.startsWith('a'))).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
    expect(log.filter((x) => x.startsWith('b'))).toEqual(['b0', 'b1', 'b2', 'b3', 'b4', 'b5']);
  });

  it('holds back the tasks behind a retrying head of the same order key', async () => {
    let fails = 1;
    const log: number[] = [];
    const stat = defineTask('stat', { run: (p: { i: number }) => { if (p.i === 0 && fails-- > 0) throw new Error('db busy'); log.push(p.i); } });
    const r = rig([stat], { random: () => 0.5 });
    const other = await r.insert('ok', { n: 1 });
    for (let i = 0; i < 3; i++) await r.insert('stat', { i }, { orderKey: 'stats' });
    const r2 = new Executor({ store: r.store, tasks: taskRegistry([stat, ok]), now: r.clock.now, random: () => 0.5, leaseMs: 1_000 });
    const s = await r2.drain();
    expect(log).toEqual([]);
    expect(s.nextDueAt).toBe(r.clock.now() + 500);
    expect(await r.byId(other.id)).toMatchObject({ status: 'succeeded' });
    r.clock.advance(500);
    await r2.drain();
    expect(log).toEqual([0, 1, 2]);
  });

  it('keeps a lane blocked behind a failed head until it is acknowledged, then runs the rest in order', async () => {
    const log: number[] = [];
    const stat = defineTask('stat', { run: (p: { i: number }) => { if (p.i === 0) throw new PermanentError('rejected'); log.push(p.i); } });
    const r = rig([stat]);
    const head = await r.insert('stat', { i: 0 }, { orderKey: 's' });
    await r.insert('stat', { i: 1 }, { orderKey: 's' });
    await r.insert('stat', { i: 2 }, { orderKey: 's' });
    await r.executor.drain();
    expect(log).toEqual([]);
    await modify(r.store, head.id, 'acknowledge', r.clock.now(), stat.retention);
    await r.executor.drain();
    expect(log).toEqual([1, 2]);
  });

  it('runs a lane again from a failed head that is retried', async () => {
    const log: number[] = [];
    let reject = true;
    const stat = defineTask('stat', { run: (p: { i: number }) => { if (p.i === 0 && reject) throw new PermanentError('rejected'); log.push(p.i); } });
    const r = rig([stat]);
    const head = await r.insert('stat', { i: 0 }, { orderKey: 's' });
    await r.insert('stat', { i: 1 }, { orderKey: 's' });
    await r.executor.drain();
    reject = false;
    const { changed } = await modify(r.store, head.id, 'retry', r.clock.now(), stat.retention);
    expect(changed[0]).toMatchObject({ status: 'pending', attempts: 0 });
    await r.executor.drain();
    expect(log).toEqual([0, 1]);
  });

  it('lets the next task of a lane run when a pending head is cancelled', async () => {
    const log: number[] = [];
    const stat = defineTask('stat', { run: (p: { i: number }) => { log.push(p.i); } });
    const r = rig([stat]);
    const head = await r.insert('stat', { i: 0 }, { orderKey: 's', nextRunAt: r.clock.now() + 60_000, due: r.clock.now() + 60_000 });
    await r.insert('stat', { i: 1 }, { orderKey: 's' });
    await r.executor.drain();
    expect(log).toEqual([]);
    await modify(r.store, head.id, 'cancel', r.clock.now(), stat.retention);
    await r.executor.drain();
    expect(log).toEqual([1]);
    expect(await r.byId(head.id)).toMatchObject({ status: 'cancelled' });
  });
});

describe('executor: leases', () => {
  it('takes over a task left running by a crashed runner only after its lease expires', async () => {
    let runs = 0;
    const once = defineTask('once', { run: () => { runs++; } });
    const r = rig([once], { leaseMs: 5_000 });
    const t = await r.insert('once', {});
    // A runner claims the task and dies before settling it.
    const crashed = await pump(r.store, { now: r.clock.now(), owner: 'dead', leaseMs: 5_000, limit: 1, settlements: [], skip: new Set(), policy: () => once, random: () => 0 });
    expect(crashed.claimed).toHaveLength(1);
    expect(await r.executor.drain()).toMatchObject({ ran: 0, nextDueAt: r.clock.now() + 5_000 });
    expect(runs).toBe(0);
    r.clock.advance(5_000);
    await r.executor.drain();
    expect(runs).toBe(1);
    expect(await r.byId(t.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('fails a task whose runner crashed on every attempt', async () => {
    const once = defineTask('once', { run: () => 1, retry: { maxAttempts: 2 } });
    const r = rig([once], { leaseMs: 1_000 });
    const t = await r.insert('once', {});
    for (let i = 0; i < 2; i++) {
      await pump(r.store, { now: r.clock.now(), owner: `dead-${i}`, leaseMs: 1_000, limit: 1, settlements: [], skip: new Set(), policy: () => once, random: () => 0 });
      r.clock.advance(1_000);
    }
    await r.executor.drain();
    expect(await r.byId(t.id)).toMatchObject({ status: 'failed', lastError: { code: 'CRASHED' } });
  });

  it('discards the settlement of a runner that lost its lease', async () => {
    const once = defineTask('once', { run: () => 1 });
    const r = rig([once]);
    const t = await r.insert('once', {});
    const a = await pump(r.store, { now: r.clock.now(), owner: 'a', leaseMs: 1_000, limit: 1, settlements: [], skip: new Set(), policy: () => once, random: () => 0 });
    r.clock.advance(1_000);
    const b = await pump(r.store, { now: r.clock.now(), owner: 'b', leaseMs: 1_000, limit: 1, settlements: [], skip: new Set(), policy: () => once, random: () => 0 });
    expect(b.claimed[0]?.leaseOwner).toBe('b');
    await pump(r.store, { now: r.clock.now(), owner: 'a', leaseMs: 1_000, limit: 0, settlements: [{ seq: a.claimed[0]!.seq, owner: 'a', outcome: { kind: 'ok', result: 'from a' } }], skip: new Set(), policy: () => once, random: () => 0 });
    expect(await r.byId(t.id)).toMatchObject({ status: 'running', leaseOwner: 'b' });
  });

  it('renews the lease while a long handler runs, and aborts the handler when the lease is lost', async () => {
    let signal: AbortSignal | undefined;
    const long = defineTask('long', { run: (_: unknown, ctx) => new Promise((_res, rej) => { signal = ctx.signal; ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason)); }) });
    const r = rig([long], { leaseMs: 150, now: Date.now });
    const t = await r.insert('long', {});
    const drained = r.executor.drain();
    await new Promise((res) => setTimeout(res, 400));
    const renewed = await r.byId(t.id);
    expect(renewed?.status).toBe('running');
    expect(renewed!.leaseUntil!).toBeGreaterThan(Date.now());
    // Another runner steals the task (as if this one had stalled past its lease).
    const db = await r.store.db();
    await db.put('tasks', { ...renewed!, leaseOwner: 'thief', rev: renewed!.rev + 1 });
    await drained;
    expect(signal?.aborted).toBe(true);
    expect((signal?.reason as { code?: string }).code).toBe('LEASE_LOST');
    expect(await r.byId(t.id)).toMatchObject({ leaseOwner: 'thief' });
  });
});

describe('executor: stopping, quarantine, summaries', () => {
  it('releases running tasks without counting the attempt when the drain is aborted', async () => {
    const stop = new AbortController();
    const hang = defineTask('hang', { run: (_: unknown, ctx) => new Promise((_res, rej) => { ctx.signal.addEventListener('abort', () => rej(new Error('aborted'))); stop.abort(); }) });
    const r = rig([hang]);
    const t = await r.insert('hang', {});
    const s = await r.executor.drain({ signal: stop.signal });
    expect(s.stopped).toBe('aborted');
    expect(await r.byId(t.id)).toMatchObject({ status: 'pending', attempts: 0 });
  });

  it('stops at the deadline and reports the tasks still due', async () => {
    const slow = defineTask('slow', { run: (_: unknown, ctx) => new Promise((_res, rej) => ctx.signal.addEventListener('abort', () => rej(new Error('stopped')))) });
    const r = rig([slow], { concurrency: 1, now: Date.now });
    for (let i = 0; i < 3; i++) await r.insert('slow', { i });
    const s = await r.executor.drain({ deadline: Date.now() + 50 });
    expect(s.stopped).toBe('deadline');
    expect(s.dueNow).toBe(3);
  });

  it('quarantines a corrupt record with its reason and completes the others', async () => {
    const r = rig([ok]);
    const a = await r.insert('ok', { n: 1 });
    const db = await r.store.db();
    await db.put('tasks', { seq: 999, id: 'corrupt', name: 'ok', status: 'exploded', due: 0 } as never);
    const b = await r.insert('ok', { n: 2 });
    const s = await r.executor.drain();
    expect(s).toMatchObject({ succeeded: 2, quarantined: 1 });
    expect(await r.byId(a.id)).toMatchObject({ status: 'succeeded' });
    expect(await r.byId(b.id)).toMatchObject({ status: 'succeeded' });
    const q = await r.store.quarantined();
    expect(q).toHaveLength(1);
    expect(q[0]).toMatchObject({ seq: 999, reason: expect.stringContaining('status') });
  });

  it('excludes two executors of one store: the second drain waits for the first', async () => {
    const order: string[] = [];
    const slow = defineTask('slow', { run: async (p: { i: number }) => { order.push(`start${p.i}`); await new Promise((res) => setTimeout(res, 10)); order.push(`end${p.i}`); } });
    const r = rig([slow], { concurrency: 1 });
    const other = new Executor({ store: r.store, tasks: taskRegistry([slow]), now: r.clock.now, concurrency: 1 });
    await r.insert('slow', { i: 1 });
    await r.insert('slow', { i: 2 });
    const [s1, s2] = await Promise.all([r.executor.drain(), other.drain()]);
    expect(s1.ran + s2.ran).toBe(2);
    expect(order).toEqual(['start1', 'end1', 'start2', 'end2']);
  });
});
