import { chains, createClient, history, latestWins, owners, periodic } from '@halfsync/core';
import { tasks } from './tasks';

// One client for the page, with what the shop uses beyond the core: chains (the order's label,
// email and statistics after the order), latest wins (the order note), owners (the customer switch),
// history (the queue panel's counts) and periodic (the price check woken by the browser where it
// allows, in an installed app). In production builds the worker is /sw.js (module, built
// with the page); the dev server has no worker, so there the page runner completes the tasks.
export const client = createClient({
  tasks,
  use: [chains, latestWins, owners, history, periodic],
  serviceWorker: import.meta.env.PROD ? { url: '/sw.js', type: 'module' } : false,
});
