import { defineCapability, type Capability } from '../capability.js';
import type { PeriodicTaskDefinition, Schedule } from '../periodic.js';
import type { Task } from '../record.js';

/**
 * Whether the browser wakes the worker for periodic tasks with every tab closed:
 * - `registered`: Periodic Background Sync is registered, every `minIntervalMs` at the most often
 *   (the browser decides how often, from the site's engagement).
 * - `not-granted`: the browser has the API but not the permission (Chromium grants it to an
 *   installed app only).
 * - `unsupported`: no Periodic Background Sync (Firefox, Safari).
 * - `no-worker`: tasks run in the page; there is no worker to wake.
 * - `no-periodic-tasks`: none of the client's tasks is periodic.
 *
 * In every case periodic tasks also run when the worker starts and while a tab is open.
 */
export type PeriodicSyncState = 'registered' | 'not-granted' | 'unsupported' | 'no-worker' | 'no-periodic-tasks';

/** What {@link PeriodicMembers.periodicSync} resolves with. */
export interface PeriodicSyncStatus {
  readonly state: PeriodicSyncState;
  /** The shortest `every` of the client's periodic tasks, asked of the browser as `minInterval`. */
  readonly minIntervalMs: number | undefined;
}

/** What the `periodic` capability adds to the client. */
export interface PeriodicMembers {
  /** Registers Periodic Background Sync where the browser allows it (once per client), and says how it went. */
  periodicSync(): Promise<PeriodicSyncStatus>;
  /** The next run of a periodic task, as this tab sees it: its waiting (or running) task, or undefined until the runner has made it. */
  nextRun(task: Pick<PeriodicTaskDefinition, 'name' | 'schedule'>): Task | undefined;
}

/** The tag the worker's `periodicsync` listener answers to (`serve`'s `periodicSyncTag` default). */
const TAG = 'halfsync';
/** How long `periodicSync` waits for the client's worker to be registered. */
const WORKER_WAIT_MS = 5_000;

interface PeriodicSyncManagerLike { register(tag: string, options: { minInterval: number }): Promise<void> }

/**
 * Periodic tasks woken by the browser with every tab closed: `createClient({ use: [periodic] })`.
 * Without it, periodic tasks still run (when the worker starts, and while a tab is open).
 *
 * @example
 * ```ts
 * import { createClient, periodic } from '@halfsync/core';
 * import { refreshPrices } from './tasks';
 * const client = createClient({ tasks: [refreshPrices], serviceWorker: { url: '/sw.js' }, use: [periodic] });
 * const { state } = await client.periodicSync(); // 'registered' in an installed Chromium app
 * const next = client.nextRun(refreshPrices)?.nextRunAt;
 * ```
 */
export const periodic: Capability<PeriodicMembers> = /* @__PURE__ */ defineCapability('periodic', (core): PeriodicMembers => {
  const periods = [...core.registry.values()].flatMap((t) => (t as { schedule?: Schedule }).schedule?.everyMs ?? []);
  const minIntervalMs = periods.length > 0 ? Math.min(...periods) : undefined;
  let asked: Promise<PeriodicSyncStatus> | undefined;
  const ask = async (): Promise<PeriodicSyncStatus> => {
    const status = (state: PeriodicSyncState): PeriodicSyncStatus => ({ state, minIntervalMs });
    if (minIntervalMs === undefined) return status('no-periodic-tasks');
    const container = typeof navigator === 'undefined' ? undefined : navigator.serviceWorker;
    // The client registers its worker as it starts: wait a little for it (a page runner has none).
    const registration = await container?.getRegistration() ?? await Promise.race([container?.ready, new Promise<undefined>((resolve) => setTimeout(resolve, WORKER_WAIT_MS))]);
    if (!container || !registration) return status('no-worker');
    const manager = (registration as ServiceWorkerRegistration & { periodicSync?: PeriodicSyncManagerLike }).periodicSync;
    if (!manager) return status('unsupported');
    const permission = await navigator.permissions?.query({ name: 'periodic-background-sync' as PermissionName }).then((p) => p.state, () => undefined);
    if (permission !== 'granted') return status('not-granted');
    try {
      await manager.register(TAG, { minInterval: minIntervalMs });
      return status('registered');
    } catch {
      return status('not-granted');
    }
  };
  const periodicSync = (): Promise<PeriodicSyncStatus> => {
    asked ??= core.loading.then(ask);
    return asked;
  };
  // Asked once the client has loaded, whether or not the app reads the answer.
  if (minIntervalMs !== undefined) void periodicSync().catch(() => {});
  return {
    periodicSync() {
      core.open();
      return periodicSync();
    },
    nextRun(task) {
      let next: Task | undefined;
      for (const t of core.model.values()) {
        if (t.name !== task.name || t.every === undefined || (t.status !== 'pending' && t.status !== 'running')) continue;
        if (!next || t.nextRunAt < next.nextRunAt) next = t;
      }
      return next;
    },
  };
});
