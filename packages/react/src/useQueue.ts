import { useMemo, useSyncExternalStore } from 'react';
import type { ClientMode, HalfsyncClient, Task, TaskDefinition, TaskStatus } from '@halfsync/core';
import { useHalfsyncClient } from './provider.js';

const EMPTY: readonly Task[] = Object.freeze([]);
const serverSnapshot = () => EMPTY;

/** Every task the client holds, live; empty during server rendering. Re-renders on any change: prefer {@link useDeferredQueue} with a filter. */
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
 * The tasks of the queue, live, in commit order, optionally filtered: for lists and panels. The
 * component re-renders only when a task of its slice changes, and the array keeps its identity
 * until then.
 */
export function useDeferredQueue<Payload = unknown, Result = unknown>(filter: QueueFilter<Payload, Result> = {}): ReadonlyArray<Task<Payload, Result>> {
  const client = useHalfsyncClient();
  const name = typeof filter.task === 'string' ? filter.task : filter.task?.name;
  const statuses = filter.status === undefined ? undefined : typeof filter.status === 'string' ? filter.status : filter.status.join();
  const slice = useMemo(
    () => (name === undefined && statuses === undefined ? undefined : client.select({ task: name, status: statuses?.split(',') as TaskStatus[] | undefined })),
    [client, name, statuses],
  );
  const all = useSyncExternalStore(slice ? slice.subscribe : client.subscribe, slice ? slice.getSnapshot : client.getSnapshot, serverSnapshot);
  return all as ReadonlyArray<Task<Payload, Result>>;
}

/** One task by id, live; undefined while unknown (or after it was acknowledged). Re-renders only when that task changes. */
export function useDeferredTask<Payload = unknown, Result = unknown>(id: string | undefined): Task<Payload, Result> | undefined {
  const client = useHalfsyncClient();
  const slice = useMemo(() => (id === undefined ? undefined : client.select({ id })), [client, id]);
  const tasks = useSyncExternalStore(slice ? slice.subscribe : noSubscribe, slice ? slice.getSnapshot : serverSnapshot, serverSnapshot);
  return tasks[0] as Task<Payload, Result> | undefined;
}

const noSubscribe = () => () => {};

/**
 * The path the client completes work on (`sync`, `message`, `page`), live: `starting` until the
 * worker answered, and during server rendering.
 */
export function useHalfsyncMode(): ClientMode {
  const client = useHalfsyncClient();
  return useSyncExternalStore(client.subscribe, () => client.mode, () => 'starting');
}
