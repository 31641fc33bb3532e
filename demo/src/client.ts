import { chains, createClient, history, latestWins, owners } from '@halfsync/core';
import { tasks } from './tasks';

// One client for the page, with what the shop uses beyond the core: chains (the order's label,
// email and statistics after the order), latest wins (the order note), owners (the customer switch)
// and history (the queue panel's counts). In production builds the worker is /sw.js (module, built
// with the page); the dev server has no worker, so there the page runner completes the tasks.
export const client = createClient({
  tasks,
  use: [chains, latestWins, owners, history],
  serviceWorker: import.meta.env.PROD ? { url: '/sw.js', type: 'module' } : false,
});
