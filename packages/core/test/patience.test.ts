// Guarantee 9, "Patient": a network that is not there never uses up a task's attempts, and the
// defaults survive an outage of hours and an offline period of days.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { classify, isUnreachable } from '../src/failure.js';
import { createTestClient, type TestClient } from '../src/testing/node.js';
import { defineTask, HalfsyncError, PermanentError, RetryableError, UnreachableError } from '../src/index.js';
import { MAX_CRASHES } from '../src/store/pump.js';
import { rig } from './helpers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const open: TestClient[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });
const testClient = (...args: Parameters<typeof createTestClient>) => { const t = createTestClient(...args); open.push(t); return t; };

/** What each engine's `fetch` rejects with when no connection can be made. */
const fetchFailures = [
  new TypeError('Failed to fetch'),                                   // Chromium
  new TypeError('NetworkError when attempting to fetch resource.'),   // Firefox
  new TypeError('Load failed'),                                       // WebKit
  new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) }), // Node
];

describe('attempts while a try runs', () => {
  it('a running try is not counted until it settles: an unreachable one never shows as an attempt, a 5xx shows once it answered', async () => {
    const seen: number[] = [];
    let id = '';
    const answers = ['unreachable', 'busy', 'ok'];
    const task = defineTask('watched', {
      run() {
        seen.push(t.client.get(id)?.attempts ?? -1);
        const answer = answers.shift();
        if (answer === 'unreachable') throw new UnreachableError('no route');
        if (answer === 'busy') throw new RetryableError('503');
        return 'done';
      },
      retry: { baseDelayMs: 10, maxDelayMs: 10 },
    });
    const t = testClient({ tasks: [task] });
    id = t.client.defer(task, {}).id;
    await t.settle();
    expect(t.client.get(id)).toMatchObject({ status: 'succeeded', attempts: 2, unreachable: 1 });
    // What the view showed while each try ran: the attempts before it (the unreachable one given back).
    expect(seen).toEqual([0, 0, 1]);
    // Every try is kept with how it ended (the devtools panel's detail lists them).
    expect(t.client.get(id)?.tries.map((x) => [x.outcome, x.code])).toEqual([['unreachable', 'UNREACHABLE'], ['transient', 'RETRYABLE'], ['succeeded', undefined]]);
  });
});

