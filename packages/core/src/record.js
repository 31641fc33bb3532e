const STATUSES = new Set(['pending', 'running', 'succeeded', 'failed', 'cancelled']);
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const optNum = (v) => v === undefined || isNum(v);
const optStr = (v) => v === undefined || typeof v === 'string';
/** Checks a record read back from IndexedDB; returns why it is unusable, or undefined when it is fine. */
export function recordProblem(raw) {
    if (typeof raw !== 'object' || raw === null)
        return 'not an object';
    const r = raw;
    if (!isNum(r.seq))
        return 'seq is not a number';
    if (typeof r.id !== 'string' || r.id === '')
        return 'id is not a non-empty string';
    if (typeof r.name !== 'string' || r.name === '')
        return 'name is not a non-empty string';
    if (typeof r.status !== 'string' || !STATUSES.has(r.status))
        return `status ${JSON.stringify(r.status)} is not a task status`;
    if (!Number.isInteger(r.attempts) || r.attempts < 0)
        return 'attempts is not a non-negative integer';
    if (!isNum(r.createdAt) || !isNum(r.updatedAt) || !isNum(r.nextRunAt))
        return 'createdAt, updatedAt or nextRunAt is not a number';
    if (typeof r.idempotencyKey !== 'string' || r.idempotencyKey === '')
        return 'idempotencyKey is not a non-empty string';
    if (!isNum(r.rev))
        return 'rev is not a number';
    if (!optStr(r.orderKey) || !optStr(r.lane) || !optStr(r.leaseOwner))
        return 'orderKey, lane or leaseOwner is not a string';
    if (!optNum(r.due) || !optNum(r.purgeAt) || !optNum(r.leaseUntil))
        return 'due, purgeAt or leaseUntil is not a number';
    if (r.status === 'running' && !isNum(r.leaseUntil))
        return 'a running task has no lease';
    if (r.lastError !== undefined && (typeof r.lastError !== 'object' || r.lastError === null))
        return 'lastError is not an object';
    return undefined;
}
/** The public view of a record. */
export function toTask(r) {
    return Object.freeze({
        id: r.id, seq: r.seq, name: r.name, payload: r.payload, status: r.status, attempts: r.attempts,
        createdAt: r.createdAt, updatedAt: r.updatedAt, nextRunAt: r.nextRunAt, leaseUntil: r.leaseUntil,
        orderKey: r.orderKey, idempotencyKey: r.idempotencyKey, lastError: r.lastError, result: r.result, rev: r.rev,
    });
}
// The pure transitions. Each returns a new record with rev and updatedAt moved on; store.ts
// decides lane heads (`due` of followers) and writes the result in one transaction.
const next = (r, now, patch) => {
    const out = { ...r, ...patch, rev: r.rev + 1, updatedAt: now };
    for (const key of Object.keys(patch))
        if (patch[key] === undefined)
            delete out[key];
    return out;
};
/** pending (or running with an expired lease) → running, one more attempt. */
export const claim = (r, now, owner, leaseMs) => next(r, now, { status: 'running', attempts: r.attempts + 1, leaseOwner: owner, leaseUntil: now + leaseMs, due: now + leaseMs });
/** running → running with a later lease. */
export const renew = (r, now, leaseMs) => next(r, now, { leaseUntil: now + leaseMs, due: now + leaseMs });
/** running → succeeded; leaves its lane. */
export const succeed = (r, now, result, retention) => next(r, now, { status: 'succeeded', result, lastError: r.lastError, leaseOwner: undefined, leaseUntil: undefined, lane: undefined, due: undefined, purgeAt: now + retention.finishedMs });
/** running → pending, due again after `delayMs`; keeps its place at the head of its lane. */
export const retryLater = (r, now, error, delayMs) => next(r, now, { status: 'pending', lastError: error, nextRunAt: now + delayMs, due: now + delayMs, leaseOwner: undefined, leaseUntil: undefined });
/** → failed; stays in its lane (holding back the tasks behind it) until retried or acknowledged. */
export const fail = (r, now, error) => next(r, now, { status: 'failed', lastError: error, leaseOwner: undefined, leaseUntil: undefined, due: undefined });
/** running → pending without counting the attempt (the runner shut down before the handler finished). */
export const release = (r, now) => next(r, now, { status: 'pending', attempts: Math.max(0, r.attempts - 1), nextRunAt: now, due: now, leaseOwner: undefined, leaseUntil: undefined });
/** pending → cancelled; leaves its lane. */
export const cancel = (r, now, retention) => next(r, now, { status: 'cancelled', lane: undefined, due: undefined, purgeAt: now + retention.finishedMs });
/** failed → pending with a fresh set of attempts, due now (`due` is set by the store if it heads its lane). */
export const requeue = (r, now) => next(r, now, { status: 'pending', attempts: 0, nextRunAt: now, due: now });
/** Makes a stored failure from anything a handler threw. */
export function toTaskError(error, now, permanent) {
    const e = (typeof error === 'object' && error !== null ? error : {});
    const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'Error';
    const message = typeof e.message === 'string' ? e.message : String(error);
    const out = { code, message, permanent, at: now };
    if (typeof e.status === 'number')
        out.status = e.status;
    if (typeof e.body === 'string')
        out.body = e.body;
    return out;
}
//# sourceMappingURL=record.js.map