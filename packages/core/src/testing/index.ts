import { HalfsyncError } from '../errors.js';
import type { Task, TaskStatus } from '../record.js';

/**
 * The least a page handle must offer: `evaluate(fn, arg)`. A Playwright `Page` fits (all
 * helpers), and so does a puppeteer `Page` or any driver with that method (the helpers that do
 * not need the DevTools Protocol).
 */
export interface PageLike {
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}

/** The Playwright pieces the kit uses, typed structurally so Playwright stays an optional peer. */
interface CDPSessionLike {
  send(method: string, params?: Record<string, unknown>): Promise<unknown>;
  on(event: string, listener: (params: never) => void): unknown;
}
interface PlaywrightPageLike extends PageLike {
  context(): {
    newCDPSession(page: unknown): Promise<CDPSessionLike>;
    setOffline(offline: boolean): Promise<void>;
  };
}

/** Options of {@link halfsyncKit}. */
export interface KitOptions {
  /** The database the app's client uses. Default `"halfsync"`. */
  readonly dbName?: string;
  /** How long waits last before they fail, in ms. Default 10 000. */
  readonly timeoutMs?: number;
}

/** One event of the browser's own Background Sync record. */
export interface BackgroundSyncEvent {
  /** When the browser logged it (ms since the epoch). */
  readonly at: number;
  /** `Registered sync`, `Dispatched sync event`, `Sync completed`, `sync event failed`... */
  readonly event: string;
  /** The sync tag. */
  readonly tag: string;
  /** The browser's details: `Last Chance`, `Status`, `Next Attempt Delay (ms)`... */
  readonly meta: Readonly<Record<string, string>>;
}

/** How one sync event dispatched by {@link HalfsyncKit.sync} ended, as the worker reported it. */
export interface SyncReport {
  readonly tag: string;
  readonly lastChance: boolean;
  /** `done` (resolved), `browser-retry` (rejected so the browser retries) or `error`. */
  readonly outcome: 'done' | 'browser-retry' | 'error';
}

/** The test helpers for one page of an app built on halfsync. */
export interface HalfsyncKit {
  /** The engine of the page: `chromium` has every helper; the others lack the DevTools Protocol. */
  readonly engine: 'chromium' | 'firefox' | 'webkit';
  /**
   * Fires, now, the sync events halfsync registered (or one new halfsync tag when none is
   * registered), through the DevTools Protocol, and resolves when the worker has finished them.
   * Chromium only; the browser must be online (Chromium ignores a dispatched sync while offline).
   */
  sync(options?: { lastChance?: boolean }): Promise<SyncReport[]>;
  /**
   * Fires a Periodic Background Sync event (tag `"halfsync"`, what `serve` answers by default)
   * through the DevTools Protocol, registered or not, and resolves when the worker has finished it.
   * Chromium only.
   */
  periodicSync(options?: { tag?: string }): Promise<SyncReport>;
  /** Takes the page and its service worker offline, waking the worker first. Chromium only. */
  offline(): Promise<void>;
  /** Brings the page and its worker back online, waking the worker first. Chromium only. */
  online(): Promise<void>;
  /**
   * Stops the service worker, as the browser does when it kills one mid-task. With `when`, waits
   * for it first (for example until the server has received a request). Chromium only.
   */
  stopWorker(options?: { when?: () => Promise<unknown> }): Promise<void>;
  /** Starts the worker if stopped and waits for its answer. Every engine. */
  wakeWorker(): Promise<void>;
  /** The tasks as stored in IndexedDB, in commit order. Every engine. */
  tasks(): Promise<Task[]>;
  /** Waits until task `id` has one of the statuses. Every engine. */
  waitForTask(id: string, status: TaskStatus | readonly TaskStatus[], options?: { timeoutMs?: number }): Promise<Task>;
  /**
   * Waits until no task is pending or running (a periodic task's next run, not yet tried, does not
   * count: one always waits), and returns them all. Every engine.
   */
  waitForIdle(options?: { timeoutMs?: number }): Promise<Task[]>;
  /** The browser's Background Sync record since the kit was created. Chromium only. */
  backgroundSyncLog(): Promise<BackgroundSyncEvent[]>;
  /** Detaches from the DevTools Protocol. */
  dispose(): Promise<void>;
}

