import { useMemo, useSyncExternalStore } from 'react';
import type { ClientMode, HalfsyncClient, Task, TaskDefinition, TaskStatus } from '@halfsync/core';
import { useHalfsyncClient } from './provider.js';

const EMPTY: readonly Task[] = Object.freeze([]);
const serverSnapshot = () => EMPTY;

/** Every task the client knows, live; empty during server rendering. */
export function useSnapshot(client: HalfsyncClient): readonly Task[] {
  return useSyncExternalStore(client.subscribe, client.getSnapshot, serverSnapshot);
}

/** Which tasks {@link useDeferredQueue} returns. */
export interface QueueFilter<Payload = unknown, Result = unknown> {
  /** Only tasks of this definition (or name). */
  readonly task?: TaskDefinition<Payload, Result> | string;
  /** Only tasks in these statuses. */
  readonly status?: TaskStatus | readonly TaskStatus[];
}

/**
 * The tasks of the queue, live, in commit order, optionally filtered: for lists and panels.
 * The array keeps its identity until a matching task changes.
 */
export function useDeferredQueue<Payload = unknown, Result = unknown>(filter: QueueFilter<Payload, Result> = {}): ReadonlyArray<Task<Payload, Result>> {
  const snapshot = useSnapshot(useHalfsyncClient());
  const name = typeof filter.task === 'string' ? filter.task : filter.task?.name;
  const statuses = filter.status === undefined ? undefined : typeof filter.status === 'string' ? filter.status : filter.status.join();
  return useMemo(() => {
    if (name === undefined && statuses === undefined) return snapshot as ReadonlyArray<Task<Payload, Result>>;
    const wanted = statuses === undefined ? undefined : new Set(statuses.split(','));
    return snapshot.filter((t) => (name === undefined || t.name === name) && (!wanted || wanted.has(t.status))) as ReadonlyArray<Task<Payload, Result>>;
  }, [snapshot, name, statuses]);
}

/** One task by id, live; undefined while unknown (or after it was acknowledged). */
export function useDeferredTask<Payload = unknown, Result = unknown>(id: string | undefined): Task<Payload, Result> | undefined {
  const client = useHalfsyncClient();
  return useSyncExternalStore(
    client.subscribe,
    () => (id === undefined ? undefined : (client.get(id) as Task<Payload, Result> | undefined)),
    () => undefined,
  );
}

/**
 * The path the client completes work on (`sync`, `message`, `page`), live: `starting` until the
 * worker answered, and during server rendering.
 */
export function useHalfsyncMode(): ClientMode {
  const client = useHalfsyncClient();
  return useSyncExternalStore(client.subscribe, () => client.mode, () => 'starting');
}
