import { useEffect, useState } from 'react';
import type { HalfsyncClient, TaskStatus } from '@halfsync/core';

/** The statuses the panel's header counts. */
export const COUNTED = ['pending', 'running', 'failed', 'succeeded', 'cancelled'] as const satisfies readonly TaskStatus[];

/** Stored tasks per status, from the store's indexes. */
export type StoreCounts = Readonly<Record<(typeof COUNTED)[number], number>>;

/** How often at most the counts are read again while the queue changes. */
export const COUNT_INTERVAL_MS = 500;

/**
 * Every stored task counted by status through `client.count` (index counts): the whole store, not
 * the window of recent tasks the snapshot holds. Read on mount and again after changes, at most once
 * per {@link COUNT_INTERVAL_MS}, the last change always included. Undefined until the first read
 * answers, and while the counts cannot be read (the caller shows the snapshot's counts then).
 */
export function useStoreCounts(client: HalfsyncClient): StoreCounts | undefined {
  const [counts, setCounts] = useState<StoreCounts | undefined>();
  useEffect(() => {
    let live = true;
    let reading = false;
    let again = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    const read = async () => {
      reading = true;
      last = Date.now();
      try {
        const values = await Promise.all(COUNTED.map((status) => client.count({ status })));
        if (live) setCounts(Object.fromEntries(COUNTED.map((status, i) => [status, values[i]!])) as StoreCounts);
      } catch {
        // A closed or lost database: the header falls back to the snapshot's counts, and the
        // panel's storage and runner banners say what happened.
        if (live) setCounts(undefined);
      } finally {
        reading = false;
        if (again && live) { again = false; schedule(); }
      }
    };
    const schedule = () => {
      if (reading) { again = true; return; }
      if (timer !== undefined) return;
      timer = setTimeout(() => { timer = undefined; void read(); }, Math.max(0, last + COUNT_INTERVAL_MS - Date.now()));
    };
    const unsubscribe = client.subscribe(schedule);
    void read();
    return () => { live = false; unsubscribe(); if (timer !== undefined) clearTimeout(timer); };
  }, [client]);
  return counts;
}