const unsupported = (engine: string, what: string, instead: string): HalfsyncError =>
  new HalfsyncError('UNSUPPORTED_ENGINE', `${engine} has no DevTools Protocol, so the kit cannot ${what}; ${instead}`, { details: { engine } });

// ---- code evaluated in the page (self-contained: no imports, no closures) -----------------

interface ReadArgs { db: string; id?: string; statuses?: string[]; idle?: boolean; timeoutMs: number }

/** Runs in the page: reads the tasks store, optionally waiting (on the BroadcastChannel) for a state. */
async function readInPage(args: ReadArgs): Promise<{ ok: boolean; tasks: unknown[] }> {
  const read = () => new Promise<unknown[]>((resolve, reject) => {
    const open = indexedDB.open(args.db);
    open.onerror = () => reject(open.error);
    open.onupgradeneeded = () => { open.transaction?.abort(); };
    open.onsuccess = () => {
      const db = open.result;
      if (!db.objectStoreNames.contains('tasks')) { db.close(); resolve([]); return; }
      // Plain tasks not yet moved on by a runner wait in the inbox (schema 8 on); large payloads
      // are kept apart, in `payloads`, by task id (schema 9 on).
      const stores = ['tasks', 'inbox'].filter((name) => db.objectStoreNames.contains(name));
      const apart = db.objectStoreNames.contains('payloads');
      const tx = db.transaction(apart ? [...stores, 'payloads'] : stores);
      const reads = stores.map((name) => tx.objectStore(name).getAll());
      const payloads = apart ? tx.objectStore('payloads').getAll() : undefined;
      tx.oncomplete = () => {
        db.close();
        const byId = new Map(((payloads?.result ?? []) as Array<{ id: string; payload: unknown }>).map((p) => [p.id, p.payload]));
        resolve(reads.flatMap((q) => q.result as Array<Record<string, unknown>>).map((r) => (r.apart === true && !('payload' in r) ? { ...r, payload: byId.get(r.id as string) } : r)));
      };
      tx.onerror = () => { db.close(); reject(tx.error); };
    };
  });
  const done = (all: unknown[]) => {
    const tasks = all as Array<{ id: string; status: string; every?: unknown; attempts?: unknown }>;
    if (args.id !== undefined) return tasks.some((t) => t.id === args.id && args.statuses!.includes(t.status));
    // A periodic task always has its next run waiting: one not yet tried is not work left to do.
    if (args.idle) return tasks.every((t) => (t.status !== 'pending' && t.status !== 'running') || (t.status === 'pending' && typeof t.every === 'number' && t.attempts === 0));
    return true;
  };
  const end = Date.now() + args.timeoutMs;
  const channel = typeof BroadcastChannel === 'undefined' ? undefined : new BroadcastChannel(`halfsync:${args.db}`);
  let poke: (() => void) | undefined;
  if (channel) channel.onmessage = () => poke?.();
  try {
    for (;;) {
      const all = await read();
      if (done(all)) return { ok: true, tasks: all };
      const left = end - Date.now();
      if (left <= 0) return { ok: false, tasks: all };
      // Wake on the next broadcast change, or re-read after a while (a change in another origin
      // context may not broadcast, e.g. a test writing IndexedDB directly).
      await new Promise<void>((resolve) => { poke = resolve; setTimeout(resolve, Math.min(left, 250)); });
    }
  } finally {
    channel?.close();
  }
}

