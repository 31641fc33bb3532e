import type { RetryPolicy } from './task.js';

/**
 * Exponential backoff with full jitter: after the `attempts`-th failed attempt the next run is
 * drawn uniformly from [1, min(maxDelayMs, baseDelayMs * 2^(attempts-1))] ms. Full jitter spreads
 * the retries of many clients that failed together (a server coming back up); the floor of 1 ms
 * keeps a failed task out of the drain that just ran it, whatever the draw.
 */
export function backoffDelay(attempts: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempts, 1) - 1, 52);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return Math.max(1, Math.floor(random() * ceiling));
}

/**
 * The delay after the `count`-th try that could not reach the server: the same exponential
 * backoff with full jitter, capped at `maxUnreachableDelayMs`, so a task comes back within
 * that cap of the network returning even when no one says it has.
 */
export function unreachableDelay(count: number, policy: RetryPolicy, random: () => number = Math.random): number {
  return backoffDelay(count, { ...policy, maxDelayMs: Math.min(policy.maxDelayMs, policy.maxUnreachableDelayMs) }, random);
}

/**
 * The delay before the next attempt: the handler's retry-after hint when it gave one (a server's
 * `Retry-After` is a promise the server made, so it is honoured even above `maxDelayMs`),
 * otherwise {@link backoffDelay}.
 */
export function retryDelay(
  attempts: number,
  policy: RetryPolicy,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0) return Math.ceil(retryAfterMs);
  return backoffDelay(attempts, policy, random);
}

/**
 * Reads an HTTP `Retry-After` value (delay-seconds or an HTTP-date) as milliseconds from `now`.
 * Returns undefined for a missing or unreadable value.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value == null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
