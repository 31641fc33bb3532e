import type { RetryPolicy } from './task.js';
/**
 * Exponential backoff with full jitter: after the `attempts`-th failed attempt the next run is
 * drawn uniformly from [0, min(maxDelayMs, baseDelayMs * 2^(attempts-1))]. Full jitter spreads
 * the retries of many clients that failed together (a server coming back up).
 */
export declare function backoffDelay(attempts: number, policy: RetryPolicy, random?: () => number): number;
/**
 * The delay before the next attempt: the handler's retry-after hint when it gave one (a server's
 * `Retry-After` is a promise the server made, so it is honoured even above `maxDelayMs`),
 * otherwise {@link backoffDelay}.
 */
export declare function retryDelay(attempts: number, policy: RetryPolicy, retryAfterMs: number | undefined, random?: () => number): number;
/**
 * Reads an HTTP `Retry-After` value (delay-seconds or an HTTP-date) as milliseconds from `now`.
 * Returns undefined for a missing or unreadable value.
 */
export declare function parseRetryAfter(value: string | null | undefined, now: number): number | undefined;
//# sourceMappingURL=backoff.d.ts.map