// Lists read from the shop's backend, as the pages show them.
import { useEffect, useState } from 'react';

/** An order as the backend stores it. */
export interface ServerOrder { id: number; orderNumber: string; customer: { name: string; email: string }; totalCents: number; createdAt: string | number; items: unknown[]; note: string }
/** A mail in the backend's outbox. */
export interface Mail { id: number; to: string; subject: string; body: string; orderNumber: string; createdAt: string | number }

/** Reads a backend list, again whenever `version` changes. */
export function useServerList<T>(path: string, version: unknown): { items: T[]; error: string } {
  const [state, setState] = useState<{ items: T[]; error: string }>({ items: [], error: '' });
  useEffect(() => {
    let live = true;
    fetch(path, { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`the backend answered ${r.status}`))))
      .then((j: { items: T[] }) => { if (live) setState({ items: j.items, error: '' }); })
      .catch((e: Error) => { if (live) setState((s) => ({ items: s.items, error: `Showing the last known list: ${e.message}` })); });
    return () => { live = false; };
  }, [path, version]);
  return state;
}