/** Runs in the page: asks the worker for a halfsync answer (waking it if it was stopped). */
async function pingInPage(args: { db: string; timeoutMs: number }): Promise<string> {
  // Waits for the app to have registered and activated its worker (it may do so after load).
  const reg = await Promise.race([
    navigator.serviceWorker.ready,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), args.timeoutMs)),
  ]);
  const sw = reg?.active;
  if (!sw) return 'no active service worker';
  return new Promise<string>((resolve) => {
    const ch = new MessageChannel();
    const timer = setTimeout(() => resolve('no answer'), args.timeoutMs);
    ch.port1.onmessage = (e: MessageEvent<{ ok?: boolean }>) => { clearTimeout(timer); resolve(e.data?.ok ? 'ok' : 'refused'); };
    sw.postMessage({ halfsync: 1, op: 'ping', db: args.db }, [ch.port2]);
  });
}

/** Runs in the page: starts collecting the worker's sync reports. */
function listenInPage(args: { db: string }): void {
  const w = window as unknown as { __halfsyncKit?: { reports: unknown[]; channel: BroadcastChannel } };
  if (w.__halfsyncKit) return;
  const channel = new BroadcastChannel(`halfsync:${args.db}`);
  const state = { reports: [] as unknown[], channel };
  channel.onmessage = (e: MessageEvent<{ t?: string }>) => { if (e.data?.t === 'sync') state.reports.push(e.data); };
  w.__halfsyncKit = state;
}

