import { useEffect, useState, useSyncExternalStore } from 'react';
import type { HalfsyncClient } from '@halfsync/core';

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
