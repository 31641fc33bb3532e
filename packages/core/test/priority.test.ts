// Priorities (task.ts `priority`, store/pump.ts `dueInOrder`): due tasks are claimed highest
// priority first; a lane, a chain and a batch keep their order; and the task due longest takes one
// slot of every claim, so that no priority waits for ever.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { defineTask } from '../src/index.js';
import { createTestClient, type TestClient } from '../src/testing/node.js';

const order: string[] = [];
const run = (p: { name: string }) => { order.push(p.name); return p.name; };
const telemetry = defineTask('telemetry', { run, priority: 1 });
const payment = defineTask('payment', { run, priority: 9 });
const plain = defineTask('plain', { run });
const open: TestClient[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); order.length = 0; });
const client = (concurrency: number) => {
  const t = createTestClient({ tasks: [telemetry, payment, plain], concurrency });
  open.push(t);
  return t;
};

describe('priorities', () => {
  it('after an outage with 2,000 low-priority tasks queued, a new payment is sent first', async () => {
    const t = client(4);
    t.offline();
    for (let i = 0; i < 2_000; i++) t.client.defer(telemetry, { name: `t${i}` });
    await t.drain();
    t.clock.advance(3_600_000);
    const pay = t.client.defer(payment, { name: 'pay' });
    await pay.persisted;
    t.online();
    await t.drain();
    expect(order[0]).toBe('pay');
    expect(order).toHaveLength(2_001);
    // The low-priority queue itself kept its order.
    expect(order.filter((n) => n !== 'pay')).toEqual(Array.from({ length: 2_000 }, (_, i) => `t${i}`));
  });

  it('a priority never reorders a lane, never runs a child before its parent', async () => {
    const t = client(4);
    t.offline();
    t.client.defer(telemetry, { name: 'lane-1' }, { orderKey: 'cart' });
    t.client.defer(payment, { name: 'lane-2' }, { orderKey: 'cart' });
    const parent = t.client.defer(telemetry, { name: 'parent' });
    t.client.defer(payment, { name: 'child' }, { after: [parent] });
    t.client.defer(plain, { name: 'plain' });
    await t.drain();
    t.online();
    await t.settle();
    expect(order.indexOf('lane-1')).toBeLessThan(order.indexOf('lane-2'));
    expect(order.indexOf('parent')).toBeLessThan(order.indexOf('child'));
    // Among what was due at once: the plain task (5) before the low ones (1).
    expect(order.indexOf('plain')).toBeLessThan(order.indexOf('parent'));
  });

  it('a stream of payments never starves the task due longest: it takes a slot of each claim', async () => {
    const t = client(1);
    t.offline();
    t.client.defer(telemetry, { name: 'old' });
    for (let i = 0; i < 20; i++) t.client.defer(payment, { name: `p${i}` });
    await t.drain();
    t.online();
    await t.drain();
    // The first claim (a runner claims a few tasks ahead of its free slots) holds it: 'old' runs
    // among the first few, not after the twenty payments.
    expect(order[0]).toBe('p0');
    expect(order.indexOf('old')).toBeGreaterThan(0);
    expect(order.indexOf('old')).toBeLessThan(4);
    expect(order).toHaveLength(21);
  });

  it('refuses a priority outside 0 to 9, quoting it', () => {
    expect(() => defineTask('x', { run, priority: 10 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('got 10') }));
    expect(() => defineTask('x', { run, priority: 1.5 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });
});
