import type { RetentionPolicy } from './task.js';

/**
 * Where a task is in its life. `superseded`: replaced, while still pending, by a newer defer with
 * the same supersede key (latest wins); its handle follows the task that replaced it.
 */
export type TaskStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'superseded';

// The one list of statuses, and the groups of them every module uses.
/** Every status, in the order of a task's life. */
export const STATUSES: readonly TaskStatus[] = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'superseded'];
/** Alive: a tab holds these whatever its window of finished tasks (pending, running, failed). */
export const ALIVE: readonly TaskStatus[] = ['pending', 'running', 'failed'];
/** Finished and not failed: they leave a tab's view as newer ones finish (succeeded, cancelled, superseded). */
export const FINISHED: readonly TaskStatus[] = ['succeeded', 'cancelled', 'superseded'];
/** Settled: a handle's result is known (every status but pending and running). */
export const isSettled = (status: TaskStatus): boolean => status !== 'pending' && status !== 'running';

/** Metadata an app attaches to a task at defer time (which order it belongs to...): flat, plain values. */
export type TaskMeta = Readonly<Record<string, string | number | boolean | null>>;

/** The three kinds of failure; see `RetryPolicy`. */
export type FailureKind = 'unreachable' | 'transient' | 'permanent';

/** A failure as stored with the task. */
export interface TaskError {
  /** `PermanentError`/`RetryableError` code, `HTTP_STATUS`, `EXPIRED`, `UNKNOWN_TASK`... or the error's name. */
  readonly code: string;
  /** The error's message. */
  readonly message: string;
  /** True when retrying cannot help. */
  readonly permanent: boolean;
  /**
   * `unreachable` (the request could not be made; not counted as an attempt), `transient` (retried,
   * counted) or `permanent`. Absent on failures stored by older versions.
   */
  readonly kind?: FailureKind;
  /** When it happened (ms since the epoch). */
  readonly at: number;
  /** The HTTP status, for http tasks. */
  readonly status?: number;
  /** The start of the HTTP response body, for http tasks. */
  readonly body?: string;
}

/** One try of a task, as its record keeps it (the last {@link MAX_TRIES}). */
export interface TaskTry {
  /** When the try ended (ms since the epoch). */
  readonly at: number;
  /** How it ended: it succeeded, failed in one of the three kinds, or its runner died during it. */
  readonly outcome: 'succeeded' | FailureKind | 'crashed';
  /** The failure's code, for a failed try. */
  readonly code?: string;
  /** The failure's message (its first 300 characters), for a failed try. */
  readonly message?: string;
  /** The HTTP status, for the http task. */
  readonly status?: number;
}

/** How many tries a record keeps (the newest). */
export const MAX_TRIES = 10;

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
  /** Attempts that reached the server or crashed, so far: what `maxAttempts` counts (a try still running is not counted yet). */
  readonly attempts: number;
  /** Tries that could not reach the server (offline, connection refused): never counted in `attempts`. */
  readonly unreachable: number;
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
  /** The tasks this one runs after (each must succeed first), by id. */
  readonly after: readonly string[] | undefined;
  /** The app's metadata, as deferred. */
  readonly meta: TaskMeta | undefined;
  /** Latest wins: a newer defer with this key replaces this task while it is pending. */
  readonly supersede: string | undefined;
  /** The task that replaced this one (status `superseded`). */
  readonly supersededBy: string | undefined;
  /** Whose action it was (the id given to `signIn`), undefined for work deferred signed out: it runs only while that owner is signed in. */
  readonly owner: string | undefined;
  /** Its tries so far, oldest first (the last {@link MAX_TRIES}): when each ended and how. */
  readonly tries: readonly TaskTry[];
  /** Waiting for its definition's rate limit: the time it may run (undefined when not limited). */
  readonly limitedUntil: number | undefined;
  /** A run of a periodic task: its schedule's least time between runs, in ms (undefined for a deferred task). */
  readonly every: number | undefined;
}

