import { HalfsyncError } from './errors.js';
import { rateLimitOf, type RateLimit, type RateLimitOptions } from './rate-limit.js';

export type { RateLimit, RateLimitOptions } from './rate-limit.js';
import type { TaskMeta } from './record.js';

/**
 * How a task is retried. Failures come in three kinds:
 * - *unreachable*: the request could not be made (offline, DNS, connection refused or reset, a
 *   `fetch` TypeError, an `UnreachableError`). Never counted as an attempt; retried after a
 *   backoff capped at `maxUnreachableDelayMs`, and at once when the network returns.
 * - *transient*: the server answered but not yet (5xx, 408, 425, 429, a timeout, a
 *   `RetryableError`, any other thrown value). Counted; retried with backoff until
 *   `maxAttempts` or the task's `retention.maxAgeMs`.
 * - *permanent*: a `PermanentError` (the HTTP task: other 4xx). Fails the task at once.
 */
export interface RetryPolicy {
  /**
   * Attempts in all, the first included, before a task that keeps failing transiently fails for
   * good. Default `Infinity`: transient failures are retried until the task is older than
   * `retention.maxAgeMs` (7 days), so an outage of hours or days loses nothing.
   */
  readonly maxAttempts: number;
  /** The backoff ceiling of the first retry, in ms. Default 1 000. */
  readonly baseDelayMs: number;
  /** The largest backoff after a transient failure, in ms. Default 300 000 (5 minutes). */
  readonly maxDelayMs: number;
  /** The largest backoff after an unreachable failure, in ms (never above `maxDelayMs`). Default 30 000. */
  readonly maxUnreachableDelayMs: number;
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
  /**
   * 1 on the first run, 2 on the first retry, and so on. A run cut short by a crash counts; a try
   * that could not reach the server (offline, connection refused) does not (see `Task.unreachable`).
   */
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
  /** The results of the tasks this one runs after (`defer`'s `after`), in that order. */
  readonly parentResults: readonly unknown[];
  /** The same results by parent task id. */
  readonly parents: Readonly<Record<string, unknown>>;
  /**
   * The result of the first parent of definition `task` (undefined when there is none): typed by
   * the definition, so a handler reads the order its label is for as the order task returned it.
   */
  resultOf<P, R>(task: TaskDefinition<P, R>): R | undefined;
  /** The app's metadata, as deferred. */
  readonly meta: TaskMeta | undefined;
  /** Whose action this is (the id given to `signIn`; undefined for work deferred signed out): pick that user's credentials. */
  readonly owner: string | undefined;
}

/** What a batch handler learns about the run (see {@link defineBatchTask}). */
export interface BatchContext extends Omit<TaskContext, 'id' | 'parentResults' | 'parents' | 'resultOf' | 'meta'> {
  /** The members' task ids, in the order of the payloads. */
  readonly ids: readonly string[];
  /** The members' metadata, in the order of the payloads. */
  readonly metas: ReadonlyArray<TaskMeta | undefined>;
  /** The batch's own key (the same when a batch cut short is sent again): send it as the request's `Idempotency-Key`. */
  readonly idempotencyKey: string;
}

/** What a failed head does to the tasks behind it in its lane: `hold` them, `skip` past it, or `fail` them too. */
export type LaneFailurePolicy = 'hold' | 'skip' | 'fail';

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
  /**
   * When a task of this definition fails for good at the head of its order-key lane: `hold` the
   * tasks behind it until it is retried, cancelled or acknowledged (default), `skip` past it (a
   * telemetry lane never blocks), or `fail` them too (code `LANE_FAILED`).
   */
  laneFailure?: LaneFailurePolicy;
  /** Whether `defer` may give tasks of this definition a `supersede` key (latest wins). Default true. */
  supersede?: boolean;
  /**
   * From 0 (lowest) to 9 (highest), default 5: due tasks are claimed highest priority first (a
   * payment before a day's telemetry). A priority never reorders a lane or runs a child before its
   * parents, and never starves a lower one: of each claim, one slot goes to the task due longest.
   */
  priority?: number;
  /**
   * At most this many runs of this definition's tasks in a period, across the worker, every tab's
   * runner and restarts: `'60/m'` (per `s`, `m`, `h` or `d`), or `{ tasks, perMs, burst? }`
   * (`burst`, default 1: how many may start at once after a quiet period). A task over the limit
   * waits, pending, for the next run (`task.limitedUntil`), without using an attempt; a
   * `Retry-After` its server sends holds every task of the definition until then.
   */
  rateLimit?: string | RateLimitOptions;
}


/** The options a definition holds: those of {@link defineTask}, and a batch task's own, set only by {@link defineBatchTask}. */
export interface DefinedOptions<Payload, Result> extends TaskOptions<Payload, Result> {
  /** Payloads are run in batches. */
  readonly batch?: BatchOptions;
  /** The batch handler. */
  runBatch?(payloads: readonly Payload[], ctx: BatchContext): BatchOutput<Result> | Promise<BatchOutput<Result>>;
}

