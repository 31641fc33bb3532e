/** How a task is retried after a retryable failure. */
export interface RetryPolicy {
    /** Attempts in all, the first included, before the task fails for good. Default 8. */
    readonly maxAttempts: number;
    /** The backoff ceiling of the first retry, in ms. Default 1 000. */
    readonly baseDelayMs: number;
    /** The largest backoff, in ms. Default 300 000 (5 minutes). */
    readonly maxDelayMs: number;
}
/** How long finished tasks are kept, and how long a task may keep trying. */
export interface RetentionPolicy {
    /** How long a `succeeded` or `cancelled` task stays readable before it is purged, in ms. Default 1 day. */
    readonly finishedMs: number;
    /** A task older than this when it comes up to run fails with code `EXPIRED`, in ms. Default 7 days. */
    readonly maxAgeMs: number;
}
/** What a handler learns about the run it is in. */
export interface TaskContext {
    /** The task's id (the one `defer` returned). */
    readonly id: string;
    /** 1 on the first run, 2 on the first retry, and so on. A run cut short by a crash counts. */
    readonly attempt: number;
    /** Fixed at defer time and the same on every attempt: send it so the server applies the effect once. */
    readonly idempotencyKey: string;
    /** Fires when the runner loses the task's lease or shuts down; stop work and let it throw. */
    readonly signal: AbortSignal;
    /** True when the browser says this is its last Background Sync attempt for now. */
    readonly lastChance: boolean;
    /** The order key the task was deferred with, if any. */
    readonly orderKey: string | undefined;
    /** When the task was deferred (ms since the epoch). */
    readonly createdAt: number;
}
/** The options of {@link defineTask}. */
export interface TaskOptions<Payload, Result> {
    /**
     * The async half: runs in the service worker (or the page executor) with the stored payload.
     * Return the result (it is stored, so it must be structured-cloneable); throw
     * {@link PermanentError} when retrying cannot help; anything else thrown is retried.
     */
    run(payload: Payload, ctx: TaskContext): Result | Promise<Result>;
    /** Checks a payload on the main thread before it is written; throw to refuse it. */
    validate?(payload: Payload): void;
    /** Retry policy; missing fields take the defaults. */
    retry?: Partial<RetryPolicy>;
    /**
     * Tasks that share an order key run one at a time, in deferral order. A string puts every task
     * of this definition in one lane; a function picks the lane per payload. `defer`'s own
     * `orderKey` option wins over both.
     */
    orderKey?: string | ((payload: Payload) => string | undefined);
    /** Retention policy; missing fields take the defaults. */
    retention?: Partial<RetentionPolicy>;
}
/**
 * A named unit of deferred work, imported by the page (to defer it) and by the worker (to run it).
 * Created by {@link defineTask}; the type parameters flow to `defer` and to `handle.result`.
 */
export interface TaskDefinition<Payload = unknown, Result = unknown> {
    /** The stored name; keep it stable across deployments, tasks already queued refer to it. */
    readonly name: string;
    /** The handler and policies. */
    readonly options: TaskOptions<Payload, Result>;
    /** Resolved retry policy. */
    readonly retry: RetryPolicy;
    /** Resolved retention policy. */
    readonly retention: RetentionPolicy;
    /** Type-only brand; never set at run time. */
    readonly __types?: {
        payload: Payload;
        result: Result;
    };
}
/** The payload type of a task definition. */
export type PayloadOf<T> = T extends TaskDefinition<infer P, unknown> ? P : never;
/** The result type of a task definition. */
export type ResultOf<T> = T extends TaskDefinition<unknown, infer R> ? R : never;
/** A task definition of any payload and result, for lists of tasks. */
export type AnyTaskDefinition = TaskDefinition<any, any>;
export declare const DEFAULT_RETRY: RetryPolicy;
export declare const DEFAULT_RETENTION: RetentionPolicy;
/**
 * Defines a task: its name, the handler that does the async half, and its retry, ordering and
 * retention policy. Define each task once in a module that both the page and the worker import.
 *
 * @example
 * ```ts
 * export const sendEmail = defineTask('send-email', {
 *   async run(mail: { to: string; subject: string }, ctx) {
 *     const res = await fetch('/api/mail', { method: 'POST', body: JSON.stringify(mail),
 *       headers: { 'Idempotency-Key': ctx.idempotencyKey }, signal: ctx.signal });
 *     if (res.status === 400) throw new PermanentError(await res.text());
 *     if (!res.ok) throw new Error(`mail server answered ${res.status}`);
 *     return { sentAt: Date.now() };
 *   },
 *   retry: { maxAttempts: 5 },
 * });
 * ```
 */
export declare function defineTask<Payload, Result>(name: string, options: TaskOptions<Payload, Result>): TaskDefinition<Payload, Result>;
/** Indexes task definitions by name, refusing duplicates. */
export declare function taskRegistry(tasks: readonly AnyTaskDefinition[]): Map<string, AnyTaskDefinition>;
//# sourceMappingURL=task.d.ts.map