import { useEffect, useState } from 'react';
import type { HalfsyncClient, Task, TaskStatus } from '@halfsync/core';
import { countOf } from './hooks.js';

/** The statuses the panel's header counts. */
export const COUNTED = ['pending', 'running', 'failed', 'succeeded', 'cancelled'] as const satisfies readonly TaskStatus[];

/** Stored tasks per status, from the store's indexes. */
export type StoreCounts = Readonly<Record<(typeof COUNTED)[number], number>>;

/** What {@link useStoreCounts} reads. */
export interface StoreView {
  /** Every stored task by status, every user's. */
  readonly counts: StoreCounts;
  /**
   * Pending tasks the store holds and the snapshot does not: another user's, which a client keeps
   * out of view. Taken from a read during which the snapshot did not change (otherwise the one
   * before is kept), so a task that just ran is never counted as someone else's.
   */
  readonly othersPending: number;
}

/** How often at most the counts are read again while the queue changes. */
export const COUNT_INTERVAL_MS = 250;

const pendingIn = (tasks: readonly Task[]) => tasks.reduce((n, t) => n + (t.status === 'pending' ? 1 : 0), 0);

/**
 * Every stored task counted by status through `client.count` (index counts; a client made without `history` has none): the whole store, not
 * the window of recent tasks the snapshot holds. Read on mount and again after changes, at most once
 * per {@link COUNT_INTERVAL_MS}, the last change always included. Undefined until the first read
 * answers, and while the counts cannot be read (the caller shows the snapshot's counts then).
 */
export function useStoreCounts(client: HalfsyncClient): StoreView | undefined {
  const [view, setView] = useState<StoreView | undefined>();
  useEffect(() => {
    let live = true;
    let reading = false;
    let again = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let last = 0;
    let othersPending = 0;
    const read = async () => {
      reading = true;
      last = Date.now();
      const before = client.getSnapshot();
      try {
        const count = countOf(client);
        if (!count) throw new Error('no history capability');
        const values = await Promise.all(COUNTED.map((status) => count({ status })));
        const counts = Object.fromEntries(COUNTED.map((status, i) => [status, values[i]!])) as StoreCounts;
        if (client.getSnapshot() === before) othersPending = Math.max(0, counts.pending - pendingIn(before));
        if (live) setView({ counts, othersPending });
      } catch {
        // A closed or lost database: the header falls back to the snapshot's counts, and the
        // panel's storage and runner banners say what happened.
        if (live) setView(undefined);
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
  return view;
}