/** The stored record: a {@link Task} plus the executor's bookkeeping. Only the modules of `store/` write it. */
export interface TaskRecord extends Omit<Task, 'payload' | 'seq' | 'leaseUntil' | 'orderKey' | 'lastError' | 'result' | 'unreachable' | 'after' | 'meta' | 'supersede' | 'supersededBy' | 'owner' | 'tries' | 'limitedUntil' | 'every'> {
  /** The primary key, given by IndexedDB's key generator at commit. */
  seq: number;
  /**
   * The payload. Absent from a record read from `tasks` when `apart` is set: the payload is then in
   * the `payloads` store, and readers that hand it on join it (store/payloads.ts).
   */
  payload?: unknown;
  /** Its payload is large, and stored apart (the `payloads` store, under the task's id). */
  apart?: true;
  // Absent rather than undefined when unset: an absent field keeps the record out of an index.
  leaseUntil?: number;
  orderKey?: string;
  lastError?: TaskError;
  result?: unknown;
  /** Tries that could not reach the server; absent until the first. */
  unreachable?: number;
  /** Runs cut short by a dead runner (a lease that ran out); absent until the first. */
  crashes?: number;
  after?: string[];
  /** The parents in `after` that succeeded, by id, with their results (the task may run once every parent is here). */
  parentResults?: Record<string, { readonly name: string; readonly result: unknown }>;
  meta?: TaskMeta;
  supersede?: string;
  supersededBy?: string;
  /** While a batch runs (or after its runner died): the id of the batch, shared by its members and sent as its idempotency key. */
  batch?: string;
  owner?: string;
  /** Its tries, oldest first; absent until the first ends. */
  tries?: TaskTry[];
  /** Set once a task is deferred to run after this one. */
  dependents?: true;
  /** Which executor holds the lease while running. */
  leaseOwner?: string;
  /** Set while the task takes part in its order key's lane (pending, running, failed). */
  lane?: string;
  /** Set when the executor must look at the task at that time (due, or lease expiry). */
  due?: number;
  /** Its definition's priority when deferred (0 to 9): the `priority` index orders due tasks by it. */
  priority?: number;
  /** Set while it waits for its definition's rate limit: when it may run. */
  limited?: number;
  /** A run made by a periodic task's schedule: the schedule's least time between runs, in ms. */
  every?: number;
  /** Set when a finished task may be purged. */
  purgeAt?: number;
}

/** A record before commit (no seq yet). */
export type NewTaskRecord = Omit<TaskRecord, 'seq'>;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const optNum = (v: unknown): boolean => v === undefined || isNum(v);
const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';

/** Checks a record read back from IndexedDB; returns why it is unusable, or undefined when it is fine. */
export function recordProblem(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return 'not an object';
  const r = raw as Record<string, unknown>;
  if (!isNum(r.seq)) return 'seq is not a number';
  if (typeof r.id !== 'string' || r.id === '') return 'id is not a non-empty string';
  if (typeof r.name !== 'string' || r.name === '') return 'name is not a non-empty string';
  if (typeof r.status !== 'string' || !STATUSES.includes(r.status as TaskStatus)) return `status ${JSON.stringify(r.status)} is not a task status`;
  if (!Number.isInteger(r.attempts) || (r.attempts as number) < 0) return 'attempts is not a non-negative integer';
  if (!isNum(r.createdAt) || !isNum(r.updatedAt) || !isNum(r.nextRunAt)) return 'createdAt, updatedAt or nextRunAt is not a number';
  if (typeof r.idempotencyKey !== 'string' || r.idempotencyKey === '') return 'idempotencyKey is not a non-empty string';
  if (!isNum(r.rev)) return 'rev is not a number';
  if (!optStr(r.orderKey) || !optStr(r.lane) || !optStr(r.leaseOwner)) return 'orderKey, lane or leaseOwner is not a string';
  if (!optNum(r.due) || !optNum(r.purgeAt) || !optNum(r.leaseUntil) || !optNum(r.priority) || !optNum(r.limited) || !optNum(r.every)) return 'due, purgeAt, leaseUntil, priority, limited or every is not a number';
  if (!optNum(r.unreachable) || !optNum(r.crashes)) return 'unreachable or crashes is not a number';
  if (r.after !== undefined && (!Array.isArray(r.after) || r.after.some((x) => typeof x !== 'string'))) return 'after is not a list of task ids';
  if (r.parentResults !== undefined && (typeof r.parentResults !== 'object' || r.parentResults === null)) return 'parentResults is not an object';
  if (r.meta !== undefined && (typeof r.meta !== 'object' || r.meta === null)) return 'meta is not an object';
  if (!optStr(r.supersede) || !optStr(r.supersededBy) || !optStr(r.batch) || !optStr(r.owner)) return 'supersede, supersededBy, batch or owner is not a string';
  if (r.apart !== undefined && r.apart !== true) return 'apart is not true';
  if (r.status === 'running' && !isNum(r.leaseUntil)) return 'a running task has no lease';
  if (r.lastError !== undefined && (typeof r.lastError !== 'object' || r.lastError === null)) return 'lastError is not an object';
  if (r.tries !== undefined && (!Array.isArray(r.tries) || r.tries.some((t) => typeof t !== 'object' || t === null || !isNum((t as TaskTry).at)))) return 'tries is not a list of tries';
  return undefined;
}

