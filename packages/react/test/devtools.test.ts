// The devtools panel's rules, without a browser: why a task waits, the timeline, filters and chains.
import { describe, expect, it } from 'vitest';
import type { Task } from '@halfsync/core';
import { chainRows } from '../src/devtools/chains.js';
import { matches, NO_FILTER } from '../src/devtools/filter.js';
import { timeline } from '../src/devtools/timeline.js';
import { lanesOf, waitOf, type WaitContext } from '../src/devtools/waiting.js';

const NOW = 1_800_000_000_000;
let seq = 0;
const task = (over: Partial<Task> = {}): Task => ({
  id: `t${++seq}`, seq, name: 'order', payload: { n: seq }, status: 'pending', attempts: 0, unreachable: 0,
  createdAt: NOW - 60_000, updatedAt: NOW - 60_000, nextRunAt: NOW - 28_000, leaseUntil: undefined, orderKey: undefined,
  idempotencyKey: `k${seq}`, lastError: undefined, result: undefined, rev: 1, after: undefined, meta: undefined, tries: [], limitedUntil: undefined, every: undefined,
  supersede: undefined, supersededBy: undefined, owner: 'ada', ...over,
});
const ctx = (tasks: Task[], over: Partial<WaitContext> = {}): WaitContext => ({
  byId: new Map(tasks.map((t) => [t.id, t])), lanes: lanesOf(tasks), owner: 'ada', online: true, now: NOW, ...over,
});

describe('why a pending task waits', () => {
  it('says whose turn it waits for, not "28s ago", when another user deferred it', () => {
    const t = task({ owner: 'grace' });
    expect(waitOf(t, ctx([t]))).toEqual({ kind: 'owner', text: 'waits for grace to sign in' });
  });

  it('says it runs after its parents while a parent has not succeeded', () => {
    const parent = task({ status: 'running' });
    const child = task({ after: [parent.id] });
    expect(waitOf(child, ctx([parent, child]))?.kind).toBe('parents');
    const done = { ...parent, status: 'succeeded' as const };
    expect(waitOf(child, ctx([done, child]))?.kind).toBe('due');
  });

  it('says it is behind its lane\'s head while an earlier task of its order key is unfinished, or failed and holding it', () => {
    const head = task({ orderKey: 'sales', status: 'running' });
    const next = task({ orderKey: 'sales' });
    expect(waitOf(next, ctx([head, next]))).toEqual({ kind: 'lane', text: "behind its lane's head (sales)" });
    const failedHead = { ...head, status: 'failed' as const };
    expect(waitOf(next, ctx([failedHead, next]))?.kind).toBe('lane');
    expect(waitOf(head, ctx([head, next]))).toBeUndefined();
  });

  it('says it waits for the network when the browser is offline or the last try could not reach the server', () => {
    const t = task();
    expect(waitOf(t, ctx([t], { online: false }))?.kind).toBe('offline');
    const u = task({ nextRunAt: NOW + 60_000, lastError: { code: 'NETWORK_ERROR', message: 'x', permanent: false, kind: 'unreachable', at: NOW } });
    expect(waitOf(u, ctx([u]))).toEqual({ kind: 'offline', text: 'waits for the network' });
  });

  it('says when a scheduled task runs, and "due now" rather than a past time', () => {
    const later = task({ nextRunAt: NOW + 12_000, attempts: 2 });
    expect(waitOf(later, ctx([later]))).toEqual({ kind: 'scheduled', text: 'retry in 12s' });
    const daily = task({ every: 86_400_000, nextRunAt: NOW + 6 * 3_600_000 });
    expect(waitOf(daily, ctx([daily]))).toEqual({ kind: 'periodic', text: 'every 24h: next run in 6h' });
    const quarter = task({ every: 900_000, nextRunAt: NOW + 840_000 });
    expect(waitOf(quarter, ctx([quarter]))).toEqual({ kind: 'periodic', text: 'every 15m: next run in 14m' });
    const due = task();
    expect(waitOf(due, ctx([due]))).toEqual({ kind: 'due', text: 'due now' });
    expect(waitOf(task({ status: 'succeeded' }), ctx([]))).toBeUndefined();
  });
});

describe('the timeline', () => {
  it('counts per minute the tasks queued at its end and the outcomes during it, for the last hour', () => {
    const tasks = [
      task({ createdAt: NOW - 10 * 60_000, status: 'pending' }),
      task({ createdAt: NOW - 10 * 60_000, updatedAt: NOW - 5 * 60_000, status: 'succeeded' }),
      task({ createdAt: NOW - 3 * 60_000, updatedAt: NOW - 2 * 60_000, status: 'failed' }),
      task({ createdAt: NOW - 3 * 3_600_000, updatedAt: NOW - 3 * 3_600_000 + 1, status: 'succeeded' }),
    ];
    const minutes = timeline(tasks, NOW);
    expect(minutes).toHaveLength(60);
    const at = (ago: number) => minutes[59 - ago]!;
    expect(at(11).depth).toBe(0);
    expect(at(10).depth).toBe(2);
    expect(at(5)).toMatchObject({ depth: 1, succeeded: 1, failed: 0 });
    expect(at(3).depth).toBe(2);
    expect(at(2)).toMatchObject({ depth: 1, failed: 1 });
    expect(at(0).depth).toBe(1);
    expect(minutes.reduce((n, m) => n + m.succeeded, 0)).toBe(1);
  });
});

describe('filters and chains', () => {
  it('filters by status (or unfinished), task, owner and every word of the free text', () => {
    const a = task({ name: 'send-email', payload: { to: 'ada@example.com' }, status: 'failed', lastError: { code: 'HTTP_500', message: 'busy', permanent: false, at: NOW } });
    const b = task({ name: 'submit-order', owner: undefined, status: 'succeeded', meta: { order: 'HS-1' } });
    expect(matches(a, { ...NO_FILTER, status: 'unfinished' })).toBe(true);
    expect(matches(b, { ...NO_FILTER, status: 'unfinished' })).toBe(false);
    expect(matches(a, { ...NO_FILTER, task: 'submit-order' })).toBe(false);
    expect(matches(b, { ...NO_FILTER, owner: '-' })).toBe(true);
    expect(matches(a, { ...NO_FILTER, text: 'ADA@example http_500' })).toBe(true);
    expect(matches(b, { ...NO_FILTER, text: 'hs-1' })).toBe(true);
    expect(matches(b, { ...NO_FILTER, text: 'hs-1 nothing' })).toBe(false);
  });

  it('lists newest chains first, each task\'s dependents right after it', () => {
    const p = task();
    const c = task({ after: [p.id] });
    const q = task();
    expect(chainRows([p, c, q]).map((r) => [r.task.id, r.depth])).toEqual([[q.id, 0], [p.id, 0], [c.id, 1]]);
  });
});
