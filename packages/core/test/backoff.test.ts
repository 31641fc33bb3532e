import { describe, expect, it } from 'vitest';
import { backoffDelay, parseRetryAfter, retryDelay } from '../src/backoff.js';
import { DEFAULT_RETRY } from '../src/task.js';

const policy = { maxAttempts: 10, baseDelayMs: 1_000, maxDelayMs: 60_000, maxUnreachableDelayMs: 30_000 };

describe('backoff', () => {
  it('draws from [1, base * 2^(attempts-1)] (full jitter), never 0, so a failed task waits for a later drain', () => {
    expect(backoffDelay(1, policy, () => 0)).toBe(1);
    expect(backoffDelay(1, { ...policy, baseDelayMs: 0 }, () => 0.7)).toBe(1);
    expect(backoffDelay(1, policy, () => 0.999999)).toBe(999);
    expect(backoffDelay(2, policy, () => 0.999999)).toBe(1_999);
    expect(backoffDelay(4, policy, () => 0.5)).toBe(4_000);
  });

  it('never exceeds maxDelayMs, even after many attempts', () => {
    for (const attempts of [7, 8, 30, 1_000]) {
      expect(backoffDelay(attempts, policy, () => 0.999999)).toBeLessThan(policy.maxDelayMs);
    }
  });

  it('stays within bounds for random draws', () => {
    for (let i = 0; i < 1_000; i++) {
      const attempts = 1 + (i % 12);
      const d = backoffDelay(attempts, DEFAULT_RETRY);
      expect(d).toBeGreaterThanOrEqual(1);
      expect(d).toBeLessThanOrEqual(Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** (attempts - 1)));
    }
  });

  it('honours a retry-after hint over the backoff, even above maxDelayMs', () => {
    expect(retryDelay(1, policy, 5_000, () => 0)).toBe(5_000);
    expect(retryDelay(1, policy, 120_000, () => 0)).toBe(120_000);
    expect(retryDelay(3, policy, undefined, () => 0.5)).toBe(2_000);
    expect(retryDelay(3, policy, Number.NaN, () => 0.5)).toBe(2_000);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});
