import { useEffect, useState, useSyncExternalStore } from 'react';
import type { HalfsyncClient, HistoryMembers, JournalMembers } from '@halfsync/core';

const subscribeOnline = (listener: () => void) => {
  window.addEventListener('online', listener);
  window.addEventListener('offline', listener);
  return () => { window.removeEventListener('online', listener); window.removeEventListener('offline', listener); };
};

/** Whether the browser says it is online, live; true during server rendering. */
export function useOnline(): boolean {
  return useSyncExternalStore(subscribeOnline, () => navigator.onLine, () => true);
}

/** The time, ticking each second while `active`: relative times in the panel move on their own. */
export function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

/** Who is signed in, live. */
export function useOwner(client: HalfsyncClient): string | undefined {
  return useSyncExternalStore(client.subscribe, () => client.owner, () => undefined);
}

/** `client.count`, when the client was made with the `history` capability (the panel shows the snapshot's counts otherwise). */
export function countOf(client: HalfsyncClient): HistoryMembers['count'] | undefined {
  const count = (client as Partial<HistoryMembers>).count;
  return typeof count === 'function' ? count.bind(client) : undefined;
}

/** The client's `journal` members, when it was made with that capability. */
export function journalOf(client: HalfsyncClient): JournalMembers | undefined {
  return typeof (client as Partial<JournalMembers>).acknowledgeStorageReset === 'function' ? client as HalfsyncClient & JournalMembers : undefined;
}
