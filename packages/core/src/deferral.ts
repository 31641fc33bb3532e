import { HalfsyncError } from './errors.js';
import type { NewTaskRecord, Task, TaskMeta } from './record.js';
import { DEFAULT_PRIORITY, type AnyTaskDefinition, type TaskDefinition } from './task.js';
import { uuid } from './util.js';
import { clonePayload, inspectPayload } from './validate.js';

// Guarantee 7, "Bad input is refused whole": everything `defer` checks before anything is written,
// and the record it writes.

/** Options of `HalfsyncClient.defer`. */
export interface DeferOptions {
  /** Tasks with the same order key run one at a time in deferral order; overrides the task's own. */
  readonly orderKey?: string;
  /** Do not run before this many ms from now. */
  readonly delay?: number;
  /**
   * The key the server deduplicates by. Default: the task id. A second defer of the same task with
   * the key of a task still pending or running joins it (the same handle) instead of adding one.
   */
  readonly idempotencyKey?: string;
  /**
   * Run only after these tasks (handles from `defer`, or ids) succeeded; the handler reads their
   * results (`ctx.resultOf`, `ctx.parentResults`). Parents may be deferred in the same tick. A
   * parent that fails for good or is cancelled fails this task with DEPENDENCY_FAILED, until the
   * parent is retried.
   */
  readonly after?: ReadonlyArray<{ readonly id: string } | string>;
  /**
   * Latest wins: a pending task of this definition with the same key is replaced by this one (its
   * handle follows this task, and the tasks that ran after it run after this one). One already
   * running finishes, and this one runs after it. A key replaces only within one order key (and
   * one owner): with an `orderKey`, the key is matched among that order key's tasks. At most 200
   * characters.
   */
  readonly supersede?: string;
  /** Metadata shown in the devtools panel and readable from the snapshot (which order a task belongs to...). */
  readonly meta?: TaskMeta;
}

/** What `defer` returns at once. */
export interface DeferHandle<Result, Payload = unknown> {
  /** The task's id. */
  readonly id: string;
  /** Resolves with the task once it is committed to IndexedDB with strict durability. */
  readonly persisted: Promise<Task<Payload, Result>>;
  /** Resolves with the handler's result; rejects with `TASK_FAILED` or `TASK_CANCELLED`. */
  readonly result: Promise<Result>;
}

const DEFER_KEYS = new Set(['orderKey', 'delay', 'idempotencyKey', 'after', 'supersede', 'meta']);
const MAX_PARENTS = 32;
/** The longest supersede key (it becomes part of the task's lane when no order key is given). */
const MAX_SUPERSEDE = 200;
const MAX_META_KEYS = 32;

/** Reads the defer options once, as plain data: a getter that throws, or a Proxy, is a coded error. */
function readOptions(name: string, options: DeferOptions): DeferOptions {
  if (typeof options !== 'object' || options === null) badOption(`task "${name}": defer options must be an object`);
  try {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(options)) {
      if (!DEFER_KEYS.has(key)) badOption(`task "${name}": unknown defer option "${key}"; the options are ${[...DEFER_KEYS].join(', ')}`);
      out[key] = (options as Record<string, unknown>)[key];
    }
    return out as DeferOptions;
  } catch (error) {
    if (error instanceof HalfsyncError) throw error;
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": the defer options could not be read (${(error as Error)?.message ?? String(error)}); pass a plain object`, { cause: error });
  }
}

function checkMeta(name: string, meta: unknown): TaskMeta | undefined {
  if (meta === undefined) return undefined;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta) || Object.getPrototypeOf(meta) !== Object.prototype) badOption(`task "${name}": meta must be a plain object of strings, numbers, booleans and nulls`);
  const entries = Object.entries(meta as object);
  if (entries.length > MAX_META_KEYS) badOption(`task "${name}": meta has ${entries.length} keys; at most ${MAX_META_KEYS}`);
  for (const [k, v] of entries) {
    const ok = v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= 1_000);
    if (!ok || k.length === 0 || k.length > 100 || k === '__proto__') badOption(`task "${name}": meta.${k} must be a string (at most 1000 characters), a finite number, a boolean or null`);
  }
  return Object.freeze({ ...(meta as TaskMeta) });
}

/** Throws INVALID_OPTIONS. */
export const badOption = (what: string): never => {
  throw new HalfsyncError('INVALID_OPTIONS', what);
};

/** Checks an optional string option: non-empty, at most 500 characters. */
export const nonEmpty = (v: unknown, what: string): void => {
  if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > 500)) {
    badOption(`${what} must be a non-empty string of at most 500 characters, got ${JSON.stringify(v)}`);
  }
};

/**
 * Validates a defer and builds its record: the task is known, the options are well formed, the
 * task's own `validate` accepts the payload, and the payload is plain data under the size limit
 * (copied, so later changes by the caller do not reach the stored task). Throws a coded error.
 */
