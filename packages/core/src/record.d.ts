import type { RetentionPolicy } from './task.js';
/** Where a task is in its life. */
export type TaskStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled';
/** A failure as stored with the task. */
export interface TaskError {
    /** `PermanentError`/`RetryableError` code, `HTTP_STATUS`, `EXPIRED`, `UNKNOWN_TASK`... or the error's name. */
    readonly code: string;
    /** The error's message. */
    readonly message: string;
    /** True when retrying cannot help. */
    readonly permanent: boolean;
    /** When it happened (ms since the epoch). */
    readonly at: number;
    /** The HTTP status, for http tasks. */
    readonly status?: number;
    /** The start of the HTTP response body, for http tasks. */
    readonly body?: string;
}
/**
 * A task as every tab sees it: the stored record without the executor's bookkeeping.
 * Objects in a snapshot are frozen and replaced, never changed in place.
 */
export interface Task<Payload = unknown, Result = unknown> {
    /** A random UUID fixed at defer time. */
    readonly id: string;
    /** The commit order (a monotonic sequence); undefined until the task is persisted. */
    readonly seq: number | undefined;
    /** The task definition's name. */
    readonly name: string;
    /** The stored payload. */
    readonly payload: Payload;
    /** Where the task is in its life. */
    readonly status: TaskStatus;
    /** Attempts started so far. */
    readonly attempts: number;
    /** When it was deferred. */
    readonly createdAt: number;
    /** When its record last changed. */
    readonly updatedAt: number;
    /** When it may run next (pending tasks). */
    readonly nextRunAt: number;
    /** While running: when the runner's lease expires. */
    readonly leaseUntil: number | undefined;
    /** Tasks with the same order key run one at a time, in deferral order. */
    readonly orderKey: string | undefined;
    /** Sent with every attempt so the server applies the effect once. */
    readonly idempotencyKey: string;
    /** The last failure, if any. */
    readonly lastError: TaskError | undefined;
    /** The handler's result, once succeeded. */
    readonly result: Result | undefined;
    /** A revision counter: a tab keeps the highest revision it has seen. */
    readonly rev: number;
}
/** The stored record: a {@link Task} plus the executor's bookkeeping. Only `store.ts` writes it. */
export interface TaskRecord extends Omit<Task, 'seq'> {
    /** The primary key, given by IndexedDB's key generator at commit. */
    seq: number;
    /** Which executor holds the lease while running. */
    leaseOwner?: string;
    /** Set while the task takes part in its order key's lane (pending, running, failed). */
    lane?: string;
    /** Set when the executor must look at the task at that time (due, or lease expiry). */
    due?: number;
    /** Set when a finished task may be purged. */
    purgeAt?: number;
}
/** A record before commit (no seq yet). */
export type NewTaskRecord = Omit<TaskRecord, 'seq'>;
/** Checks a record read back from IndexedDB; returns why it is unusable, or undefined when it is fine. */
export declare function recordProblem(raw: unknown): string | undefined;
/** The public view of a record. */
export declare function toTask(r: TaskRecord): Task;
/** pending (or running with an expired lease) → running, one more attempt. */
export declare const claim: (r: TaskRecord, now: number, owner: string, leaseMs: number) => TaskRecord;
/** running → running with a later lease. */
export declare const renew: (r: TaskRecord, now: number, leaseMs: number) => TaskRecord;
/** running → succeeded; leaves its lane. */
export declare const succeed: (r: TaskRecord, now: number, result: unknown, retention: RetentionPolicy) => TaskRecord;
/** running → pending, due again after `delayMs`; keeps its place at the head of its lane. */
export declare const retryLater: (r: TaskRecord, now: number, error: TaskError, delayMs: number) => TaskRecord;
/** → failed; stays in its lane (holding back the tasks behind it) until retried or acknowledged. */
export declare const fail: (r: TaskRecord, now: number, error: TaskError) => TaskRecord;
/** running → pending without counting the attempt (the runner shut down before the handler finished). */
export declare const release: (r: TaskRecord, now: number) => TaskRecord;
/** pending → cancelled; leaves its lane. */
export declare const cancel: (r: TaskRecord, now: number, retention: RetentionPolicy) => TaskRecord;
/** failed → pending with a fresh set of attempts, due now (`due` is set by the store if it heads its lane). */
export declare const requeue: (r: TaskRecord, now: number) => TaskRecord;
/** Makes a stored failure from anything a handler threw. */
export declare function toTaskError(error: unknown, now: number, permanent: boolean): TaskError;
//# sourceMappingURL=record.d.ts.map