/** Runs in the page: waits for the worker's report of a sync tag. */
async function reportInPage(args: { tag: string; timeoutMs: number }): Promise<unknown> {
  const w = window as unknown as { __halfsyncKit: { reports: Array<{ tag: string }> } };
  const end = Date.now() + args.timeoutMs;
  for (;;) {
    const found = w.__halfsyncKit.reports.find((r) => r.tag === args.tag);
    if (found) return found;
    if (Date.now() > end) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- the kit -----------------------------------------------------------------------------

/**
 * Test helpers for an app built on halfsync: deterministic Background Sync, offline switches
 * that reach the service worker, worker kills, and waits on the queue without sleeps.
 *
 * @example
 * ```ts
 * import { test, expect } from '@playwright/test';
 * import { halfsyncKit } from '@halfsync/core/testing';
 *
 * test('an order placed offline reaches the server once', async ({ page }) => {
 *   await page.goto('/');
 *   const hs = await halfsyncKit(page);
 *   await hs.wakeWorker();
 *   await hs.offline();
 *   await page.getByRole('button', { name: 'Pay' }).click();
 *   await hs.online();
 *   await hs.sync();
 *   const [order] = await hs.waitForIdle();
 *   expect(order.status).toBe('succeeded');
 * });
 * ```
 */
export async function halfsyncKit(page: PageLike, options: KitOptions = {}): Promise<HalfsyncKit> {
  const db = options.dbName ?? 'halfsync';
  const timeoutMs = options.timeoutMs ?? 10_000;
  const ua = await page.evaluate(() => navigator.userAgent, undefined);
  const engine: HalfsyncKit['engine'] = /Firefox\//.test(ua) ? 'firefox' : /Chrome\//.test(ua) ? 'chromium' : 'webkit';
  const pw = typeof (page as PlaywrightPageLike).context === 'function' ? (page as PlaywrightPageLike) : undefined;

  let cdp: CDPSessionLike | undefined;
  const registrations = new Map<string, { registrationId: string; scopeURL: string; isDeleted: boolean }>();
  const versions = new Map<string, { versionId: string; runningStatus: string; registrationId: string }>();
  const syncLog: BackgroundSyncEvent[] = [];
  if (engine === 'chromium' && pw) {
    cdp = await pw.context().newCDPSession(page);
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: Array<{ registrationId: string; scopeURL: string; isDeleted: boolean }> }) => {
      for (const r of e.registrations) registrations.set(r.registrationId, r);
    });
    cdp.on('ServiceWorker.workerVersionUpdated', (e: { versions: Array<{ versionId: string; runningStatus: string; registrationId: string }> }) => {
      for (const v of e.versions) versions.set(v.versionId, v);
    });
    cdp.on('BackgroundService.backgroundServiceEventReceived', (e: { backgroundServiceEvent: { timestamp: number; eventName: string; instanceId: string; eventMetadata?: Array<{ key: string; value: string }> } }) => {
      const b = e.backgroundServiceEvent;
      syncLog.push({ at: Math.round(b.timestamp * 1000), event: b.eventName, tag: b.instanceId, meta: Object.fromEntries((b.eventMetadata ?? []).map((m) => [m.key, m.value])) });
    });
    await cdp.send('ServiceWorker.enable');
    await cdp.send('BackgroundService.setRecording', { shouldRecord: true, service: 'backgroundSync' });
    await cdp.send('BackgroundService.startObserving', { service: 'backgroundSync' });
  }
  const needCdp = (what: string, instead: string): CDPSessionLike => {
    if (!cdp) throw unsupported(engine === 'chromium' ? 'this page handle (not a Playwright Page)' : engine, what, instead);
    return cdp;
  };
  const poll = async <T>(read: () => T | undefined, what: string): Promise<T> => {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = read();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`halfsync kit: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const origin = await page.evaluate(() => location.origin, undefined);

  const wakeWorker = async (): Promise<void> => {
    const answer = await page.evaluate(pingInPage, { db, timeoutMs });
    if (answer !== 'ok') throw new HalfsyncError('WORKER_UNAVAILABLE', `the service worker did not answer a halfsync ping (${answer}); is serve() called in it, with dbName "${db}"?`);
  };

  const read = async (args: Omit<ReadArgs, 'db' | 'timeoutMs'>, wait: number): Promise<{ ok: boolean; tasks: Task[] }> => {
    const out = await page.evaluate(readInPage, { db, timeoutMs: wait, ...args });
    return { ok: out.ok, tasks: (out.tasks as Array<Task & Record<string, unknown>>).map(publicTask) };
  };

  const setNetwork = async (offline: boolean): Promise<void> => {
    needCdp(offline ? 'take the worker offline' : 'bring the worker online', 'make your test server refuse or fail requests instead');
    // A stopped worker makes setOffline hang, and going online while it is stopped loses the
    // pending sync: wake it first (when the page is still open to send the message, and has one).
    // Any message starts it; the answer only says it did (a worker serving another database, as
    // with a page runner beside it, starts without answering this one: a short wait is enough).
    if (!(page as { isClosed?: () => boolean }).isClosed?.()) {
      const registered = await page.evaluate(async () => !!(await navigator.serviceWorker?.getRegistration()), undefined);
      if (registered) await page.evaluate(pingInPage, { db, timeoutMs: Math.min(timeoutMs, 1_000) });
    }
    await pw!.context().setOffline(offline);
  };

  return {
    engine,
    async sync({ lastChance = false } = {}) {
      const session = needCdp('dispatch sync events', 'wake the worker with wakeWorker() or a page load; halfsync drains on messages there');
      if (!(await page.evaluate(() => navigator.onLine, undefined))) {
        throw new HalfsyncError('INVALID_TRANSITION', 'the browser is offline, and Chromium ignores a dispatched sync event while offline; call online() first');
      }
      const registrationId = await poll(() => [...registrations.values()].find((r) => !r.isDeleted && r.scopeURL.startsWith(origin))?.registrationId, 'the service worker registration');
      const registered = await page.evaluate(async () => {
        const reg = await navigator.serviceWorker.ready;
        const sync = (reg as ServiceWorkerRegistration & { sync?: { getTags(): Promise<string[]> } }).sync;
        return sync ? sync.getTags() : [];
      }, undefined);
      const mine = registered.filter((t) => t === `halfsync:${db}` || t.startsWith(`halfsync:${db}:`));
      const tags = mine.length > 0 ? mine : [`halfsync:${db}:kit-${Date.now().toString(36)}`];
      await page.evaluate(listenInPage, { db });
      const reports: SyncReport[] = [];
      for (const tag of tags) {
        await session.send('ServiceWorker.dispatchSyncEvent', { origin, registrationId, tag, lastChance });
        const r = (await page.evaluate(reportInPage, { tag, timeoutMs })) as SyncReport | undefined;
        if (!r) throw new Error(`halfsync kit: the worker did not report the end of sync "${tag}" within ${timeoutMs} ms`);
        reports.push({ tag: r.tag, lastChance: r.lastChance, outcome: r.outcome });
      }
      return reports;
    },
    async periodicSync({ tag = 'halfsync' } = {}) {
      const session = needCdp('dispatch periodic sync events', 'wake the worker with wakeWorker() or a page load; halfsync drains on messages there');
      const registrationId = await poll(() => [...registrations.values()].find((r) => !r.isDeleted && r.scopeURL.startsWith(origin))?.registrationId, 'the service worker registration');
      await page.evaluate(listenInPage, { db });
      await session.send('ServiceWorker.dispatchPeriodicSyncEvent', { origin, registrationId, tag });
      const r = (await page.evaluate(reportInPage, { tag, timeoutMs })) as SyncReport | undefined;
      if (!r) throw new Error(`halfsync kit: the worker did not report the end of periodic sync "${tag}" within ${timeoutMs} ms`);
      return { tag: r.tag, lastChance: r.lastChance, outcome: r.outcome };
    },
    offline: () => setNetwork(true),
    online: () => setNetwork(false),
    async stopWorker({ when } = {}) {
      const session = needCdp('stop the service worker', 'restart the browser with the same profile instead');
      if (when) await when();
      await session.send('ServiceWorker.stopAllWorkers');
      await poll(() => ([...versions.values()].every((v) => v.runningStatus !== 'running') ? true : undefined), 'the worker to stop');
    },
    wakeWorker,
    async tasks() {
      return (await read({}, 0)).tasks;
    },
    async waitForTask(id, status, opts = {}) {
      const statuses = typeof status === 'string' ? [status] : [...status];
      const out = await read({ id, statuses }, opts.timeoutMs ?? timeoutMs);
      const task = out.tasks.find((t) => t.id === id);
      if (!out.ok || !task) {
        throw new Error(`halfsync kit: task ${id} did not become ${statuses.join(' or ')} in time (it is ${task ? `${task.status}, ${task.attempts} attempt(s), last error ${task.lastError?.message ?? 'none'}` : 'not in the store'})`);
      }
      return task;
    },
    async waitForIdle(opts = {}) {
      const out = await read({ idle: true }, opts.timeoutMs ?? timeoutMs);
      if (!out.ok) {
        const busy = out.tasks.filter((t) => t.status === 'running' || (t.status === 'pending' && !(t.every !== undefined && t.attempts === 0)));
        throw new Error(`halfsync kit: ${busy.length} task(s) still pending or running: ${busy.slice(0, 5).map((t) => `${t.name} ${t.status} (${t.attempts} attempts${t.lastError ? `, ${t.lastError.message}` : ''})`).join('; ')}`);
      }
      return out.tasks;
    },
    async backgroundSyncLog() {
      needCdp('read the Background Sync record', 'assert on the queue with tasks() instead');
      return [...syncLog];
    },
    async dispose() {
      await (cdp as { detach?: () => Promise<void> } | undefined)?.detach?.().catch(() => {});
    },
  };
}

function publicTask(r: Task & Record<string, unknown>): Task {
  return {
    id: r.id, seq: r.seq, name: r.name, payload: r.payload, status: r.status, attempts: r.attempts,
    unreachable: typeof r.unreachable === 'number' ? r.unreachable : 0, createdAt: r.createdAt, updatedAt: r.updatedAt, nextRunAt: r.nextRunAt, leaseUntil: r.leaseUntil,
    orderKey: r.orderKey, idempotencyKey: r.idempotencyKey, lastError: r.lastError, result: r.result, rev: r.rev,
    after: r.after as string[] | undefined, meta: r.meta as Task['meta'], supersede: r.supersede as string | undefined, supersededBy: r.supersededBy as string | undefined,
    owner: r.owner as string | undefined, tries: Array.isArray(r.tries) ? (r.tries as Task['tries']) : [],
    limitedUntil: typeof r.limited === 'number' ? r.limited : typeof r.limitedUntil === 'number' ? r.limitedUntil : undefined,
    every: typeof r.every === 'number' ? r.every : undefined,
  };
}
