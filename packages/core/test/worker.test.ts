import { describe, expect, it } from 'vitest';
import { syncVerdict } from '../src/sync-verdict.js';
import type { DrainSummary } from '../src/executor.js';

const summary = (over: Partial<DrainSummary>): DrainSummary => ({
  ran: 1, succeeded: 0, retried: 0, failed: 0, quarantined: 0, purged: 0, dueNow: 0, nextDueAt: undefined, stopped: 'idle', ...over,
});
const now = 1_000_000;

describe('syncVerdict: how a sync event ends', () => {
  it('resolves when nothing is left', () => {
    expect(syncVerdict(summary({}), now, false, false)).toBe('done');
  });
  it('asks the browser to retry when work is left and no page can wake the worker', () => {
    expect(syncVerdict(summary({ nextDueAt: now + 10_000 }), now, false, false)).toBe('browser-retry');
    expect(syncVerdict(summary({ dueNow: 3, stopped: 'deadline' }), now, false, true)).toBe('browser-retry');
  });
  it('leaves an open page to wake the worker when the next retry comes before the browser’s own', () => {
    expect(syncVerdict(summary({ nextDueAt: now + 60_000 }), now, false, true)).toBe('done');
    expect(syncVerdict(summary({ nextDueAt: now + 10 * 60_000 }), now, false, true)).toBe('browser-retry');
  });
  it('stopped offline: resolves when a sync for the network\'s return was registered, rejects when the browser refused it (no window open)', () => {
    const offline = summary({ dueNow: 4, stopped: 'offline' });
    expect(syncVerdict(offline, now, false, true, true)).toBe('done');
    expect(syncVerdict(offline, now, false, false, false)).toBe('browser-retry');
    expect(syncVerdict(offline, now, true, false, false)).toBe('done');
  });
  it('never rejects the last chance: the work waits for the next wake-up', () => {
    expect(syncVerdict(summary({ nextDueAt: now + 10_000, dueNow: 2 }), now, true, false)).toBe('done');
  });
});
