import { onlineTag, openChannel, runnerNews, type ChannelMessage, type WorkerReply, type WorkerRequest } from './channel.js';
import { HalfsyncError, storageError } from './errors.js';
import { Executor, type DrainSummary } from './executor.js';
import { STATUSES, toTask } from './record.js';
import { recovery, restorable } from './store/recovery.js';
import { TaskStore } from './store/store.js';
import { readOwnerState } from './store/owner-state.js';
import { taskRegistry, type AnyTaskDefinition } from './task.js';
import { sleep } from './util.js';
import { syncVerdict } from './sync-verdict.js';

export { defineTask, defineBatchTask, type TaskDefinition, type TaskContext, type TaskOptions, type BatchTaskOptions, type BatchContext, type BatchOptions, type BatchOutput, type LaneFailurePolicy, type RetryPolicy, type RetentionPolicy, type RateLimitOptions, type AnyTaskDefinition, type PayloadOf, type ResultOf } from './task.js';
export { HalfsyncError, PermanentError, RetryableError, UnreachableError, type HalfsyncErrorCode } from './errors.js';
export type { DrainSummary } from './executor.js';

/** Options of {@link serve}. */
export interface ServeOptions {
  /** The task definitions, the same list the pages give `createClient`. */
  readonly tasks: readonly AnyTaskDefinition[];
  /** The IndexedDB database name. Default `"halfsync"`. */
  readonly dbName?: string;
  /** Tasks run at once. Default 4. */
  readonly concurrency?: number;
  /** The lease of a claimed task, in ms; renewed while the handler runs. Default 30 000. */
  readonly leaseMs?: number;
  /** Within one sync event, wait for retries due within this many ms rather than end the event. Default 30 000. */
  readonly holdMs?: number;
  /** The longest a sync event may run before the drain stops (browsers cut events at about 5 minutes). Default 240 000. */
  readonly eventBudgetMs?: number;
  /** The Periodic Background Sync tag the app registered, if it did. Default `"halfsync"`. */
  readonly periodicSyncTag?: string;
  /** Drain when the worker starts (every time the browser starts it). Default true. */
  readonly drainOnStart?: boolean;
  /** The largest payload a defer made in the worker (`@halfsync/core/workbox`) accepts, approximately in bytes. Default 1 MiB, as in pages. */
  readonly maxPayloadBytes?: number;
}

/**
 * What `@halfsync/core/workbox` finds on the handle {@link serve} returns.
 * @internal Not public API: it may change in any release.
 */
export interface WorkerContext {
  readonly db: string;
  readonly tasks: ReadonlyMap<string, AnyTaskDefinition>;
  readonly store: TaskStore;
  readonly maxPayloadBytes: number;
  post(message: ChannelMessage): void;
  wake(): void;
}

/** What {@link serve} returns. */
export interface HalfsyncWorker {
  /** Drains now (messages from pages do the same); `networkBack` runs at once what waits out an unreachable backoff. */
  drain(networkBack?: boolean): Promise<DrainSummary>;

  /** The last drain's summary, if any. */
  readonly lastDrain: DrainSummary | undefined;
}

// The few service-worker types used here, declared locally so that this module type-checks (and
// its declarations read) the same under the DOM lib and the WebWorker lib.
interface ExtendableEventLike extends Event { waitUntil(promise: Promise<unknown>): void }
interface SyncEventLike extends ExtendableEventLike { readonly tag: string; readonly lastChance: boolean }
interface MessageEventLike extends ExtendableEventLike {
  readonly data: unknown;
  readonly ports: readonly MessagePort[];
  readonly source: { postMessage(message: unknown): void } | null;
}
interface WorkerScope {
  readonly registration: ServiceWorkerRegistration & { readonly sync?: { register(tag: string): Promise<void> } };
  readonly clients: { matchAll(options: { type: 'window'; includeUncontrolled: boolean }): Promise<readonly unknown[]> };
  addEventListener(type: 'sync' | 'periodicsync', listener: (event: SyncEventLike) => void): void;
  addEventListener(type: 'message', listener: (event: MessageEventLike) => void): void;
  addEventListener(type: 'online', listener: () => void): void;
}

/**
 * A drain the worker is woken for starts this long after the wake-up (ms), so that the commits of a
 * page deferring one task after another are taken in one drain, not each in a drain of its own
 * whose transactions the next commits would wait behind.
 */
const GATHER_MS = 100;

/**
 * Installs halfsync in a service worker: the `sync` and `periodicsync` listeners, the message
 * protocol pages use (ping, drain, status) and a drain at start-up. Call it once, at the top
 * level of the worker script (browsers only dispatch events to listeners added there).
 *
 * @example
 * ```ts
 * // sw.ts, next to your own code (Workbox precaching, routes...)
 * import { serve } from '@halfsync/core/worker';
 * import { tasks } from './tasks';
 * serve({ tasks });
 * ```
 */