/** How a batch task gathers its payloads. */
export interface BatchOptions {
  /** The most payloads in one batch. */
  readonly max: number;
  /** How long the first payload waits for others, in ms. Default 0 (what is queued when it runs). */
  readonly waitMs?: number;
}

/**
 * What a batch handler returns: one entry per payload, in order. A value is that member's result;
 * an `Error` is that member's failure (a `PermanentError`, a `RetryableError`...), so a partial
 * success is expressed member by member. Throwing fails (or retries) every member.
 */
export type BatchOutput<Result> = ReadonlyArray<Result | Error>;

/**
 * A named unit of deferred work, imported by the page (to defer it) and by the worker (to run it).
 * Created by {@link defineTask}; the type parameters flow to `defer` and to `handle.result`.
 */
export interface TaskDefinition<Payload = unknown, Result = unknown> {
  /** The stored name; keep it stable across deployments, tasks already queued refer to it. */
  readonly name: string;
  /** The handler and policies. */
  readonly options: DefinedOptions<Payload, Result>;
  /** Resolved retry policy. */
  readonly retry: RetryPolicy;
  /** Resolved retention policy. */
  readonly retention: RetentionPolicy;
  /** Resolved rate limit, if it has one. */
  readonly rateLimit?: RateLimit;
  /** Type-only brand; never set at run time. */
  readonly __types?: { payload: Payload; result: Result };
}

/** A definition `defer` takes: any but a periodic one (its runs are made by its schedule). */
export type DeferrableTask<Payload, Result> = TaskDefinition<Payload, Result> & { readonly schedule?: undefined };

/** The payload type of a task definition. */
export type PayloadOf<T> = T extends TaskDefinition<infer P, unknown> ? P : never;
/** The result type of a task definition. */
export type ResultOf<T> = T extends TaskDefinition<unknown, infer R> ? R : never;

/** A task definition of any payload and result, for lists of tasks. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- variance: any definition must fit a list
export type AnyTaskDefinition = TaskDefinition<any, any>;

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: Infinity, baseDelayMs: 1_000, maxDelayMs: 300_000, maxUnreachableDelayMs: 30_000 };
export const DEFAULT_RETENTION: RetentionPolicy = { finishedMs: 86_400_000, maxAgeMs: 7 * 86_400_000 };
/** The priority of a task whose definition gives none. */
export const DEFAULT_PRIORITY = 5;

const positive = (name: string, key: string, value: unknown, integer = false): void => {
  if (value === undefined) return;
  const ok = typeof value === 'number' && value > 0 && (integer ? Number.isInteger(value) || value === Infinity : Number.isFinite(value));
  if (!ok) {
    throw new HalfsyncError(
      'INVALID_OPTIONS',
      `task "${name}": ${key} must be a positive ${integer ? 'integer (or Infinity)' : 'finite number'}, got ${String(value)}`,
    );
  }
};

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
export function defineTask<Payload, Result>(
  name: string,
  options: TaskOptions<Payload, Result>,
): TaskDefinition<Payload, Result> {
  for (const key of ['batch', 'runBatch']) {
    if (typeof options === 'object' && options !== null && key in options) {
      throw new HalfsyncError('INVALID_OPTIONS', `task ${JSON.stringify(name)}: ${key} is not an option of defineTask; a batch task is defined with defineBatchTask(name, { batch: { max, waitMs }, run(payloads, ctx) })`);
    }
  }
  return define(name, options);
}

/** Checks a definition's options and freezes it (both kinds of definition). */
function define<Payload, Result>(name: string, options: DefinedOptions<Payload, Result>): TaskDefinition<Payload, Result> {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
    throw new HalfsyncError('INVALID_OPTIONS', `defineTask: the name must be a non-empty string of at most 200 characters, got ${JSON.stringify(name)}`);
  }
  if (typeof options !== 'object' || options === null || typeof options.run !== 'function') {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": options.run must be a function (the async half)`);
  }
  const { retry = {}, retention = {}, orderKey, validate, laneFailure, supersede } = options;
  if (laneFailure !== undefined && laneFailure !== 'hold' && laneFailure !== 'skip' && laneFailure !== 'fail') {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": laneFailure must be "hold", "skip" or "fail", got ${JSON.stringify(laneFailure)}`);
  }
  if (supersede !== undefined && typeof supersede !== 'boolean') throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": supersede must be true or false, got ${JSON.stringify(supersede)}`);
  const { priority } = options;
  if (priority !== undefined && !(Number.isInteger(priority) && priority >= 0 && priority <= 9)) {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": priority must be an integer from 0 (lowest) to 9 (highest), got ${JSON.stringify(priority)}`);
  }
  positive(name, 'retry.maxAttempts', retry.maxAttempts, true);
  positive(name, 'retry.baseDelayMs', retry.baseDelayMs);
  positive(name, 'retry.maxDelayMs', retry.maxDelayMs);
  positive(name, 'retry.maxUnreachableDelayMs', retry.maxUnreachableDelayMs);
  positive(name, 'retention.finishedMs', retention.finishedMs);
  positive(name, 'retention.maxAgeMs', retention.maxAgeMs);
  if (orderKey !== undefined && typeof orderKey !== 'string' && typeof orderKey !== 'function') {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": orderKey must be a string or a function of the payload`);
  }
  if (validate !== undefined && typeof validate !== 'function') {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": validate must be a function`);
  }
  const rateLimit = rateLimitOf(name, options.rateLimit);
  return Object.freeze({
    name,
    options,
    retry: Object.freeze({ ...DEFAULT_RETRY, ...retry }),
    retention: Object.freeze({ ...DEFAULT_RETENTION, ...retention }),
    ...(rateLimit ? { rateLimit: Object.freeze(rateLimit) } : {}),
  });
}

