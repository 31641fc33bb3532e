/**
 * Exponential backoff with full jitter: after the `attempts`-th failed attempt the next run is
 * drawn uniformly from [0, min(maxDelayMs, baseDelayMs * 2^(attempts-1))]. Full jitter spreads
 * the retries of many clients that failed together (a server coming back up).
 */
export function backoffDelay(attempts, policy, random = Math.random) {
    const exponent = Math.min(Math.max(attempts, 1) - 1, 52);
    const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
    return Math.floor(random() * ceiling);
}
/**
 * The delay before the next attempt: the handler's retry-after hint when it gave one (a server's
 * `Retry-After` is a promise the server made, so it is honoured even above `maxDelayMs`),
 * otherwise {@link backoffDelay}.
 */
export function retryDelay(attempts, policy, retryAfterMs, random = Math.random) {
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0)
        return Math.ceil(retryAfterMs);
    return backoffDelay(attempts, policy, random);
}
/**
 * Reads an HTTP `Retry-After` value (delay-seconds or an HTTP-date) as milliseconds from `now`.
 * Returns undefined for a missing or unreadable value.
 */
export function parseRetryAfter(value, now) {
    if (value == null)
        return undefined;
    const trimmed = value.trim();
    if (/^\d+$/.test(trimmed))
        return Number(trimmed) * 1000;
    const at = Date.parse(trimmed);
    return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
//# sourceMappingURL=backoff.js.map