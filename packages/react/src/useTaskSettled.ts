import { useEffect, useRef } from 'react';
import type { Task, TaskDefinition } from '@halfsync/core';
import { useHalfsyncClient } from './provider.js';

/**
 * Calls `callback` when a task of `task` (a definition or name; every task when undefined)
 * settles, in this tab or any other, or in the worker: the moment to refetch server data. A
 * binding of `client.onSettled`; the latest callback is used without resubscribing.
 *
 * @example
 * ```tsx
 * const [version, setVersion] = useState(0);
 * useTaskSettled(sendConfirmation, () => setVersion((v) => v + 1));
 * const mail = useServerList('/api/emails', version);
 * ```
 */
export function useTaskSettled<Payload = unknown, Result = unknown>(
  task: TaskDefinition<Payload, Result> | string | undefined,
  callback: (task: Task<Payload, Result>) => void,
): void {
  const client = useHalfsyncClient();
  const latest = useRef(callback);
  useEffect(() => { latest.current = callback; });
  const name = typeof task === 'string' ? task : task?.name;
  useEffect(() => client.onSettled((settled) => {
    for (const t of settled) if (name === undefined || t.name === name) latest.current(t as Task<Payload, Result>);
  }), [client, name]);
}