export function buildRecord<Payload, Result>(
  registry: ReadonlyMap<string, AnyTaskDefinition>, task: TaskDefinition<Payload, Result>, payload: Payload,
  given: DeferOptions, now: number, maxPayloadBytes: number,
): NewTaskRecord {
  if (typeof task === 'string') {
    throw new HalfsyncError('UNKNOWN_TASK', `defer() takes a task definition (what defineTask returns), got the string ${JSON.stringify(task)}${registry.has(task) ? `; pass the definition named "${task}" itself` : ''}`, { details: { task } });
  }
  const name = (task as { name?: unknown } | null)?.name;
  if (typeof name !== 'string' || registry.get(name) !== task) {
    throw new HalfsyncError('UNKNOWN_TASK', `task ${JSON.stringify(name)} is not in this client's tasks; add its definition to createClient({ tasks }) and to the worker's serve({ tasks })`, { details: { task: name } });
  }
  if ((task as { schedule?: unknown }).schedule !== undefined) {
    throw new HalfsyncError('PERIODIC_TASK', `task "${name}" is periodic: its runs are made by its schedule and are never deferred (nothing was stored); to do its work now as well, defer a plain task that calls the same function`, { details: { task: name } });
  }
  const options = readOptions(name, given);
  nonEmpty(options.orderKey, `task "${name}": orderKey`);
  nonEmpty(options.idempotencyKey, `task "${name}": idempotencyKey`);
  if (options.supersede !== undefined && (typeof options.supersede !== 'string' || options.supersede.length === 0 || options.supersede.length > MAX_SUPERSEDE)) {
    badOption(`task "${name}": supersede must be a non-empty string of at most ${MAX_SUPERSEDE} characters, got ${typeof options.supersede === 'string' ? `${options.supersede.length} characters` : JSON.stringify(options.supersede)}`);
  }
  if (options.supersede !== undefined && task.options.supersede === false) badOption(`task "${name}" does not take a supersede key (its definition says supersede: false); defer without one`);
  const delay = options.delay ?? 0;
  if (typeof delay !== 'number' || !(delay >= 0) || !Number.isFinite(delay)) badOption(`task "${name}": delay must be a finite number of ms >= 0, got ${String(options.delay)}`);
  if (delay > task.retention.maxAgeMs) badOption(`task "${name}": a delay of ${delay} ms is longer than the task's retention.maxAgeMs (${task.retention.maxAgeMs} ms); it would expire before it ran`);
  const after = checkAfter(name, options.after);
  const meta = checkMeta(name, options.meta);
  const stored = checkPayload(task, payload, maxPayloadBytes);
  const own = task.options.orderKey;
  // Batch members and supersede keys share a lane of their own when no order key is given.
  const batch = task.options.batch;
  const orderKey = options.orderKey ?? (typeof own === 'function' ? own(payload) : own)
    ?? (batch ? `batch:${name}` : options.supersede !== undefined ? `supersede:${name}:${options.supersede}` : undefined);
  nonEmpty(orderKey, `task "${name}": the orderKey function's result`);

  const id = uuid();
  // The first member of a batch waits `waitMs` for others.
  const due = now + delay + (batch?.waitMs ?? 0);
  const key = options.idempotencyKey ?? id;
  // Only defined fields are stored: an absent field keeps the record out of that index.
  const record: NewTaskRecord = { id, name, payload: stored, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: due, due, idempotencyKey: key, rev: 1, priority: task.options.priority ?? DEFAULT_PRIORITY };
  // Its owner, and with it its lane, are stamped inside the insert's transaction (store.ts).
  if (orderKey !== undefined) record.orderKey = orderKey;
  if (after) record.after = after;
  if (meta) record.meta = meta;
  if (options.supersede !== undefined) record.supersede = options.supersede;
  return record;
}

/** Runs the task's own `validate`, checks the payload is plain data under the limit, and returns the copy to store. */
export function checkPayload<Payload>(task: TaskDefinition<Payload, unknown>, payload: Payload, maxPayloadBytes: number): Payload {
  const name = task.name;
  if (task.options.validate) {
    try {
      task.options.validate(payload);
    } catch (error) {
      if (error instanceof HalfsyncError) throw error;
      throw new HalfsyncError('PAYLOAD_INVALID', `task "${name}": ${(error as Error)?.message ?? String(error)}`, { cause: error, details: { task: name } });
    }
  }
  try {
    inspectPayload(name, payload, maxPayloadBytes);
    return clonePayload(name, payload);
  } catch (error) {
    if (error instanceof HalfsyncError) throw error;
    // A Proxy with a throwing trap, a getter that throws: not plain data.
    throw new HalfsyncError('PAYLOAD_NOT_CLONEABLE', `task "${name}": the payload could not be read (${(error as Error)?.message ?? String(error)}); payloads must be plain data`, { cause: error, details: { task: name } });
  }
}

/** Checks the form of `after`; whether each parent is stored is checked in the insert's transaction (DEPENDENCY_UNKNOWN). */
function checkAfter(name: string, after: DeferOptions['after']): string[] | undefined {
  if (after === undefined) return undefined;
  if (!Array.isArray(after) || after.length === 0 || after.length > MAX_PARENTS) badOption(`task "${name}": after must be a non-empty list of at most ${MAX_PARENTS} handles (or task ids)`);
  const ids = (after as ReadonlyArray<{ id: string } | string>).map((h) => (typeof h === 'string' ? h : h?.id));
  for (const id of ids) {
    if (typeof id !== 'string' || id === '') badOption(`task "${name}": after holds ${JSON.stringify(id)}, not a handle or task id`);
  }
  if (new Set(ids).size !== ids.length) badOption(`task "${name}": after names a task twice`);
  return ids;
}