export function serve(options: ServeOptions): HalfsyncWorker {
  const scope = globalThis as unknown as WorkerScope;
  if (typeof scope.registration === 'undefined' || typeof scope.addEventListener !== 'function') {
    throw new HalfsyncError('INVALID_OPTIONS', 'serve() must be called in a service worker script; pages use createClient()');
  }
  const db = options.dbName ?? 'halfsync';
  const tasks = taskRegistry(options.tasks);
  const holdMs = options.holdMs ?? 30_000;
  const budget = options.eventBudgetMs ?? 240_000;
  const maxPayloadBytes = options.maxPayloadBytes ?? 1_048_576;
  if (!(maxPayloadBytes > 0)) throw new HalfsyncError('INVALID_OPTIONS', `maxPayloadBytes must be a positive number, got ${String(options.maxPayloadBytes)}`);
  // After the browser lost the database, the journal's tasks come back if this worker knows them.
  const store = new TaskStore(db, undefined, recovery(db, (r) => restorable(tasks, maxPayloadBytes, r)));
  // A page says when someone's sign-in or sign-out committed: the worker reads it from the store
  // (a message is a hint, anyone on the origin can post one) and from then on starts no task of anyone else.
  const channel = openChannel(db, (m) => {
    if (m.t === 'owner') void store.db().then(readOwnerState).then((state) => executor.ownerChanged(state), () => {});
  });
  let lastDrain: DrainSummary | undefined;
  const executor = new Executor({
    store, tasks, concurrency: options.concurrency, leaseMs: options.leaseMs,
    onChange: (changed, removed, made) => { for (const m of runnerNews(changed.map(toTask), removed, made)) channel?.postMessage(m); },
    onRenew: (leases) => channel?.postMessage({ t: 'leases', leases } satisfies ChannelMessage),
  });
  // A drain that failed (IndexedDB refused, say) is told to every page; the next wake tries again.
  const failed = (error: unknown) => {
    const e = error as { code?: unknown; message?: unknown };
    channel?.postMessage({ t: 'error', code: typeof e?.code === 'string' ? e.code : 'STORAGE_ERROR', message: typeof e?.message === 'string' ? e.message : String(error) } satisfies ChannelMessage);
  };
  const report = (summary: DrainSummary) => {
    lastDrain = summary;
    channel?.postMessage({ t: 'drained', summary } satisfies ChannelMessage);
    if (summary.stopped === 'offline') void registerOnline();
    // A worker starting alone after the browser lost the database says so to every page, once (the
    // state store keeps it for pages opened later).
    if (store.reset && !resetTold) {
      resetTold = true;
      channel?.postMessage({ t: 'reset', info: store.reset } satisfies ChannelMessage);
    }
    return summary;
  };
  let resetTold = false;

  // Offline: ask the browser to wake this worker when the network returns, tabs open or not. At
  // most once a second, so that an engine whose sync fires while its worker still reads offline
  // cannot spin.
  let onlineRegisteredAt = -Infinity;
  let onlineTimer: ReturnType<typeof setTimeout> | undefined;
  /** The last registration's outcome: whether the browser accepted it. */
  let onlineRegistration: Promise<boolean> = Promise.resolve(false);
  const registerOnline = (): Promise<boolean> => {
    const sync = scope.registration.sync;
    if (!sync) return Promise.resolve(false);
    if (onlineTimer !== undefined) return onlineRegistration;
    const wait = onlineRegisteredAt + 1_000 - Date.now();
    const register = () => {
      onlineTimer = undefined;
      onlineRegisteredAt = Date.now();
      return sync.register(onlineTag(db)).then(() => true, () => false);
    };
    onlineRegistration = wait <= 0 ? register() : new Promise((resolve) => { onlineTimer = setTimeout(() => resolve(register()), wait); });
    return onlineRegistration;
  };

  // Drain requests coalesce: at most one drain runs and one waits; every request that arrives
  // meanwhile shares the waiting one (it starts after the running one, so it sees their work).
  let running: Promise<DrainSummary> | undefined;
  let queued: Promise<DrainSummary> | undefined;
  let queuedNetworkBack = false;
  const begin = (networkBack: boolean): Promise<DrainSummary> => {
    const run: Promise<DrainSummary> = sleep(GATHER_MS).then(() => executor.drain({ networkBack })).then(report, (error: unknown) => { failed(error); throw error; })
      .finally(() => { if (running === run) running = undefined; });
    running = run;
    return run;
  };
  const drain = (networkBack = false): Promise<DrainSummary> => {
    if (!running) return begin(networkBack);
    queuedNetworkBack ||= networkBack;
    queued ??= running.catch(() => {}).then(() => {
      const back = queuedNetworkBack;
      queuedNetworkBack = false;
      queued = undefined;
      return begin(back);
    });
    return queued;
  };

  const onSync = async (lastChance: boolean, periodic: boolean, networkBack: boolean): Promise<'done' | 'browser-retry'> => {
    const deadline = Date.now() + budget;
    const run = (back: boolean) => executor.drain({ deadline, lastChance, networkBack: back }).then(report, (error: unknown) => { failed(error); throw error; });
    await sleep(GATHER_MS);
    let summary = await run(networkBack);
    while (summary.stopped !== 'offline' && summary.nextDueAt !== undefined && summary.dueNow === 0 && summary.nextDueAt - Date.now() <= holdMs && summary.nextDueAt < deadline) {
      await sleep(summary.nextDueAt - Date.now());
      summary = await run(false);
    }
    if (periodic) return 'done';
    const windows = await scope.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const onlineRegistered = summary.stopped === 'offline' && await registerOnline();
    return syncVerdict(summary, Date.now(), lastChance, windows.length > 0, onlineRegistered);
  };

  const handleSync = (event: SyncEventLike, periodic: boolean): void => {
    const lastChance = event.lastChance === true;
    const report = (outcome: 'done' | 'browser-retry' | 'error') =>
      channel?.postMessage({ t: 'sync', tag: event.tag, lastChance, outcome } satisfies ChannelMessage);
    const networkBack = event.tag.startsWith(onlineTag(db));
    event.waitUntil(onSync(lastChance, periodic, networkBack).then((verdict) => {
      report(verdict);
      if (verdict === 'browser-retry') throw new Error('halfsync: tasks remain; asking the browser to retry this sync');
    }, (error: unknown) => {
      report('error');
      throw error;
    }));
  };

  scope.addEventListener('sync', (event) => {
    if (event.tag !== `halfsync:${db}` && !event.tag.startsWith(`halfsync:${db}:`)) return;
    handleSync(event, false);
  });

  scope.addEventListener('periodicsync', (event) => {
    if (event.tag !== (options.periodicSyncTag ?? 'halfsync')) return;
    handleSync(event, true);
  });

  scope.addEventListener('message', (event) => {
    const request = event.data as WorkerRequest | undefined;
    if (!request || request.halfsync !== 1 || request.db !== db) return;
    const answer = async (): Promise<WorkerReply> => {
      try {
        if (request.op === 'ping') return { ok: true, op: 'ping', tasks: [...tasks.keys()], sync: 'sync' in scope.registration };
        if (request.op === 'drain') return { ok: true, op: 'drain', summary: await drain(request.networkBack === true) };
        if (request.op === 'status') {
          const counts: Record<string, number> = {};
          const idb = await store.db();
          for (const status of STATUSES) {
            counts[status] = await idb.countFromIndex('tasks', 'status', IDBKeyRange.bound([status, -Infinity], [status, Infinity]));
          }
          // Plain tasks not yet moved on wait in the inbox, pending.
          counts.pending = (counts.pending ?? 0) + await idb.count('inbox');
          return { ok: true, op: 'status', counts };
        }
        return { ok: false, code: 'INVALID_OPTIONS', message: `unknown request ${JSON.stringify(request.op)}` };
      } catch (error) {
        // Always a documented code: the store's own, or what the failure was, said plainly.
        const coded = error instanceof HalfsyncError ? error
          : typeof DOMException !== 'undefined' && error instanceof DOMException ? storageError(error, `answering a page's ${String(request.op)} request`)
          : new HalfsyncError('WORKER_UNAVAILABLE', `the service worker failed to answer a page's ${String(request.op)} request (${(error as Error)?.message ?? String(error)}); see the worker's console`, { cause: error });
        return { ok: false, code: coded.code, message: coded.message };
      }
    };
    const reply = (m: WorkerReply) => {
      const port = event.ports[0];
      if (port) port.postMessage(m);
      else event.source?.postMessage(m);
    };
    event.waitUntil(answer().then(reply));
  });

  // Where the engine tells workers, the network's return wakes the runner here too.
  scope.addEventListener('online', () => { drain(true).catch(() => {}); });

  if (options.drainOnStart !== false) drain().catch(() => {});

  const handle: HalfsyncWorker = {
    drain,
    get lastDrain() { return lastDrain; },
  };
  // What a defer made in this worker needs (@halfsync/core/workbox), kept off the public type so
  // that workers which never defer do not carry its code. The key is shared through the registry.
  let wakes = 0;
  const context: WorkerContext = {
    db, tasks, store, maxPayloadBytes,
    post: (message) => channel?.postMessage(message),
    // Woken as a page wakes it: a fresh Background Sync (now when online, else when the network
    // returns, with the browser's retries) where there is one, otherwise a drain now.
    wake: () => {
      const sync = scope.registration.sync;
      if (!sync) { drain().catch(() => {}); return; }
      sync.register(`halfsync:${db}:w-${Date.now().toString(36)}-${(wakes++).toString(36)}`).catch(() => drain().catch(() => {}));
    },
  };
  Object.defineProperty(handle, Symbol.for('halfsync.worker'), { value: context });
  return handle;
}
