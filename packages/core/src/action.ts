import type { HalfsyncClient } from './client.js';
import type { DeferHandle, DeferOptions } from './deferral.js';
import type { HalfsyncError } from './errors.js';
import type { TaskSlice } from './model.js';
import type { Task } from './record.js';
import type { TaskDefinition } from './task.js';
import { reportAppError } from './util.js';

// The Half-Sync/Half-Async split of one user action, framework-free: the sync half (`prepare`),
// the deferral, the optimistic items and the rollback rule. UI bindings (React's
// `useDeferredAction`) subscribe to it and hold no logic of their own.

/** An optimistic item: a task of the action not yet confirmed, seen as the value the UI shows for it. */
export interface OptimisticItem<Value, Payload = unknown, Result = unknown> {
  /** The task's id (a stable key for lists). */
  readonly id: string;
  /** `optimistic(payload)`, or the payload itself. */
  readonly value: Value;
  /**
   * `pending` or `running` ("syncing…"); `failed` when kept by `rollback: 'mark'`; `succeeded`
   * only with `keepSucceeded` (until your server data has it).
   */
  readonly status: 'pending' | 'running' | 'failed' | 'succeeded';
  /** The task itself (attempts, last error...). */
  readonly task: Task<Payload, Result>;
}

/** Options of a {@link DeferredActionObserver} (and of React's `useDeferredAction`). */
export interface DeferredActionOptions<Input, Payload, Result, Value> {
  /**
   * The sync half, on the main thread at once: validate the input, compute what is needed and
   * return the payload to defer. Throw to refuse: nothing is deferred and `run` returns the error.
   * Without it, the input is the payload.
   */
  readonly prepare?: (input: Input) => Payload;
  /** The value optimistic items show for a payload. Default: the payload. */
  readonly optimistic?: (payload: Payload) => Value;
  /** What happens to the optimistic item of a task that failed for good: `mark` keeps it with status `failed` (default), `drop` removes it. */
  readonly rollback?: 'mark' | 'drop';
  /**
   * Keep succeeded tasks among the optimistic items (status `succeeded`), so the UI can show them
   * until its server data has them, instead of a gap between the task's success and the refetch.
   * Default false: an item leaves when its task succeeds.
   */
  readonly keepSucceeded?: boolean;
  /** Defer options (order key, delay, idempotency key), fixed or from the payload. */
  readonly defer?: DeferOptions | ((payload: Payload) => DeferOptions);
  /** Only tasks whose payload matches belong to this action (default: every task of the definition). */
  readonly where?: (payload: Payload) => boolean;
  /** Called once, in this tab, when a task run here succeeds. */
  readonly onSuccess?: (result: Result, id: string) => void;
  /** Called once, in this tab, when a task run here fails for good or is cancelled. */
  readonly onError?: (error: HalfsyncError, id: string) => void;
  /** Called once, in this tab, after onSuccess or onError. */
  readonly onSettled?: (id: string) => void;
  /**
   * Called in every tab when a task of this action settles, wherever it was deferred and run:
   * the moment to refetch server data and reconcile the optimistic items with it.
   */
  readonly onSettledAnywhere?: (task: Task<Payload, Result>) => void;
}

/** What `run` returns: the handle, or the error of the sync half (nothing was deferred). */
export type RunResult<Result, Payload = unknown> =
  | { readonly ok: true; readonly id: string; readonly handle: DeferHandle<Result>; readonly payload: Payload }
  | { readonly ok: false; readonly error: unknown };

/** The live state of an action. */
export interface DeferredActionState<Payload, Result, Value> {
  /** Every task of this action the client holds: this tab's, other tabs', and those deferred before a reload. */
  readonly tasks: ReadonlyArray<Task<Payload, Result>>;
  /** The tasks not yet succeeded (see `keepSucceeded`), as optimistic values to merge with server data. */
  readonly optimistic: ReadonlyArray<OptimisticItem<Value, Payload, Result>>;
  /** How many tasks are pending or running. */
  readonly pendingCount: number;
  /** The tasks that failed for good (retry or acknowledge them with the client). */
  readonly failed: ReadonlyArray<Task<Payload, Result>>;
}

/**
 * One user action over a client: `run(input)` does the sync half and defers the async half; the
 * state (tasks, optimistic items, counts) follows the action's slice of the queue and notifies
 * only when that slice changes. A UI binding subscribes with `subscribe`/`getSnapshot`.
 *
 * @example
 * ```ts
 * const place = new DeferredActionObserver(client, submitOrder, { prepare: toOrder, rollback: 'drop' });
 * const off = place.subscribe(() => render(place.getSnapshot().optimistic));
 * place.run(cart);
 * ```
 */
export class DeferredActionObserver<Input, Payload, Result, Value = Payload> {
  #options: DeferredActionOptions<Input, Payload, Result, Value>;
  readonly #client: HalfsyncClient;
  readonly #task: TaskDefinition<Payload, Result>;
  readonly #slice: TaskSlice;
  readonly #listeners = new Set<() => void>();
  #values = new WeakMap<Task, Value>();
  #state: DeferredActionState<Payload, Result, Value> | undefined;
  #stateOf: { tasks: readonly Task[]; rollback: string; keep: boolean } | undefined;
  #unsubscribe: Array<() => void> = [];

  constructor(client: HalfsyncClient, task: TaskDefinition<Payload, Result>, options: DeferredActionOptions<Input, Payload, Result, Value> = {}) {
    this.#client = client;
    this.#task = task;
    this.#options = options;
    this.#slice = client.select({ task: task.name });
  }

