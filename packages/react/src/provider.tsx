import { createContext, useContext, type ReactNode } from 'react';
import { HalfsyncError, type HalfsyncClient } from '@halfsync/core';

const HalfsyncContext = createContext<HalfsyncClient | null>(null);

/** Props of {@link HalfsyncProvider}. */
export interface HalfsyncProviderProps {
  /** The client made by `createClient`, once per database, outside React (a module). */
  readonly client: HalfsyncClient;
  readonly children?: ReactNode;
}

/**
 * Makes a halfsync client available to the hooks below it.
 *
 * @example
 * ```tsx
 * const client = createClient({ tasks, serviceWorker: '/sw.js' });
 * root.render(<HalfsyncProvider client={client}><App /></HalfsyncProvider>);
 * ```
 */
export function HalfsyncProvider({ client, children }: HalfsyncProviderProps) {
  return <HalfsyncContext.Provider value={client}>{children}</HalfsyncContext.Provider>;
}

/** The client of the nearest {@link HalfsyncProvider}. Throws a coded error when there is none. */
export function useHalfsyncClient(): HalfsyncClient {
  const client = useContext(HalfsyncContext);
  if (!client) {
    throw new HalfsyncError('INVALID_OPTIONS', 'no halfsync client: wrap the component tree in <HalfsyncProvider client={client}>');
  }
  return client;
}