describe('three kinds of failure', () => {
  it('calls a request that could not be made unreachable, in every engine\'s words and through a wrapping error', () => {
    for (const e of fetchFailures) expect(isUnreachable(e), e.message).toBe(true);
    expect(isUnreachable(new UnreachableError('down'))).toBe(true);
    expect(isUnreachable(new RetryableError('the backend is unreachable', { cause: new TypeError('Failed to fetch') }))).toBe(true);
    expect(isUnreachable(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toBe(true);
  });

  it('does not mistake a programming error or a server answer for the network', () => {
    expect(isUnreachable(new TypeError("Cannot read properties of undefined (reading 'id')"))).toBe(false);
    expect(isUnreachable(new RetryableError('server answered 503'))).toBe(false);
    expect(isUnreachable(new Error('boom'))).toBe(false);
    expect(isUnreachable('Failed to fetch')).toBe(false);
  });

  it('sorts thrown values into unreachable, transient and permanent', () => {
    expect(classify(new TypeError('Failed to fetch'), 1, true)).toMatchObject({ kind: 'unreachable', error: { kind: 'unreachable', permanent: false } });
    expect(classify(new RetryableError('503', { retryAfterMs: 5 }), 1, true)).toMatchObject({ kind: 'retry', retryAfterMs: 5, error: { kind: 'transient' } });
    expect(classify(new Error('boom'), 1, true)).toMatchObject({ kind: 'retry', error: { kind: 'transient' } });
    expect(classify(new PermanentError('400'), 1, true)).toMatchObject({ kind: 'fail', error: { kind: 'permanent', permanent: true } });
    expect(classify(new HalfsyncError('ORIGIN_NOT_ALLOWED', 'no'), 1, true)).toMatchObject({ kind: 'fail' });
  });

  it('treats any non-permanent failure while the browser is offline as unreachable', () => {
    expect(classify(new Error('the handler cannot tell why'), 1, false)).toMatchObject({ kind: 'unreachable' });
    expect(classify(new RetryableError('503'), 1, false)).toMatchObject({ kind: 'unreachable' });
    expect(classify(new PermanentError('400'), 1, false)).toMatchObject({ kind: 'fail' });
  });
});

describe('unreachable tries never use up attempts', () => {
  it('keeps a task pending with 0 attempts through 50 refused connections under a 3-attempt policy, then runs it once', async () => {
    let refusing = true;
    const sent: string[] = [];
    const post = defineTask('post', {
      run(_: unknown, ctx) {
        if (refusing) throw new TypeError('Failed to fetch');
        sent.push(ctx.idempotencyKey);
        return 'ok';
      },
      retry: { baseDelayMs: 10, maxDelayMs: 100, maxAttempts: 3 },
    });
    const t = testClient({ tasks: [post] });
    const h = t.client.defer(post, {});
    await h.persisted;
    let tries = 0;
    while (tries < 50) {
      const s = await t.drain();
      tries += s.ran;
      // Capped: never more than the smaller of maxDelayMs and maxUnreachableDelayMs.
      expect(s.nextDueAt! - t.clock.now()).toBeLessThanOrEqual(100);
      t.clock.set(s.nextDueAt!);
    }
    expect(t.client.get(h.id)).toMatchObject({ status: 'pending', attempts: 0, unreachable: tries, lastError: { kind: 'unreachable', code: 'TypeError' } });
    refusing = false;
    await t.settle();
    expect(t.client.get(h.id)).toMatchObject({ status: 'succeeded', attempts: 1, unreachable: tries });
    expect(sent).toEqual([h.id]);
  });

  it('still fails at once on a permanent failure, and after maxAttempts transient failures where the user set it', async () => {
    const declined = defineTask('declined', { run: () => { throw new PermanentError('card declined'); }, retry: { maxAttempts: 3 } });
    let calls = 0;
    const mixed = defineTask('mixed', {
      // Unreachable and transient failures alternate: only the transient ones count.
      run: () => { calls++; throw calls % 2 === 1 ? new TypeError('Failed to fetch') : new RetryableError('503'); },
      retry: { baseDelayMs: 10, maxDelayMs: 100, maxAttempts: 3 },
    });
    const t = testClient({ tasks: [declined, mixed] });
    const a = t.client.defer(declined, {});
    const b = t.client.defer(mixed, {});
    await t.settle();
    expect(t.client.get(a.id)).toMatchObject({ status: 'failed', attempts: 1, lastError: { kind: 'permanent' } });
    expect(t.client.get(b.id)).toMatchObject({ status: 'failed', attempts: 3, unreachable: 3, lastError: { kind: 'transient', code: 'RETRYABLE' } });
    expect(calls).toBe(6);
    await expect(b.result).rejects.toMatchObject({ code: 'TASK_FAILED' });
  });

  it('fails a task whose runner died during ten runs with CRASHED, and runs it again before that', async () => {
    const r = rig([defineTask('slow', { run: () => 1 })]);
    // Left running by a dead runner (its lease ran out), after 8 and after 9 earlier crashes.
    const dead = { status: 'running' as const, attempts: 3, leaseOwner: 'dead', leaseUntil: r.clock.now() - 1, due: r.clock.now() - 1 };
    const again = await r.insert('slow', {}, { ...dead, crashes: MAX_CRASHES - 2 });
    const last = await r.insert('slow', {}, { ...dead, crashes: MAX_CRASHES - 1 });
    expect(await r.executor.drain()).toMatchObject({ ran: 1, succeeded: 1, failed: 1 });
    expect(await r.byId(again.id)).toMatchObject({ status: 'succeeded', crashes: MAX_CRASHES - 1 });
    expect(await r.byId(last.id)).toMatchObject({ status: 'failed', lastError: { code: 'CRASHED', kind: 'permanent' } });
    // Each try that a dead runner cut short is kept as crashed.
    expect((await r.byId(again.id))?.tries?.map((x) => x.outcome)).toEqual(['crashed', 'succeeded']);
    expect((await r.byId(last.id))?.tries?.map((x) => x.outcome)).toEqual(['crashed']);
  });
});

describe('runners pause while offline and resume at once when the network returns', () => {
  it('claims nothing offline: pending stays pending, with no attempt and no try', async () => {
    let runs = 0;
    const post = defineTask('post', { run: () => { runs++; return 1; }, retry: { baseDelayMs: 10, maxAttempts: 3 } });
    const t = testClient({ tasks: [post] });
    t.offline();
    const h = t.client.defer(post, {});
    await h.persisted;
    for (let i = 0; i < 20; i++) {
      const s = await t.drain();
      expect(s).toMatchObject({ ran: 0, stopped: 'offline', dueNow: 1 });
      t.clock.advance(DAY / 4);
    }
    // Five days offline: nothing ran, nothing failed.
    expect(runs).toBe(0);
    expect(t.client.get(h.id)).toMatchObject({ status: 'pending', attempts: 0, unreachable: 0 });
    t.online();
    expect(await t.drain()).toMatchObject({ ran: 1, succeeded: 1, stopped: 'idle' });
    expect(runs).toBe(1);
  });

  it('cuts short the backoff of what failed while the network was gone, as soon as it is back', async () => {
    let up = false;
    const post = defineTask('post', {
      run: () => { if (!up) throw new TypeError('Failed to fetch'); return 'ok'; },
      retry: { maxUnreachableDelayMs: 30_000 },
    });
    const slow = defineTask('slow', { run: () => { throw new RetryableError('503', { retryAfterMs: 20_000 }); } });
    const t = testClient({ tasks: [post, slow] });
    const a = t.client.defer(post, {});
    const b = t.client.defer(slow, {});
    for (let i = 0; i < 8; i++) { const s = await t.drain(); t.clock.set(s.nextDueAt!); }
    const waiting = t.client.get(a.id)!;
    expect(waiting).toMatchObject({ status: 'pending', attempts: 0 });
    // The network drops: the runner notices on its next drain, then it comes back.
    t.offline();
    expect(await t.drain()).toMatchObject({ stopped: 'offline' });
    t.clock.advance(1);
    up = true;
    t.online();
    const s = await t.drain();
    expect(s.succeeded).toBe(1);
    expect(t.client.get(a.id)).toMatchObject({ status: 'succeeded', attempts: 1 });
    // A server's own Retry-After is not the network's: that one still waits.
    expect(t.client.get(b.id)).toMatchObject({ status: 'pending', lastError: { kind: 'transient' } });
    expect(t.client.get(b.id)!.nextRunAt).toBeGreaterThan(t.clock.now());
  });

  it('cuts short the backoff on an explicit return of the network (the online event), and not otherwise', async () => {
    const post = defineTask('post', { run: () => { throw new TypeError('Failed to fetch'); } });
    const r = rig([post], { random: () => 0.99 });
    const t = await r.insert('post', {});
    await r.executor.drain();
    const after = await r.byId(t.id);
    expect(after).toMatchObject({ status: 'pending', attempts: 0, unreachable: 1 });
    expect(after!.due).toBeGreaterThan(r.clock.now());
    expect((await r.executor.drain()).ran).toBe(0);
    expect((await r.executor.drain({ networkBack: true })).ran).toBe(1);
    expect(await r.byId(t.id)).toMatchObject({ unreachable: 2 });
  });
});

describe('the default policy survives real outages', () => {
  it('a 5xx outage of one hour: still pending after the hour, completes once after', async () => {
    let serverUp = false;
    const applied: string[] = [];
    const post = defineTask('post', {
      run(_: unknown, ctx) {
        if (!serverUp) throw new RetryableError('503 Service Unavailable');
        applied.push(ctx.idempotencyKey);
        return 'ok';
      },
    });
    const t = testClient({ tasks: [post], startAt: 0 });
    const h = t.client.defer(post, {});
    await h.persisted;
    let tries = 0;
    while (t.clock.now() < HOUR) {
      const s = await t.drain();
      tries += s.ran;
      t.clock.set(s.nextDueAt!);
    }
    const task = t.client.get(h.id)!;
    expect(task.status).toBe('pending');
    // Backoff capped at 5 minutes with full jitter: some tens of tries in the hour, not hundreds.
    expect(tries).toBeGreaterThan(10);
    expect(tries).toBeLessThan(200);
    serverUp = true;
    await t.settle();
    expect(t.client.get(h.id)).toMatchObject({ status: 'succeeded' });
    expect(applied).toEqual([h.id]);
  });

  it('a task offline for six days completes once when the network returns; one older than maxAgeMs fails with EXPIRED', async () => {
    const post = defineTask('post', { run: () => 'ok' });
    const t = testClient({ tasks: [post], startAt: 0 });
    t.offline();
    const h = t.client.defer(post, {});
    await h.persisted;
    t.clock.set(6 * DAY);
    await t.settle();
    expect(t.client.get(h.id)).toMatchObject({ status: 'pending', attempts: 0 });
    t.online();
    await t.settle();
    expect(t.client.get(h.id)).toMatchObject({ status: 'succeeded', attempts: 1 });

    t.offline();
    const late = t.client.defer(post, {});
    await late.persisted;
    t.clock.advance(7 * DAY + 1);
    t.online();
    await t.settle();
    expect(t.client.get(late.id)).toMatchObject({ status: 'failed', lastError: { code: 'EXPIRED' } });
  });
});