  /**
   * Replaces the options: callbacks take effect at once; a change of `rollback`, `keepSucceeded`,
   * `where` or `optimistic` notifies when the state it gives differs (a function passed anew with
   * every render, giving the same members and shallow-equal values, notifies nothing).
   */
  setOptions(options: DeferredActionOptions<Input, Payload, Result, Value>): void {
    const before = this.#options;
    this.#options = options;
    if ((before.rollback ?? 'mark') !== (options.rollback ?? 'mark') || !!before.keepSucceeded !== !!options.keepSucceeded) { this.#emit(); return; }
    if (before.where === options.where && before.optimistic === options.optimistic) return;
    if (before.optimistic !== options.optimistic) this.#values = new WeakMap();
    const old = this.#state;
    this.#state = undefined;
    const next = this.getSnapshot();
    if (old && sameState(old, next)) this.#state = old;
    else this.#emit();
  }

  /**
   * Runs the action: the sync half (`prepare`) now, then defers the async half. Never throws: a
   * refusal comes back as `{ ok: false, error }`. The new task is in the state before `run` returns.
   */
  run = (input: Input): RunResult<Result, Payload> => {
    const o = this.#options;
    let handle: DeferHandle<Result>;
    let payload: Payload;
    try {
      payload = o.prepare ? o.prepare(input) : (input as unknown as Payload);
      const deferOptions = typeof o.defer === 'function' ? o.defer(payload) : o.defer;
      handle = this.#client.defer(this.#task, payload, deferOptions);
    } catch (error) {
      return { ok: false, error };
    }
    const { id } = handle;
    // The app's callbacks: one that throws is reported as uncaught errors are, and the others still run.
    const call = (fn: (() => void) | undefined) => { try { fn?.(); } catch (error) { reportAppError(error); } };
    handle.result.then(
      (result) => call(() => this.#options.onSuccess?.(result, id)),
      (error: HalfsyncError) => { if (error.code !== 'CLIENT_CLOSED') call(() => this.#options.onError?.(error, id)); },
    ).then(() => call(() => this.#options.onSettled?.(id)));
    return { ok: true, id, handle, payload };
  };

  /** The current state; the same object until the action's tasks (or `rollback`, `keepSucceeded`) change. */
  getSnapshot = (): DeferredActionState<Payload, Result, Value> => {
    const tasks = this.#slice.getSnapshot();
    const rollback = this.#options.rollback ?? 'mark';
    const keep = !!this.#options.keepSucceeded;
    const s = this.#stateOf;
    if (this.#state && s && s.tasks === tasks && s.rollback === rollback && s.keep === keep) return this.#state;
    this.#stateOf = { tasks, rollback, keep };
    this.#state = this.#derive(tasks, rollback, keep);
    return this.#state;
  };

  /** Calls `listener` when the state may have changed; returns the unsubscribe function. */
  subscribe = (listener: () => void): (() => void) => {
    if (this.#listeners.size === 0) {
      this.#unsubscribe = [
        this.#slice.subscribe(() => this.#emit()),
        this.#client.onSettled((settled) => {
          const cb = this.#options.onSettledAnywhere;
          if (!cb) return;
          for (const t of settled) {
            if (t.name !== this.#task.name || !this.#belongs(t)) continue;
            try { cb(t as Task<Payload, Result>); } catch (error) { reportAppError(error); }
          }
        }),
      ];
    }
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) { for (const off of this.#unsubscribe) off(); this.#unsubscribe = []; }
    };
  };

  #emit(): void {
    for (const l of [...this.#listeners]) l();
  }

  #belongs(t: Task): boolean {
    const where = this.#options.where;
    return !where || where(t.payload as Payload);
  }

  #derive(all: readonly Task[], rollback: string, keep: boolean): DeferredActionState<Payload, Result, Value> {
    const tasks: Array<Task<Payload, Result>> = [];
    const optimistic: Array<OptimisticItem<Value, Payload, Result>> = [];
    const failed: Array<Task<Payload, Result>> = [];
    let pendingCount = 0;
    for (const t of all as ReadonlyArray<Task<Payload, Result>>) {
      if (!this.#belongs(t)) continue;
      tasks.push(t);
      if (t.status === 'pending' || t.status === 'running') pendingCount++;
      if (t.status === 'failed') failed.push(t);
      if (t.status === 'cancelled' || t.status === 'superseded' || (t.status === 'succeeded' && !keep) || (t.status === 'failed' && rollback === 'drop')) continue;
      // One value per task object: tasks are immutable, so it is computed once per version.
      let value = this.#values.get(t);
      if (value === undefined) {
        value = this.#options.optimistic ? this.#options.optimistic(t.payload) : (t.payload as unknown as Value);
        this.#values.set(t, value);
      }
      optimistic.push({ id: t.id, value, status: t.status, task: t });
    }
    return Object.freeze({ tasks, optimistic, pendingCount, failed });
  }
}

const shallowEqual = (a: unknown, b: unknown): boolean => {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.is((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
};

/** Whether two states show the same tasks with shallow-equal optimistic values. */
function sameState<P, R, V>(a: DeferredActionState<P, R, V>, b: DeferredActionState<P, R, V>): boolean {
  return a.tasks.length === b.tasks.length && a.tasks.every((t, i) => t === b.tasks[i])
    && a.optimistic.length === b.optimistic.length && a.optimistic.every((o, i) => o.task === b.optimistic[i]!.task && shallowEqual(o.value, b.optimistic[i]!.value));
}

