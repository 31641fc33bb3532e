import type { DrainSummary } from './executor.js';

// How a sync event ends, a pure rule of the worker entry (tested without a browser); not exported
// from any package entry.

/** The browser's own retry schedule: it retries a rejected sync after 5 minutes, then 15. */
const BROWSER_RETRY_MS = 5 * 60_000;

/**
 * Decides how a sync event ends after its drain: `done` (resolve: nothing is left, or a page is
 * open and will wake the worker at the next due time, sooner than the browser would), or
 * `browser-retry` (reject, so the browser retries the sync in 5 then 15 minutes even if every tab
 * is closed). On the last chance it always resolves: the work stays queued for the next wake-up
 * (a page load, an `online` event, a periodic sync). When the drain stopped because the browser
 * went offline it resolves if a sync for the return of the network could be registered (it wakes
 * the worker then), and rejects if not (Chromium refuses it with no window open): the browser
 * retries a rejected sync once it is online again.
 */
export function syncVerdict(summary: DrainSummary, now: number, lastChance: boolean, pageOpen: boolean, onlineRegistered = false): 'done' | 'browser-retry' {
  const left = summary.dueNow > 0 || summary.nextDueAt !== undefined;
  if (!left || lastChance) return 'done';
  // Offline: a sync registered for the network's return wakes the worker. Chromium refuses that
  // registration while no window is open; then only the browser's retry of this event is left.
  if (summary.stopped === 'offline') return onlineRegistered ? 'done' : 'browser-retry';
  if (pageOpen && summary.nextDueAt !== undefined && summary.nextDueAt - now < BROWSER_RETRY_MS && summary.dueNow === 0) return 'done';
  return 'browser-retry';
}