const NO_TRIES: readonly TaskTry[] = Object.freeze([]);

/** The record's tries with one more at the end, the oldest dropped past {@link MAX_TRIES}. */
export function withTry(r: Pick<TaskRecord, 'tries'>, entry: TaskTry): TaskTry[] {
  return [...(r.tries ?? []), entry].slice(-MAX_TRIES);
}

/** The try a failure ends, as a record keeps it. */
export const failedTry = (error: TaskError, at: number): TaskTry => ({
  at, outcome: error.kind ?? (error.permanent ? 'permanent' : 'transient'), code: error.code, message: error.message.slice(0, 300),
  ...(error.status !== undefined ? { status: error.status } : {}),
});

/** Whether a record holds its payload: not one read from `tasks` without the payload it keeps apart (store/payloads.ts). */
export const hasPayload = (r: Pick<TaskRecord, 'apart'>): boolean => r.apart !== true || Object.hasOwn(r, 'payload');

/** The public view of a record. */
export function toTask(r: TaskRecord): Task {
  return Object.freeze({
    id: r.id, seq: r.seq, name: r.name, payload: r.payload, status: r.status,
    // A claim counts its try at once; the view counts it when it settles (a try that turns out
    // unreachable is given back, and must not show as an attempt meanwhile).
    attempts: r.status === 'running' ? Math.max(0, r.attempts - 1) : r.attempts, unreachable: r.unreachable ?? 0,
    createdAt: r.createdAt, updatedAt: r.updatedAt, nextRunAt: r.nextRunAt, leaseUntil: r.leaseUntil,
    orderKey: r.orderKey, idempotencyKey: r.idempotencyKey, lastError: r.lastError, result: r.result, rev: r.rev,
    after: r.after, meta: r.meta, supersede: r.supersede, supersededBy: r.supersededBy, owner: r.owner, tries: r.tries ?? NO_TRIES, limitedUntil: r.limited, every: r.every,
  });
}

/**
 * The lane a task takes part in: its order key, within its owner's work. Lanes are per owner so
 * that one user's held work never blocks another's tasks of the same order key.
 */
export const laneOf = (r: Pick<TaskRecord, 'owner' | 'orderKey'>): string | undefined =>
  r.orderKey === undefined ? undefined : r.owner === undefined ? r.orderKey : `${r.owner}\u0000${r.orderKey}`;

/** Whether every parent of a task has succeeded (its results are recorded). */
export const parentsDone = (r: Pick<TaskRecord, 'after' | 'parentResults'>): boolean =>
  r.after === undefined || r.after.every((id) => r.parentResults !== undefined && Object.hasOwn(r.parentResults, id));

// The pure transitions a page makes (the executor's are in store/transitions.ts). Each returns a
// new record with rev and updatedAt moved on; the store decides lane heads and writes it.

/** A record moved on by `patch`; a field set to undefined is removed (absent from its index). */
export const next = (r: TaskRecord, now: number, patch: Partial<TaskRecord>): TaskRecord => {
  const out: TaskRecord = { ...r, ...patch, rev: r.rev + 1, updatedAt: now };
  for (const key of Object.keys(patch) as (keyof TaskRecord)[]) if (patch[key] === undefined) delete out[key];
  return out;
};

/** pending → cancelled; leaves its lane. */
export const cancel = (r: TaskRecord, now: number, retention: RetentionPolicy): TaskRecord =>
  next(r, now, { status: 'cancelled', lane: undefined, due: undefined, purgeAt: now + retention.finishedMs });

/**
 * failed → pending with a fresh set of attempts, due now if it may run (the store unsets `due` when
 * it waits behind its lane's head or for a parent).
 */
export const requeue = (r: TaskRecord, now: number): TaskRecord =>
  next(r, now, { status: 'pending', attempts: 0, unreachable: undefined, crashes: undefined, batch: undefined, nextRunAt: now, due: parentsDone(r) ? now : undefined });

