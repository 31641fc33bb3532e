import { HalfsyncError } from './errors.js';
import type { NewTaskRecord, Task } from './record.js';
import type { AnyTaskDefinition, TaskDefinition } from './task.js';
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
  /** The key the server deduplicates by. Default: the task id. */
  readonly idempotencyKey?: string;
}

/** What `defer` returns at once. */
export interface DeferHandle<Result> {
  /** The task's id. */
  readonly id: string;
  /** Resolves once the task is committed to IndexedDB with strict durability. */
  readonly persisted: Promise<Task>;
  /** Resolves with the handler's result; rejects with `TASK_FAILED` or `TASK_CANCELLED`. */
  readonly result: Promise<Result>;
}

const DEFER_KEYS = new Set(['orderKey', 'delay', 'idempotencyKey']);

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
  options: DeferOptions, now: number, maxPayloadBytes: number,
): NewTaskRecord {
  const name = (task as { name?: unknown } | null)?.name;
  if (typeof name !== 'string' || registry.get(name) !== task) {
    throw new HalfsyncError('UNKNOWN_TASK', `task ${JSON.stringify(name)} is not in this client's tasks; add its definition to createClient({ tasks }) and to the worker's serve({ tasks })`, { details: { task: name } });
  }
  if (typeof options !== 'object' || options === null) badOption(`task "${name}": defer options must be an object`);
  for (const key of Object.keys(options)) if (!DEFER_KEYS.has(key)) badOption(`task "${name}": unknown defer option "${key}"; the options are orderKey, delay and idempotencyKey`);
  nonEmpty(options.orderKey, `task "${name}": orderKey`);
  nonEmpty(options.idempotencyKey, `task "${name}": idempotencyKey`);
  const delay = options.delay ?? 0;
  if (typeof delay !== 'number' || !(delay >= 0) || !Number.isFinite(delay)) badOption(`task "${name}": delay must be a finite number of ms >= 0, got ${String(options.delay)}`);
  if (delay > task.retention.maxAgeMs) badOption(`task "${name}": a delay of ${delay} ms is longer than the task's retention.maxAgeMs (${task.retention.maxAgeMs} ms); it would expire before it ran`);
  if (task.options.validate) {
    try {
      task.options.validate(payload);
    } catch (error) {
      if (error instanceof HalfsyncError) throw error;
      throw new HalfsyncError('PAYLOAD_INVALID', `task "${name}": ${(error as Error)?.message ?? String(error)}`, { cause: error, details: { task: name } });
    }
  }
  inspectPayload(name, payload, maxPayloadBytes);
  const stored = clonePayload(name, payload);
  const own = task.options.orderKey;
  const orderKey = options.orderKey ?? (typeof own === 'function' ? own(payload) : own);
  nonEmpty(orderKey, `task "${name}": the orderKey function's result`);

  const id = uuid();
  const due = now + delay;
  const key = options.idempotencyKey ?? id;
  // Only defined fields are stored: an absent field keeps the record out of that index.
  return orderKey === undefined
    ? { id, name, payload: stored, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: due, due, idempotencyKey: key, rev: 1 }
    : { id, name, payload: stored, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: due, due, idempotencyKey: key, rev: 1, orderKey, lane: orderKey };
}

/** The view of a task not yet committed (no seq). */
export const provisional = (r: NewTaskRecord): Task => Object.freeze({
  id: r.id, seq: undefined, name: r.name, payload: r.payload, status: r.status, attempts: 0, unreachable: 0, createdAt: r.createdAt,
  updatedAt: r.updatedAt, nextRunAt: r.nextRunAt, leaseUntil: undefined, orderKey: r.orderKey,
  idempotencyKey: r.idempotencyKey, lastError: undefined, result: undefined, rev: r.rev,
});
