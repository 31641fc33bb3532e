// Rate limits (store/rate.ts): a definition's bucket is stored state that every runner draws from
// in its claim's transaction; a task over the limit waits, pending, with no attempt used; a
// server's Retry-After empties the bucket until then.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { defineTask, RetryableError } from '../src/index.js';
import { createTestClient, type TestClient } from '../src/testing/node.js';

let clockNow = () => 0;
const hits: number[] = [];
let answer: 'ok' | 'busy' = 'ok';
const analytics = defineTask('analytics', {
  rateLimit: '10/m',
  run: (_: { n: number }) => {
    hits.push(clockNow());
    if (answer === 'busy') throw new RetryableError('429', { retryAfterMs: 30_000 });
  },
});
const open: TestClient[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); hits.length = 0; answer = 'ok'; });
const client = (dbName?: string) => {
  const t = createTestClient({ tasks: [analytics], ...(dbName ? { dbName } : {}), startAt: 1_700_000_000_000 });
  open.push(t);
  clockNow = t.clock.now;
  return t;
};

/** Drains, moving the clock to each next due time, until `until`. */
async function runUntil(t: TestClient, until: number): Promise<void> {
  for (;;) {
    const s = await t.drain();
    if (s.nextDueAt === undefined || s.nextDueAt > until) return;
    t.clock.set(Math.max(t.clock.now(), s.nextDueAt));
  }
}

describe('rate limits', () => {
  it('10 a minute over an hour of 1,000 deferred tasks: about 600 run, never more than 10 in a minute, no attempt used by the rest', async () => {
    const t = client();
    const start = t.clock.now();
    for (let n = 0; n < 1_000; n++) t.client.defer(analytics, { n });
    await runUntil(t, start + 3_600_000);
    expect(hits.length).toBeGreaterThanOrEqual(590);
    expect(hits.length).toBeLessThanOrEqual(601);
    for (let i = 10; i < hits.length; i++) expect(hits[i]! - hits[i - 10]!).toBeGreaterThanOrEqual(60_000);
    const waiting = t.client.getSnapshot().filter((x) => x.status === 'pending');
    expect(waiting).toHaveLength(1_000 - hits.length);
    expect(waiting.every((x) => x.attempts === 0)).toBe(true);
    // The snapshot says when a limited task may run.
    expect(waiting.some((x) => x.limitedUntil !== undefined && x.limitedUntil > t.clock.now() - 6_000)).toBe(true);
  }, 120_000);

  it('holds across runners sharing the database: the second finds the token taken', async () => {
    const dbName = `rate-${Date.now()}`;
    const a = client(dbName);
    const b = client(dbName);
    b.clock.set(a.clock.now());
    a.client.defer(analytics, { n: 1 });
    b.client.defer(analytics, { n: 2 });
    await a.drain();
    await b.drain();
    expect(hits).toHaveLength(1);
    b.clock.advance(6_000);
    await b.drain();
    expect(hits).toHaveLength(2);
  });

  it("a server's Retry-After holds every task of the definition until then", async () => {
    const t = client();
    answer = 'busy';
    const first = t.client.defer(analytics, { n: 1 });
    const second = t.client.defer(analytics, { n: 2 });
    await t.drain();
    expect(hits).toHaveLength(1);
    answer = 'ok';
    t.clock.advance(20_000);
    await t.drain();
    expect(hits).toHaveLength(1);
    expect(t.client.get(second.id)).toMatchObject({ status: 'pending', attempts: 0 });
    t.clock.advance(11_000);
    await runUntil(t, t.clock.now() + 60_000);
    expect(hits).toHaveLength(3);
    expect(await first.result).toBeUndefined();
  });

  it('refuses a malformed rate limit, quoting it', () => {
    expect(() => defineTask('x', { run: () => 1, rateLimit: '10 per minute' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('"10 per minute"') }));
    expect(() => defineTask('x', { run: () => 1, rateLimit: { tasks: 0, perMs: 1_000 } })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });
});
