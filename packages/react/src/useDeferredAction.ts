import { useEffect, useMemo, useState, useSyncExternalStore } from 'react';
import {
  DeferredActionObserver, type DeferredActionOptions, type DeferredActionState, type OptimisticItem, type RunResult, type TaskDefinition,
} from '@halfsync/core';
import { useHalfsyncClient } from './provider.js';

export type { DeferredActionOptions, OptimisticItem, RunResult };

/** What {@link useDeferredAction} returns: the action's live state and `run`. */
export interface DeferredAction<Input, Payload, Result, Value> extends DeferredActionState<Payload, Result, Value> {
  /**
   * Runs the action: the sync half (`prepare`) now, then defers the async half. Never throws:
   * a refusal comes back as `{ ok: false, error }`. The new task is in `tasks` and `optimistic`
   * before the browser paints.
   */
  run(input: Input): RunResult<Result, Payload>;
}

const EMPTY = Object.freeze({ tasks: [], optimistic: [], pendingCount: 0, failed: [] });

/**
 * The Half-Sync/Half-Async split as one call: `run(input)` does the sync half on the main thread
 * (validate, compute, map to a payload) and defers the async half as a durable task, whose live
 * state and optimistic value the component renders. A binding of core's `DeferredActionObserver`.
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
  const [made, setMade] = useState(() => ({ client, task, observer: new DeferredActionObserver(client, task, options) }));
  let observer = made.observer;
  if (made.client !== client || made.task !== task) {
    observer = new DeferredActionObserver(client, task, options);
    setMade({ client, task, observer });
  }
  useEffect(() => { observer.setOptions(options); });
  const state = useSyncExternalStore(observer.subscribe, observer.getSnapshot, () => EMPTY as DeferredActionState<Payload, Result, Value>);
  return useMemo(() => ({ ...state, run: observer.run }), [state, observer]);
}
