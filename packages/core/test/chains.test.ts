// Work that depends on work: chains (after), latest wins (supersede, update, one task per key),
// batches, lane policies and metadata, on a real client over IndexedDB with a manual clock.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestClient, type TestClient, type TestClientOptions } from '../src/testing/node.js';
import { defineBatchTask, defineTask, PermanentError, RetryableError, UnreachableError, type HalfsyncError } from '../src/index.js';
import { pump } from '../src/store/pump.js';
import { rig } from './helpers.js';
import { settleInbox } from '../src/store/inbox.js';

const open: TestClient[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });
const client = (options: TestClientOptions) => { const t = createTestClient(options); open.push(t); return t; };
const codeOf = (fn: () => unknown): string | undefined => {
  try { fn(); } catch (e) { return (e as HalfsyncError).code; }
  return undefined;
};

describe('chains: a task runs after its parents and reads their results', () => {
  const calls: string[] = [];
  let orderAnswer: 'ok' | 'reject' | 'flaky' = 'ok';
  let flakes = 0;
  const createOrder = defineTask('create-order', {
    run(p: { cart: string }) {
      calls.push(`order:${p.cart}`);
      if (orderAnswer === 'reject') throw new PermanentError('card declined');
      if (orderAnswer === 'flaky' && flakes-- > 0) throw new RetryableError('503');
      return { orderId: `srv-${p.cart}` };
    },
    retry: { baseDelayMs: 10, maxDelayMs: 10 },
  });
  const pay = defineTask('pay', {
    run(p: { cents: number }, ctx) {
      const order = ctx.resultOf(createOrder);
      calls.push(`pay:${order?.orderId}:${p.cents}`);
      return { paid: order!.orderId };
    },
  });
  const email = defineTask('email', {
    run(_: { to: string }, ctx) {
      calls.push(`email:${(ctx.parentResults[0] as { paid: string }).paid}`);
      return 'sent';
    },
  });
  const tasks = [createOrder, pay, email];

  it('runs order → payment → email deferred in one tick, in order, the payment for the server\'s order id', async () => {
    calls.length = 0; orderAnswer = 'flaky'; flakes = 2;
    const t = client({ tasks });
    const o = t.client.defer(createOrder, { cart: 'c1' });
    const p = t.client.defer(pay, { cents: 500 }, { after: [o] });
    const e = t.client.defer(email, { to: 'ada@example.com' }, { after: [p] });
    expect(t.client.get(p.id)?.after).toEqual([o.id]);
    await t.settle();
    expect(calls).toEqual(['order:c1', 'order:c1', 'order:c1', 'pay:srv-c1:500', 'email:srv-c1']);
    expect(await e.result).toBe('sent');
  });

  it('fails the whole chain behind a parent that fails for good, runs nothing against a missing id, and a retry of the parent completes it', async () => {
    calls.length = 0; orderAnswer = 'reject';
    const t = client({ tasks });
    const o = t.client.defer(createOrder, { cart: 'c2' });
    const p = t.client.defer(pay, { cents: 700 }, { after: [o] });
    const e = t.client.defer(email, { to: 'x@example.com' }, { after: [p] });
    await t.settle();
    expect(calls).toEqual(['order:c2']);
    expect(t.client.get(p.id)).toMatchObject({ status: 'failed', lastError: { code: 'DEPENDENCY_FAILED' } });
    expect(t.client.get(e.id)).toMatchObject({ status: 'failed', lastError: { code: 'DEPENDENCY_FAILED' } });
    await expect(e.result).rejects.toMatchObject({ code: 'TASK_FAILED' });
    orderAnswer = 'ok';
    // Retrying the last task of the chain retries the parent that failed, which revives the rest.
    await t.client.retry(e.id);
    await t.settle();
    expect(calls).toEqual(['order:c2', 'order:c2', 'pay:srv-c2:700', 'email:srv-c2']);
    expect(t.client.get(e.id)?.status).toBe('succeeded');
  });

  it('never runs a parent that succeeded again when a child is retried', async () => {
    calls.length = 0; orderAnswer = 'ok';
    let payFails = true;
    const flakyPay = defineTask('flaky-pay', { run: (_: unknown, ctx) => { if (payFails) throw new PermanentError('declined'); return ctx.resultOf(createOrder); } });
    const t = client({ tasks: [createOrder, flakyPay] });
    const o = t.client.defer(createOrder, { cart: 'c3' });
    const p = t.client.defer(flakyPay, {}, { after: [o.id] });
    await t.settle();
    expect(t.client.get(p.id)?.status).toBe('failed');
    payFails = false;
    await t.client.retry(p.id);
    await t.settle();
    expect(calls).toEqual(['order:c3']);
    // A handle settles once (it rejected with the first failure); ask the client for the new outcome.
    expect(await t.client.result(p.id)).toEqual({ orderId: 'srv-c3' });
  });

  it('fails the children of a cancelled parent, and refuses to retry them', async () => {
    const t = client({ tasks });
    const o = t.client.defer(createOrder, { cart: 'c4' }, { delay: 60_000 });
    const p = t.client.defer(pay, { cents: 1 }, { after: [o] });
    await p.persisted;
    await t.client.cancel(o.id);
    expect(t.client.get(p.id)).toMatchObject({ status: 'failed', lastError: { code: 'DEPENDENCY_FAILED', message: expect.stringContaining('was cancelled') } });
    await expect(t.client.retry(p.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
  });

  it('commits a task deferred a tick after its parent after the parent, even when the parent\'s commit is slow', async () => {
    const t = client({ tasks });
    await t.client.ready;
    const { TaskStore } = await import('../src/store/store.js');
    const real = TaskStore.prototype.insert;
    let first = true;
    const slow = async function (this: InstanceType<typeof TaskStore>, ...args: Parameters<typeof real>) {
      if (first) { first = false; await new Promise((r) => setTimeout(r, 50)); }
      return real.apply(this, args);
    };
    TaskStore.prototype.insert = slow;
    try {
      const o = t.client.defer(createOrder, { cart: 'c6' });
      await Promise.resolve();
      await new Promise((r) => setTimeout(r, 0));
      const p = t.client.defer(pay, { cents: 2 }, { after: [o] });
      await expect(Promise.all([o.persisted, p.persisted])).resolves.toHaveLength(2);
      expect(t.client.get(p.id)!.seq!).toBeGreaterThan(t.client.get(o.id)!.seq!);
    } finally {
      TaskStore.prototype.insert = real;
    }
  });

  it('refuses a dependency on an unknown task, a task named twice, and malformed lists, before anything is written', async () => {
    const t = client({ tasks });
    await t.client.ready;
    // Whether a parent is stored is known in the commit's transaction: the defer is refused there, whole.
    const unknown = t.client.defer(pay, { cents: 1 }, { after: ['no-such-task'] });
    await expect(unknown.persisted).rejects.toMatchObject({ code: 'DEPENDENCY_UNKNOWN' });
    const o = t.client.defer(createOrder, { cart: 'c5' });
    expect(codeOf(() => t.client.defer(pay, { cents: 1 }, { after: [o, o.id] }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => t.client.defer(pay, { cents: 1 }, { after: [] }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => t.client.defer(pay, { cents: 1 }, { after: 'x' as never }))).toBe('INVALID_OPTIONS');
    await o.persisted;
    expect(t.client.getSnapshot().map((x) => x.name)).toEqual(['create-order']);
  });
});

describe('failure paths of chains and latest wins', () => {
  const ran: string[] = [];
  const step = defineTask('step', { run: (p: { n: string }, ctx) => { ran.push(`${p.n}<${ctx.parentResults.join(',')}`); return p.n; } });
  afterEach(() => { ran.length = 0; });

  it('a child whose parent is replaced by a supersede runs after the replacement, with its result', async () => {
    const t = client({ tasks: [step] });
    const first = t.client.defer(step, { n: 'v1' }, { supersede: 'doc' });
    const child = t.client.defer(step, { n: 'child' }, { after: [first] });
    await Promise.all([first.persisted, child.persisted]);
    const second = t.client.defer(step, { n: 'v2' }, { supersede: 'doc' });
    await second.persisted;
    await t.settle();
    expect(await child.result).toBe('child');
    expect(ran).toEqual(['v2<', 'child<v2']);
  });

  it('a supersede that would close a cycle is refused with DEPENDENCY_CYCLE; nothing is written', async () => {
    const t = client({ tasks: [step] });
    const a = t.client.defer(step, { n: 'a' }, { supersede: 'k', delay: 60_000 });
    const b = t.client.defer(step, { n: 'b' }, { after: [a], delay: 60_000 });
    await Promise.all([a.persisted, b.persisted]);
    const a2 = t.client.defer(step, { n: 'a2' }, { supersede: 'k', after: [b] });
    await expect(a2.persisted).rejects.toMatchObject({ code: 'DEPENDENCY_CYCLE' });
    expect(t.client.get(a.id)?.status).toBe('pending');
    expect(t.client.get(b.id)?.after).toEqual([a.id]);
  });

  it('result() of a superseded task follows its replacement through the store once both left the window', async () => {
    const t = client({ tasks: [step], recentFinished: 0 });
    const first = t.client.defer(step, { n: 'old' }, { supersede: 'note' });
    await first.persisted;
    const second = t.client.defer(step, { n: 'new' }, { supersede: 'note' });
    await t.settle();
    expect(await second.result).toBe('new');
    expect(t.client.get(first.id)).toBeUndefined();
    expect(t.client.get(second.id)).toBeUndefined();
    await expect(t.client.result(first.id)).resolves.toBe('new');
  });

  it('after accepts a stored parent that succeeded outside the window, and one deferred before the load ended', async () => {
    const t = client({ tasks: [step], recentFinished: 0 });
    const parent = t.client.defer(step, { n: 'p' });
    await t.settle();
    expect(t.client.get(parent.id)).toBeUndefined();
    const child = t.client.defer(step, { n: 'c' }, { after: [parent.id] });
    await child.persisted;
    await t.settle();
    expect(await child.result).toBe('c');
    expect(ran).toEqual(['p<', 'c<p']);
  });

  it('supersede keys: at most 200 characters, said in the message; a key replaces only within its order key', async () => {
    const t = client({ tasks: [step] });
    let message = '';
    try { t.client.defer(step, { n: 'x' }, { supersede: 'k'.repeat(486) }); } catch (e) { message = (e as Error).message; }
    expect(message).toContain('at most 200 characters');
    expect(() => t.client.defer(step, { n: 'x' }, { supersede: 'k'.repeat(200) })).not.toThrow();
    const a = t.client.defer(step, { n: 'a' }, { supersede: 's', orderKey: 'one', delay: 60_000 });
    const b = t.client.defer(step, { n: 'b' }, { supersede: 's', orderKey: 'two', delay: 60_000 });
    await Promise.all([a.persisted, b.persisted]);
    expect([t.client.get(a.id)?.status, t.client.get(b.id)?.status]).toEqual(['pending', 'pending']);
  });

  it('a second defer with the key of a task still alive and another payload is refused with IDEMPOTENCY_KEY_REUSED; the same payload joins it', async () => {
    const t = client({ tasks: [step] });
    const a = t.client.defer(step, { n: 'a' }, { idempotencyKey: 'order-1', delay: 60_000 });
    expect(t.client.defer(step, { n: 'a' }, { idempotencyKey: 'order-1' }).id).toBe(a.id);
    expect(codeOf(() => t.client.defer(step, { n: 'b' }, { idempotencyKey: 'order-1' }))).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('acknowledging a failed chain head settles the chain: the tasks that failed because of it go with it, in one step', async () => {
    const fails = defineTask('fails', { run: () => { throw new PermanentError('refused'); } });
    const t = client({ tasks: [step, fails] });
    const head = t.client.defer(fails, {});
    const label = t.client.defer(step, { n: 'label' }, { after: [head] });
    const email = t.client.defer(step, { n: 'email' }, { after: [label] });
    const other = t.client.defer(step, { n: 'other' });
    await t.settle();
    expect([head, label, email].map((h) => t.client.get(h.id)?.status)).toEqual(['failed', 'failed', 'failed']);
    await t.client.acknowledge(head.id);
    expect([head, label, email].map((h) => t.client.get(h.id))).toEqual([undefined, undefined, undefined]);
    expect(t.client.get(other.id)?.status).toBe('succeeded');
    expect(await t.client.count({ status: 'failed' })).toBe(0);
  });

  /** Writes a record as it is, as a corrupt store or an edited database would hold it. */
  const writeRaw = async (r: ReturnType<typeof rig>, id: string, patch: Record<string, unknown>) => {
    // A plain task may still be in the inbox: moved on first, then edited where runners read it.
    await settleInbox(r.store);
    const db = await r.store.db();
    const rec = (await db.getFromIndex('tasks', 'id', id))!;
    const out = { ...rec, ...patch } as Record<string, unknown>;
    for (const k of Object.keys(patch)) if (patch[k] === undefined) delete out[k];
    await db.put('tasks', out as never);
  };

  it('an orphan (a parent id no record has) with a due time never runs: it fails with DEPENDENCY_UNKNOWN at its claim', async () => {
    const r = rig([step]);
    const orphan = await r.insert('step', { n: 'orphan' });
    await writeRaw(r, orphan.id, { after: ['gone'] });
    await r.executor.drain();
    expect(ran).toEqual([]);
    expect(await r.byId(orphan.id)).toMatchObject({ status: 'failed', lastError: { code: 'DEPENDENCY_UNKNOWN' } });
  });

  it('a cycle written into IndexedDB, a lane head with no due time and a lease in year 33658 are repaired or failed when a runner starts', async () => {
    const r = rig([step]);
    const far = r.clock.now() + 1e15;
    const x = await r.insert('step', { n: 'x' });
    const y = await r.insert('step', { n: 'y' });
    await writeRaw(r, x.id, { after: [y.id], due: undefined });
    await writeRaw(r, y.id, { after: [x.id], due: undefined });
    const head = await r.insert('step', { n: 'head' }, { orderKey: 'lane' });
    await writeRaw(r, head.id, { due: undefined });
    const stuck = await r.insert('step', { n: 'stuck' }, { orderKey: 'lane2' });
    await writeRaw(r, stuck.id, { status: 'running', attempts: 1, leaseOwner: 'gone', leaseUntil: far, due: far });
    await r.executor.drain();
    expect((await r.byId(x.id))?.lastError?.code).toBe('DEPENDENCY_CYCLE');
    expect((await r.byId(y.id))?.status).toBe('failed');
    expect((await r.byId(head.id))?.status).toBe('succeeded');
    expect((await r.byId(stuck.id))?.status).toBe('succeeded');
  });
});

describe('latest wins', () => {
  const saved: string[] = [];
  let gate: Promise<void> | undefined;
  const saveDraft = defineTask('save-draft', {
    async run(p: { text: string }) { await gate; saved.push(p.text); return { saved: p.text }; },
  });
  const strict = defineTask('strict', { run: () => 1, supersede: false });

  it('ten supersedes of one key while nothing runs: one request with the last payload; every handle gets its result', async () => {
    saved.length = 0;
    const t = client({ tasks: [saveDraft] });
    const handles = Array.from({ length: 10 }, (_, i) => t.client.defer(saveDraft, { text: `v${i}` }, { supersede: 'draft-1' }));
    await Promise.all(handles.map((h) => h.persisted));
    expect(t.client.getSnapshot().filter((x) => x.status === 'pending').map((x) => x.payload)).toEqual([{ text: 'v9' }]);
    expect(t.client.getSnapshot().filter((x) => x.status === 'superseded')).toHaveLength(9);
    await t.settle();
    expect(saved).toEqual(['v9']);
    for (const h of handles) expect(await h.result).toEqual({ saved: 'v9' });
    expect(t.client.get(handles[0]!.id)?.supersededBy).toBe(handles[1]!.id);
  });

  it('a supersede while the previous one runs: both run, in order', async () => {
    saved.length = 0;
    let release!: () => void;
    gate = new Promise((r) => { release = r; });
    const t = client({ tasks: [saveDraft] });
    const a = t.client.defer(saveDraft, { text: 'first' }, { supersede: 'd' });
    await a.persisted;
    const draining = t.drain();
    await new Promise((r) => setTimeout(r, 20));
    expect(t.client.get(a.id)?.status).toBe('running');
    const b = t.client.defer(saveDraft, { text: 'second' }, { supersede: 'd' });
    await b.persisted;
    expect(t.client.get(b.id)?.status).toBe('pending');
    release();
    await draining;
    gate = undefined;
    await t.settle();
    expect(saved).toEqual(['first', 'second']);
  });

  it('a defer with the key of a task still alive joins it; a pending task can be edited before it runs, not after', async () => {
    saved.length = 0;
    const t = client({ tasks: [saveDraft, strict] });
    const a = t.client.defer(saveDraft, { text: 'a' }, { idempotencyKey: 'k-1', delay: 1_000 });
    const twin = t.client.defer(saveDraft, { text: 'a' }, { idempotencyKey: 'k-1' });
    expect(twin.id).toBe(a.id);
    await a.persisted;
    await t.client.update(a.id, { text: 'edited' });
    expect(t.client.get(a.id)?.payload).toEqual({ text: 'edited' });
    await expect(t.client.update(a.id, { text: 1 } as never)).resolves.toBeUndefined();
    await t.client.update(a.id, { text: 'edited' });
    t.clock.advance(1_000);
    await t.settle();
    expect(saved).toEqual(['edited']);
    expect(await twin.result).toEqual({ saved: 'edited' });
    await expect(t.client.update(a.id, { text: 'late' })).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    expect(codeOf(() => t.client.defer(strict, {}, { supersede: 'x' }))).toBe('INVALID_OPTIONS');
  });
});

describe('batches', () => {
  it('500 statistics events go out in fewer than 20 requests, every event counted once; a member can fail alone', async () => {
    const requests: number[][] = [];
    const stats = defineBatchTask('stats', {
      batch: { max: 50, waitMs: 1_000 },
      run(events: ReadonlyArray<{ n: number }>, ctx) {
        expect(ctx.ids).toHaveLength(events.length);
        requests.push(events.map((e) => e.n));
        return events.map((e) => (e.n === 13 ? new PermanentError('bad event') : { counted: e.n }));
      },
    });
    const t = client({ tasks: [stats] });
    const handles = [];
    for (let burst = 0; burst < 10; burst++) {
      for (let i = 0; i < 50; i++) handles.push(t.client.defer(stats, { n: burst * 50 + i }));
      await Promise.all(handles.map((h) => h.persisted));
    }
    await t.settle({ maxRounds: 1_000 });
    expect(requests.length).toBeLessThan(20);
    expect(requests.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(t.client.get(handles[13]!.id)).toMatchObject({ status: 'failed', lastError: { message: 'bad event' } });
    expect(await handles[14]!.result).toEqual({ counted: 14 });
    expect(await t.client.count({ task: stats, status: 'succeeded' })).toBe(499);
  });

  it('a batch cut by a dead runner is sent again with the same members and the same key', async () => {
    const keys: string[] = [];
    const stats = defineBatchTask('stats2', { batch: { max: 10 }, run: (events: ReadonlyArray<{ n: number }>, ctx) => { keys.push(`${ctx.idempotencyKey}:${events.map((e) => e.n).join(',')}`); return events.map(() => 1); } });
    const r = rig([stats]);
    for (let i = 0; i < 3; i++) await r.insert('stats2', { n: i }, { orderKey: 'batch:stats2', lane: 'batch:stats2' });
    // A runner claims the batch and dies: its leases run out, the records still running.
    const dead = await pump(r.store, { now: r.clock.now(), owner: 'dead', leaseMs: 1_000, limit: 16, settlements: [], skip: new Set(), policy: (n) => (n === 'stats2' ? stats : undefined), random: () => 0.5 });
    expect(dead.claimed).toHaveLength(3);
    const batchId = dead.claimed[0]!.batch;
    r.clock.advance(1_001);
    await r.executor.drain();
    expect(keys).toEqual([`${batchId}:0,1,2`]);
  });
});

describe('batches after a failed request', () => {
  const failures = {
    transient: () => new RetryableError('503 from the server'),
    unreachable: () => new UnreachableError('the server could not be reached'),
    timeout: () => new DOMException('the request took too long', 'TimeoutError'),
  } as const;
  for (const [kind, makeError] of Object.entries(failures)) {
    it(`a batch whose request failed (${kind}) is sent again with the same members and key, and later members still go out`, async () => {
      const calls: string[] = [];
      let fail = 1;
      const stats = defineBatchTask(`stats-${kind}`, {
        batch: { max: 10 },
        retry: { baseDelayMs: 10, maxDelayMs: 10 },
        run(events: ReadonlyArray<{ n: number }>, ctx) {
          calls.push(`${ctx.idempotencyKey}:${events.map((e) => e.n).join(',')}`);
          if (fail-- > 0) throw makeError();
          return events.map((e) => e.n);
        },
      });
      const t = client({ tasks: [stats] });
      const first = [0, 1, 2].map((n) => t.client.defer(stats, { n }));
      await Promise.all(first.map((h) => h.persisted));
      await t.client.drain();
      // (The retry may come in the same drain: a full-jitter delay can be next to nothing.)
      // More members arrive after the failed batch.
      const later = [3, 4].map((n) => t.client.defer(stats, { n }));
      await Promise.all(later.map((h) => h.persisted));
      await t.settle();
      expect([...first, ...later].map((h) => t.client.get(h.id)?.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded']);
      const [key0, members0] = calls[0]!.split(':');
      expect(calls[1]).toBe(`${key0}:${members0}`);
      expect(calls.slice(2).map((c) => c.split(':')[1])).toEqual(['3,4']);
      expect(calls[2]!.split(':')[0]).not.toBe(key0);
    });
  }

  it('members whose batch answered per member are retried in a new batch with a new key', async () => {
    const calls: string[] = [];
    let round = 0;
    const stats = defineBatchTask('stats-partial', {
      batch: { max: 10 },
      retry: { baseDelayMs: 10, maxDelayMs: 10 },
      run(events: ReadonlyArray<{ n: number }>, ctx) {
        calls.push(`${ctx.idempotencyKey}:${events.map((e) => e.n).join(',')}`);
        round++;
        return events.map((e) => (round === 1 && e.n === 1 ? new RetryableError('busy') : e.n));
      },
    });
    const t = client({ tasks: [stats] });
    const hs = [0, 1, 2].map((n) => t.client.defer(stats, { n }));
    await t.settle();
    expect(hs.map((h) => t.client.get(h.id)?.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(calls.map((c) => c.split(':')[1])).toEqual(['0,1,2', '1']);
    expect(calls[1]!.split(':')[0]).not.toBe(calls[0]!.split(':')[0]);
  });

  it('a batch cut by a dead runner, then more members: all of them go out', async () => {
    const keys: string[] = [];
    const stats = defineBatchTask('stats-killed', { batch: { max: 10 }, run: (events: ReadonlyArray<{ n: number }>, ctx) => { keys.push(`${ctx.idempotencyKey}:${events.map((e) => e.n).join(',')}`); return events.map(() => 1); } });
    const r = rig([stats]);
    for (let i = 0; i < 3; i++) await r.insert('stats-killed', { n: i }, { orderKey: 'batch:stats-killed', lane: 'batch:stats-killed' });
    const dead = await pump(r.store, { now: r.clock.now(), owner: 'dead', leaseMs: 1_000, limit: 16, settlements: [], skip: new Set(), policy: (n) => (n === 'stats-killed' ? stats : undefined), random: () => 0.5 });
    const batchId = dead.claimed[0]!.batch;
    for (let i = 3; i < 5; i++) await r.insert('stats-killed', { n: i }, { orderKey: 'batch:stats-killed', lane: 'batch:stats-killed' });
    r.clock.advance(1_001);
    await r.executor.drain();
    expect(keys[0]).toBe(`${batchId}:0,1,2`);
    expect(keys.slice(1).map((k) => k.split(':')[1])).toEqual(['3,4']);
    expect((await r.all()).map((x) => x.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded', 'succeeded']);
  });
});

describe('lane policies and metadata', () => {
  const ops: string[] = [];
  const make = (name: string, laneFailure: 'hold' | 'skip' | 'fail') => defineTask(name, {
    run: (p: { n: number }) => { ops.push(`${name}:${p.n}`); if (p.n === 0) throw new PermanentError('head fails'); return p.n; },
    laneFailure,
  });

  it('skip: a failed head does not block the tasks behind it; fail: they fail too; hold: they wait', async () => {
    const skip = make('skip', 'skip');
    const fail = make('fail', 'fail');
    const hold = make('hold', 'hold');
    const t = client({ tasks: [skip, fail, hold] });
    const lanes = { skip: [] as string[], fail: [] as string[], hold: [] as string[] };
    for (const [def, key] of [[skip, 'skip'], [fail, 'fail'], [hold, 'hold']] as const) {
      for (let n = 0; n < 3; n++) lanes[key].push(t.client.defer(def, { n }, { orderKey: `lane-${key}` }).id);
    }
    await t.settle();
    const status = (ids: string[]) => ids.map((id) => t.client.get(id)?.status);
    expect(status(lanes.skip)).toEqual(['failed', 'succeeded', 'succeeded']);
    expect(status(lanes.fail)).toEqual(['failed', 'failed', 'failed']);
    expect(t.client.get(lanes.fail[2]!)?.lastError?.code).toBe('LANE_FAILED');
    expect(status(lanes.hold)).toEqual(['failed', 'pending', 'pending']);
    expect(ops.filter((o) => o.startsWith('fail:') || o.startsWith('hold:'))).toEqual(['fail:0', 'hold:0']);
  });

  it('keeps typed metadata with the task, readable from the snapshot, and refuses what is not flat data', async () => {
    const m = make('meta-task', 'hold');
    const t2 = client({ tasks: [m] });
    const h = t2.client.defer(m, { n: 5 }, { meta: { order: 'A-1', step: 2, gift: false, note: null } });
    expect(t2.client.get(h.id)?.meta).toEqual({ order: 'A-1', step: 2, gift: false, note: null });
    expect(codeOf(() => t2.client.defer(m, { n: 1 }, { meta: { deep: { x: 1 } } as never }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => t2.client.defer(m, { n: 1 }, { meta: [1] as never }))).toBe('INVALID_OPTIONS');
    await h.persisted;
    expect((await t2.client.query({ task: m })).tasks[0]?.meta).toEqual({ order: 'A-1', step: 2, gift: false, note: null });
  });
});
