import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestClient, type TestClient } from '../src/testing/node.js';
import { defineTask, PermanentError, RetryableError } from '../src/index.js';

const open: TestClient[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); });

describe('createTestClient (Node, manual clock)', () => {
  it('runs tasks only on drain, and plays retries out with settle()', async () => {
    const answers = [503, 503, 200];
    const calls: number[] = [];
    const charge = defineTask('charge', {
      run(p: { cents: number }, ctx) {
        calls.push(t.clock.now());
        const status = answers.shift()!;
        if (status !== 200) throw new RetryableError(`HTTP ${status}`);
        return { charged: p.cents, key: ctx.idempotencyKey };
      },
      retry: { baseDelayMs: 1_000, maxDelayMs: 60_000 },
    });
    const t = createTestClient({ tasks: [charge], startAt: 1_000_000 });
    open.push(t);
    const h = t.client.defer(charge, { cents: 500 });
    await h.persisted;
    expect(t.client.get(h.id)?.status).toBe('pending');
    expect(calls).toEqual([]);
    const [task] = await t.settle();
    expect(task).toMatchObject({ status: 'succeeded', attempts: 3, result: { charged: 500, key: h.id } });
    expect(calls[0]).toBe(1_000_000);
    // The clock only moved as far as the backoff asked; no real time was waited.
    expect(calls[2]! - calls[0]!).toBeLessThanOrEqual(1_000 + 2_000);
    expect(await h.result).toMatchObject({ charged: 500 });
  });

  it('reports a permanent failure the way a page would see it', async () => {
    const refuse = defineTask('refuse', { run: () => { throw new PermanentError('card declined', { code: 'DECLINED' }); } });
    const t = createTestClient({ tasks: [refuse] });
    open.push(t);
    const h = t.client.defer(refuse, {});
    await t.settle();
    await expect(h.result).rejects.toMatchObject({ code: 'TASK_FAILED', details: { lastError: { code: 'DECLINED' } } });
  });

  it('keeps the order of an order key across retries', async () => {
    const seen: number[] = [];
    let failFirst = true;
    const stat = defineTask('stat', {
      run: (p: { i: number }) => { if (p.i === 0 && failFirst) { failFirst = false; throw new Error('busy'); } seen.push(p.i); },
      orderKey: 'stats',
    });
    const t = createTestClient({ tasks: [stat] });
    open.push(t);
    for (let i = 0; i < 4; i++) t.client.defer(stat, { i });
    await t.settle();
    expect(seen).toEqual([0, 1, 2, 3]);
  });
});
