import { next, withTry, type TaskError, type TaskRecord } from '../record.js';
import type { RetentionPolicy } from '../task.js';

// The executor's pure transitions (only the runner's bundle carries them).

/** pending (or running with an expired lease: its runner died, one more crash) → running, one more attempt. */
export const claim = (r: TaskRecord, now: number, owner: string, leaseMs: number): TaskRecord =>
  next(r, now, {
    status: 'running', attempts: r.attempts + 1, leaseOwner: owner, leaseUntil: now + leaseMs, due: now + leaseMs, limited: undefined,
    // Running already: its runner died during the try (its lease ran out).
    ...(r.status === 'running' ? { crashes: (r.crashes ?? 0) + 1, tries: withTry(r, { at: now, outcome: 'crashed' }) } : {}),
  });

/** running → running with a later lease. */
export const renew = (r: TaskRecord, now: number, leaseMs: number): TaskRecord =>
  next(r, now, { leaseUntil: now + leaseMs, due: now + leaseMs });

/** running → succeeded; leaves its lane. */
export const succeed = (r: TaskRecord, now: number, result: unknown, retention: RetentionPolicy): TaskRecord =>
  next(r, now, { status: 'succeeded', result, lastError: r.lastError, leaseOwner: undefined, leaseUntil: undefined, lane: undefined, due: undefined, purgeAt: now + retention.finishedMs });

/** running → pending, due again after `delayMs`; keeps its place at the head of its lane. */
export const retryLater = (r: TaskRecord, now: number, error: TaskError, delayMs: number): TaskRecord =>
  next(r, now, { status: 'pending', lastError: error, nextRunAt: now + delayMs, due: now + delayMs, leaseOwner: undefined, leaseUntil: undefined });

/**
 * running → pending after a try that could not reach the server: the attempt is given back and
 * counted as unreachable instead; keeps its place at the head of its lane.
 */
export const unreachableLater = (r: TaskRecord, now: number, error: TaskError, delayMs: number): TaskRecord =>
  next(r, now, {
    status: 'pending', attempts: Math.max(0, r.attempts - 1), unreachable: (r.unreachable ?? 0) + 1, lastError: error,
    nextRunAt: now + delayMs, due: now + delayMs, leaseOwner: undefined, leaseUntil: undefined,
  });

/** pending, waiting out an unreachable backoff → due now (the network is back). */
export const reviveNow = (r: TaskRecord, now: number): TaskRecord => next(r, now, { nextRunAt: now, due: now });

/** → failed; stays in its lane (holding back the tasks behind it) until retried or acknowledged. */
export const fail = (r: TaskRecord, now: number, error: TaskError): TaskRecord =>
  next(r, now, { status: 'failed', lastError: error, leaseOwner: undefined, leaseUntil: undefined, due: undefined });

/** running → pending without counting the attempt (the runner shut down before the handler finished). */
export const release = (r: TaskRecord, now: number): TaskRecord =>
  next(r, now, { status: 'pending', attempts: Math.max(0, r.attempts - 1), nextRunAt: now, due: now, leaseOwner: undefined, leaseUntil: undefined });

/**
 * → pending and held for its owner, who is not the one signed in: out of the due index (it costs
 * runners nothing) until its owner signs in again; keeps its place in its owner's lane, and a
 * batch member its batch (sent again as it was, under the same key).
 */
export const hold = (r: TaskRecord, now: number): TaskRecord =>
  next(r, now, { status: 'pending', due: undefined, leaseOwner: undefined, leaseUntil: undefined });