/** The options of {@link defineBatchTask}. */
export interface BatchTaskOptions<Payload, Result> extends Omit<TaskOptions<Payload, Result>, 'run' | 'runBatch' | 'batch'> {
  /** How payloads are gathered: at most `max` per batch, the first waiting up to `waitMs` for more. */
  readonly batch: BatchOptions;
  /**
   * The async half for a batch: send the payloads in one request, return one entry per payload
   * (a result, or an `Error` for a member that failed). Throw to fail or retry them all.
   */
  run(payloads: readonly Payload[], ctx: BatchContext): BatchOutput<Result> | Promise<BatchOutput<Result>>;
}

/**
 * Defines a task whose payloads run in batches: deferred one by one as usual, they are gathered
 * (in deferral order, at most `batch.max`, the first waiting up to `batch.waitMs`) and the handler
 * gets them as an array and sends one request. Every member settles with its own entry of the
 * batch's outcome. Members share one lane per definition (or the order key they were deferred
 * with); by default a member that fails for good does not hold the next batch (`laneFailure: 'skip'`).
 *
 * @example
 * ```ts
 * export const recordSale = defineBatchTask('record-sale', {
 *   batch: { max: 50, waitMs: 2_000 },
 *   async run(sales: Array<{ order: string; cents: number }>, ctx) {
 *     const res = await fetch('/api/stats/batch', { method: 'POST', body: JSON.stringify(sales),
 *       headers: { 'Idempotency-Key': ctx.idempotencyKey } });
 *     if (!res.ok) throw new Error(`stats answered ${res.status}`);
 *     return sales.map(() => ({ counted: true }));
 *   },
 * });
 * ```
 */
export function defineBatchTask<Payload, Result>(name: string, options: BatchTaskOptions<Payload, Result>): TaskDefinition<Payload, Result> {
  const batch = (options as { batch?: unknown }).batch as BatchOptions | undefined;
  if (typeof batch !== 'object' || batch === null || !Number.isInteger(batch.max) || batch.max < 1 || batch.max > 1_000) {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": batch.max must be an integer from 1 to 1000`);
  }
  if (batch.waitMs !== undefined && !(typeof batch.waitMs === 'number' && batch.waitMs >= 0 && Number.isFinite(batch.waitMs))) {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": batch.waitMs must be a finite number of ms >= 0`);
  }
  if (typeof options.run !== 'function') throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": run must be a function of the batch's payloads`);
  const runBatch = options.run;
  return define<Payload, Result>(name, {
    ...options,
    laneFailure: options.laneFailure ?? 'skip',
    batch: { max: batch.max, waitMs: batch.waitMs ?? 0 },
    runBatch,
    // A batch of one, for runners that meet a single member.
    async run(payload, ctx) {
      const [out] = await runBatch([payload], { ...ctx, ids: [ctx.id], metas: [ctx.meta] });
      if (out instanceof Error) throw out;
      return out as Result;
    },
  });
}

/** Indexes task definitions by name, refusing duplicates. */
export function taskRegistry(tasks: readonly AnyTaskDefinition[]): Map<string, AnyTaskDefinition> {
  if (!Array.isArray(tasks)) {
    throw new HalfsyncError('INVALID_OPTIONS', 'tasks must be an array of definitions made by defineTask()');
  }
  const byName = new Map<string, AnyTaskDefinition>();
  for (const task of tasks) {
    if (!task || typeof task.name !== 'string' || typeof task.options?.run !== 'function') {
      throw new HalfsyncError('INVALID_OPTIONS', 'tasks must hold only definitions made by defineTask()');
    }
    const seen = byName.get(task.name);
    if (seen && seen !== task) {
      throw new HalfsyncError('DUPLICATE_TASK', `two task definitions are named "${task.name}"; task names must be unique`);
    }
    byName.set(task.name, task);
  }
  return byName;
}
