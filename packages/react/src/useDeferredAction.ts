import { useCallback, useEffect, useMemo, useRef } from 'react';
import type { DeferHandle, DeferOptions, HalfsyncError, Task, TaskDefinition } from '@halfsync/core';
import { useHalfsyncClient } from './provider.js';
import { useSnapshot } from './useQueue.js';

/** An optimistic item: a task not yet succeeded, seen as the value the UI shows for it. */
export interface OptimisticItem<Value, Payload = unknown, Result = unknown> {
  /** The task's id (a stable React key). */
  readonly id: string;
  /** `optimistic(payload)`, or the payload itself. */
  readonly value: Value;
  /** `pending` or `running` ("syncing…"), or `failed` when kept by `rollback: 'mark'`. */
  readonly status: 'pending' | 'running' | 'failed';
  /** The task itself (attempts, last error...). */
  readonly task: Task<Payload, Result>;
}

/** Options of {@link useDeferredAction}. */
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
}

/** What `run` returns: the handle, or the error of the sync half (nothing was deferred). */
export type RunResult<Result, Payload = unknown> =
  | { readonly ok: true; readonly id: string; readonly handle: DeferHandle<Result>; readonly payload: Payload }
  | { readonly ok: false; readonly error: unknown };

/** What {@link useDeferredAction} returns. */
export interface DeferredAction<Input, Payload, Result, Value> {
  /**
   * Runs the action: the sync half (`prepare`) now, then defers the async half. Never throws:
   * a refusal comes back as `{ ok: false, error }`. The new task is in `tasks` and `optimistic`
   * in the same render as the call.
   */
  run(input: Input): RunResult<Result, Payload>;
  /** Every task of this action, live: this tab's, other tabs', and those deferred before a reload. */
  readonly tasks: ReadonlyArray<Task<Payload, Result>>;
  /** The tasks not yet succeeded, as optimistic values to merge with server data. */
  readonly optimistic: ReadonlyArray<OptimisticItem<Value, Payload, Result>>;
  /** How many tasks are pending or running. */
  readonly pendingCount: number;
  /** The tasks that failed for good (retry or acknowledge them with the client). */
  readonly failed: ReadonlyArray<Task<Payload, Result>>;
}

/**
 * The Half-Sync/Half-Async split as one call: `run(input)` does the sync half on the main thread
 * (validate, compute, map to a payload) and defers the async half as a durable task, whose live
 * state and optimistic value the component renders.
 *
 * @example
 * ```tsx
 * const place = useDeferredAction(submitOrder, {
 *   prepare: (cart: Cart) => { if (!cart.items.length) throw new Error('empty cart'); return toOrder(cart); },
 *   optimistic: (order) => ({ ...order, syncing: true }),
 *   onError: (e) => toast(e.message),
 * });
 * const result = place.run(cart);
 * if (!result.ok) setError(result.error);
 * ```
 */
export function useDeferredAction<Payload, Result, Input = Payload, Value = Payload>(
  task: TaskDefinition<Payload, Result>,
  options: DeferredActionOptions<Input, Payload, Result, Value> = {},
): DeferredAction<Input, Payload, Result, Value> {
  const client = useHalfsyncClient();
  const latest = useRef(options);
  useEffect(() => { latest.current = options; });
  const snapshot = useSnapshot(client);
  const { where, optimistic, rollback = 'mark' } = options;

  const tasks = useMemo(
    () => snapshot.filter((t) => t.name === task.name && (!where || where(t.payload as Payload))) as ReadonlyArray<Task<Payload, Result>>,
    // `where` is usually an inline function: filter by the snapshot and the task only.
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [snapshot, task.name],
  );

  // One optimistic value per task object (tasks are immutable, so this is stable per version).
  const values = useRef(new WeakMap<Task, Value>());
  const items = useMemo(() => {
    const out: Array<OptimisticItem<Value, Payload, Result>> = [];
    for (const t of tasks) {
      if (t.status === 'succeeded' || t.status === 'cancelled') continue;
      if (t.status === 'failed' && rollback === 'drop') continue;
      let value = values.current.get(t);
      if (value === undefined) {
        value = optimistic ? optimistic(t.payload) : (t.payload as unknown as Value);
        values.current.set(t, value);
      }
      out.push({ id: t.id, value, status: t.status, task: t });
    }
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tasks, rollback]);

  const run = useCallback((input: Input): RunResult<Result, Payload> => {
    const o = latest.current;
    let handle: DeferHandle<Result>;
    let payload: Payload;
    try {
      payload = o.prepare ? o.prepare(input) : (input as unknown as Payload);
      const deferOptions = typeof o.defer === 'function' ? o.defer(payload) : o.defer;
      handle = client.defer(task, payload, deferOptions);
    } catch (error) {
      return { ok: false, error };
    }
    const { id } = handle;
    handle.result.then(
      (result) => latest.current.onSuccess?.(result, id),
      (error: HalfsyncError) => { if (error.code !== 'CLIENT_CLOSED') latest.current.onError?.(error, id); },
    ).finally(() => latest.current.onSettled?.(id)).catch(() => {});
    return { ok: true, id, handle, payload };
  }, [client, task]);

  return useMemo(() => ({
    run,
    tasks,
    optimistic: items,
    pendingCount: tasks.filter((t) => t.status === 'pending' || t.status === 'running').length,
    failed: tasks.filter((t) => t.status === 'failed'),
  }), [run, tasks, items]);
}
