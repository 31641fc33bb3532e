import type { Workbox } from 'workbox-window';
import { onlineTag, openChannel, type ChannelMessage, type WorkerReply, type WorkerRequest } from './channel.js';
import { HalfsyncError, storageError } from './errors.js';
import type { DrainSummary } from './executor.js';
import { toTask, type NewTaskRecord, type Task, type TaskRecord } from './record.js';
import { TaskStore } from './store/store.js';
import { taskRegistry, DEFAULT_RETENTION, type AnyTaskDefinition, type TaskDefinition } from './task.js';
import { clonePayload, inspectPayload } from './validate.js';
import { uuid } from './util.js';
import type { PageRunner } from './page-runner.js';

/**
 * Which path completes the deferred work in this tab:
 * - `sync`: a service worker woken by Background Sync (Chromium);
 * - `message`: a service worker woken by messages from pages (Firefox, Safari);
 * - `page`: no worker; a page runner elected by a Web Lock runs the same executor;
 * - `starting`: not decided yet (see {@link HalfsyncClient.ready}).
 */
export type ClientMode = 'starting' | 'sync' | 'message' | 'page';

/** A service worker to complete the work: its script URL, a `Workbox` instance, or `false` for none. */
export type ServiceWorkerOption = string | { url: string; scope?: string; type?: 'classic' | 'module' } | Workbox | false;

/** Options of {@link createClient}. */
export interface ClientOptions {
  /** Every task this page may defer; the worker must be given the same list. */
  readonly tasks: readonly AnyTaskDefinition[];
  /** The IndexedDB database name. Default `"halfsync"`. */
  readonly dbName?: string;
  /** The service worker that runs the tasks. Default `false`: tasks run in a page runner. */
  readonly serviceWorker?: ServiceWorkerOption;
  /** The largest payload accepted by `defer`, approximately in bytes. Default 1 MiB. */
  readonly maxPayloadBytes?: number;
  /** Page runner: tasks run at once. Default 4. */
  readonly concurrency?: number;
  /** Page runner: the lease of a claimed task, in ms. Default 30 000. */
  readonly leaseMs?: number;
  /** Ask the browser for persistent storage so the queue is not evicted. Default true. */
  readonly persistStorage?: boolean;
  /** How long to wait for the worker's answer when choosing a path, in ms. Default 10 000. */
  readonly workerTimeoutMs?: number;
  /**
   * Run tasks on their own (default true). With `false` the page runner only runs them when
   * `drain()` is called: for tests (see `@halfsync/core/testing/node`) and for apps that want to
   * choose the moment. Applies to the page runner only.
   */
  readonly autoRun?: boolean;
  /** The clock (ms since the epoch). Default `Date.now`; tests pass a manual one. */
  readonly now?: () => number;
  /** Page runner: whether the network is there. Default `navigator.onLine`; tests pass their own. */
  readonly online?: () => boolean;
}

/** Options of {@link HalfsyncClient.defer}. */
export interface DeferOptions {
  /** Tasks with the same order key run one at a time in deferral order; overrides the task's own. */
  readonly orderKey?: string;
  /** Do not run before this many ms from now. */
  readonly delay?: number;
  /** The key the server deduplicates by. Default: the task id. */
  readonly idempotencyKey?: string;
}

/** What `defer` returns at once. */
export interface DeferHandle<Result> {
  /** The task's id. */
  readonly id: string;
  /** Resolves once the task is committed to IndexedDB with strict durability. */
  readonly persisted: Promise<Task>;
  /** Resolves with the handler's result; rejects with `TASK_FAILED` or `TASK_CANCELLED`. */
  readonly result: Promise<Result>;
}

/** The page's handle on the queue. Create one per database with {@link createClient}. */
export interface HalfsyncClient {
  /** The current path; see {@link ClientMode}. */
  readonly mode: ClientMode;
  /** Why the client fell back to the page runner, when it did. */
  readonly modeReason: HalfsyncError | undefined;
  /** Resolves with the chosen mode once the snapshot is loaded and the worker answered. */
  readonly ready: Promise<ClientMode>;
  /** Resolves with whether the browser granted persistent storage (false where it cannot say). */
  readonly persistentStorage: Promise<boolean>;
  /**
   * The async half: validates and stores `payload` for `task`, and returns at once. The task is in
   * the snapshot (status `pending`) before `defer` returns. Throws a {@link HalfsyncError} for bad
   * input, before anything is written.
   */
  defer<Payload, Result>(task: TaskDefinition<Payload, Result>, payload: Payload, options?: DeferOptions): DeferHandle<Result>;
  /** Every known task in commit order; a new array only when something changed. */
  getSnapshot(): readonly Task[];
  /** Calls `listener` after every change of the snapshot or mode; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  /** One task by id. */
  get(id: string): Task | undefined;
  /** Waits for a task's result (one deferred before a reload, say). */
  result<Result = unknown>(id: string): Promise<Result>;
  /** Runs a failed task again, with a fresh set of attempts. */
  retry(id: string): Promise<void>;
  /** Cancels a pending task. */
  cancel(id: string): Promise<void>;
  /** Deletes a finished (succeeded, failed or cancelled) task. */
  acknowledge(id: string): Promise<void>;
  /** Asks the runner to drain now and resolves with what it did. */
  drain(): Promise<DrainSummary>;
  /** Records moved aside because they could not be read. */
  quarantined(): Promise<Array<{ seq: number; reason: string; at: number; record: unknown }>>;
  /** Stops listening, releases the page runner and closes the database. */
  close(): void;
}

interface Waiter {
  resolve(value: unknown): void;
  reject(error: unknown): void;
  promise: Promise<unknown>;
}

const DEFER_KEYS = new Set(['orderKey', 'delay', 'idempotencyKey']);
const MAX = Number.MAX_SAFE_INTEGER;
const bySeq = (a: Task, b: Task) => (a.seq ?? MAX) - (b.seq ?? MAX);

const deferred = (): Waiter => {
  let resolve!: (v: unknown) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<unknown>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {});
  return { resolve, reject, promise };
};

const badOption = (what: string): never => {
  throw new HalfsyncError('INVALID_OPTIONS', what);
};

const nonEmpty = (v: unknown, what: string): void => {
  if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > 500)) {
    badOption(`${what} must be a non-empty string of at most 500 characters, got ${JSON.stringify(v)}`);
  }
};

class Client implements HalfsyncClient {
  mode: ClientMode = 'starting';
  modeReason: HalfsyncError | undefined;
  readonly ready: Promise<ClientMode>;
  readonly persistentStorage: Promise<boolean>;

  private readonly registry: Map<string, AnyTaskDefinition>;
  private readonly store: TaskStore;
  private readonly db: string;
  private readonly maxPayloadBytes: number;
  private readonly tasks = new Map<string, Task>();
  private readonly waiters = new Map<string, Waiter>();
  private readonly listeners = new Set<() => void>();
  private readonly channel: BroadcastChannel | undefined;
  private batch: Array<{ record: NewTaskRecord; persisted: Waiter }> = [];
  private snapshot: readonly Task[] = Object.freeze([]);
  private dirty = false;
  private notifyQueued = false;
  private closed = false;
  private loaded = false;
  private removedEarly = new Set<string>();
  private wb: Workbox | undefined;
  private registration: ServiceWorkerRegistration | undefined;
  private runner: Promise<PageRunner> | undefined;
  private dueTimer: ReturnType<typeof setTimeout> | undefined;
  private dueAt = Infinity;
  private tagCount = 0;
  private lastTag: string | undefined;
  private readonly cleanup: Array<() => void> = [];
  private readonly now: () => number;

  constructor(private readonly options: ClientOptions) {
    if (typeof options !== 'object' || options === null) badOption('createClient needs an options object with a tasks array');
    this.registry = taskRegistry(options.tasks);
    this.db = options.dbName ?? 'halfsync';
    nonEmpty(this.db, 'dbName');
    this.maxPayloadBytes = options.maxPayloadBytes ?? 1_048_576;
    if (!(this.maxPayloadBytes > 0)) badOption(`maxPayloadBytes must be a positive number, got ${String(options.maxPayloadBytes)}`);
    const sw = options.serviceWorker;
    if (sw !== undefined && sw !== false && typeof sw !== 'string' && typeof (sw as { url?: unknown }).url !== 'string' && typeof (sw as Workbox).messageSW !== 'function') {
      badOption('serviceWorker must be a script URL, { url, scope, type }, a Workbox instance or false');
    }
    this.now = options.now ?? Date.now;
    this.store = new TaskStore(this.db);
    this.channel = openChannel(this.db, (m) => this.onMessage(m));
    this.persistentStorage = options.persistStorage === false ? Promise.resolve(false) : requestPersistence();
    this.ready = this.start();
    this.ready.catch(() => {});
  }

  // ---- defer and group commit -------------------------------------------------------------

  defer<Payload, Result>(task: TaskDefinition<Payload, Result>, payload: Payload, options: DeferOptions = {}): DeferHandle<Result> {
    if (this.closed) throw new HalfsyncError('CLIENT_CLOSED', 'this client was closed; create a new one with createClient()');
    const name = (task as { name?: unknown } | null)?.name;
    if (typeof name !== 'string' || this.registry.get(name) !== task) {
      throw new HalfsyncError('UNKNOWN_TASK', `task ${JSON.stringify(name)} is not in this client's tasks; add its definition to createClient({ tasks }) and to the worker's serve({ tasks })`, { details: { task: name } });
    }
    if (typeof options !== 'object' || options === null) badOption(`task "${name}": defer options must be an object`);
    for (const key of Object.keys(options)) if (!DEFER_KEYS.has(key)) badOption(`task "${name}": unknown defer option "${key}"; the options are orderKey, delay and idempotencyKey`);
    nonEmpty(options.orderKey, `task "${name}": orderKey`);
    nonEmpty(options.idempotencyKey, `task "${name}": idempotencyKey`);
    const delay = options.delay ?? 0;
    if (typeof delay !== 'number' || !(delay >= 0) || !Number.isFinite(delay)) badOption(`task "${name}": delay must be a finite number of ms >= 0, got ${String(options.delay)}`);
    if (task.options.validate) {
      try {
        task.options.validate(payload);
      } catch (error) {
        if (error instanceof HalfsyncError) throw error;
        throw new HalfsyncError('PAYLOAD_INVALID', `task "${name}": ${(error as Error)?.message ?? String(error)}`, { cause: error, details: { task: name } });
      }
    }
    inspectPayload(name, payload, this.maxPayloadBytes);
    const stored = clonePayload(name, payload);
    const own = task.options.orderKey;
    const orderKey = options.orderKey ?? (typeof own === 'function' ? own(payload) : own);
    nonEmpty(orderKey, `task "${name}": the orderKey function's result`);

    const now = this.now();
    const id = uuid();
    const due = now + delay;
    const key = options.idempotencyKey ?? id;
    // Only defined fields are stored: an absent field keeps the record out of that index.
    const record: NewTaskRecord = orderKey === undefined
      ? { id, name, payload: stored, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: due, due, idempotencyKey: key, rev: 1 }
      : { id, name, payload: stored, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: due, due, idempotencyKey: key, rev: 1, orderKey, lane: orderKey };

    const persisted = deferred();
    const result = this.waiter(id);
    this.batch.push({ record, persisted });
    if (this.batch.length === 1) queueMicrotask(() => void this.flush());
    this.tasks.set(id, provisional(record));
    this.changed(true);
    return { id, persisted: persisted.promise as Promise<Task>, result: result.promise as Promise<Result> };
  }

  private async flush(): Promise<void> {
    const batch = this.batch;
    this.batch = [];
    let results: Array<TaskRecord | HalfsyncError>;
    try {
      results = await this.store.insert(batch.map((b) => b.record));
    } catch (error) {
      // The batch as a whole failed (a full quota, say): commit one by one, in order, so that
      // every task that fits keeps its place and only the ones that do not are refused.
      if (batch.length === 1) results = [storageError(error, 'storing a deferred task')];
      else {
        results = [];
        for (const b of batch) {
          try { results.push(...(await this.store.insert([b.record]))); }
          catch (e) { results.push(storageError(e, 'storing a deferred task')); }
        }
      }
    }
    const committed: TaskRecord[] = [];
    results.forEach((r, i) => {
      const { record, persisted } = batch[i]!;
      if (r instanceof Error) {
        this.tasks.delete(record.id);
        persisted.reject(r);
        this.waiters.get(record.id)?.reject(r);
        this.waiters.delete(record.id);
      } else {
        committed.push(r);
      }
    });
    const views = this.apply(committed, []);
    results.forEach((r, i) => { if (!(r instanceof Error)) batch[i]!.persisted.resolve(this.tasks.get(r.id) ?? toTask(r)); });
    if (committed.length < batch.length) this.changed();
    if (committed.length > 0) this.wake();
    // Other tabs hear of the new tasks after this tab's callers did (the copy costs time).
    if (views.length > 0) this.post({ t: 'changed', tasks: views, removed: [] });
  }

  // ---- snapshot -----------------------------------------------------------------------------

  getSnapshot = (): readonly Task[] => {
    if (this.dirty) {
      this.dirty = false;
      this.snapshot = Object.freeze([...this.tasks.values()].sort(bySeq));
    }
    return this.snapshot;
  };

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  };

  get(id: string): Task | undefined {
    return this.tasks.get(id);
  }

  private changed(sync = false): void {
    this.dirty = true;
    if (sync) { this.emit(); return; }
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    // A macrotask, not a microtask: a burst of messages from the worker (one per transaction)
    // then costs subscribers one new snapshot, not one per message.
    nextTask(() => { this.notifyQueued = false; this.emit(); });
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Applies committed records (from this tab, another tab or the worker), newest revision wins. */
  private apply(records: readonly (TaskRecord | Task)[], removed: readonly string[], broadcast = false): Task[] {
    const views: Task[] = [];
    for (const r of records) {
      const known = this.tasks.get(r.id);
      if (known && known.seq !== undefined && known.rev >= r.rev) continue;
      if (!this.loaded && this.removedEarly.has(r.id)) continue;
      // A frozen object is already a view; anything else (a record, a message) is copied to one.
      const view = Object.isFrozen(r) ? (r as Task) : toTask(r as TaskRecord);
      this.tasks.set(r.id, view);
      views.push(view);
      this.settleWaiter(view);
      // If the runner dies mid-task nobody says so: look again when its lease runs out.
      if (view.status === 'running' && view.leaseUntil !== undefined && this.mode !== 'starting') this.scheduleWake(view.leaseUntil + 50);
    }
    for (const id of removed) {
      if (!this.loaded) this.removedEarly.add(id);
      if (this.tasks.delete(id)) {
        const w = this.waiters.get(id);
        if (w) {
          this.waiters.delete(id);
          w.reject(new HalfsyncError('TASK_NOT_FOUND', `task ${id} was removed (acknowledged or quarantined) before it finished`, { details: { id } }));
        }
      }
    }
    if (broadcast && (views.length > 0 || removed.length > 0)) {
      this.post({ t: 'changed', tasks: views, removed });
    }
    if (views.length > 0 || removed.length > 0) this.changed();
    return views;
  }

  private post(message: ChannelMessage): void {
    if (!this.closed) this.channel?.postMessage(message);
  }

  private waiter(id: string): Waiter {
    let w = this.waiters.get(id);
    if (!w) { w = deferred(); this.waiters.set(id, w); }
    return w;
  }

  private settleWaiter(task: Task): void {
    const w = this.waiters.get(task.id);
    if (!w) return;
    if (task.status === 'succeeded') w.resolve(task.result);
    else if (task.status === 'failed') {
      w.reject(new HalfsyncError('TASK_FAILED', `task "${task.name}" (${task.id}) failed: ${task.lastError?.message ?? 'unknown error'}`, { details: { id: task.id, lastError: task.lastError } }));
    } else if (task.status === 'cancelled') {
      w.reject(new HalfsyncError('TASK_CANCELLED', `task "${task.name}" (${task.id}) was cancelled`, { details: { id: task.id } }));
    } else return;
    this.waiters.delete(task.id);
  }

  result<Result = unknown>(id: string): Promise<Result> {
    const w = this.waiter(id);
    const known = this.tasks.get(id);
    if (known) this.settleWaiter(known);
    else if (this.loaded) {
      this.waiters.delete(id);
      return Promise.reject(new HalfsyncError('TASK_NOT_FOUND', `no task with id "${id}"`, { details: { id } }));
    }
    return w.promise as Promise<Result>;
  }

  // ---- operations ---------------------------------------------------------------------------

  private async modify(id: string, op: 'retry' | 'cancel' | 'acknowledge'): Promise<void> {
    if (this.closed) throw new HalfsyncError('CLIENT_CLOSED', 'this client was closed; create a new one with createClient()');
    const name = this.tasks.get(id)?.name;
    const retention = (name && this.registry.get(name)?.retention) || DEFAULT_RETENTION;
    const { changed, removed } = await this.store.modify(id, op, this.now(), retention);
    this.apply(changed, removed, true);
    if (op === 'retry') this.wake();
  }

  retry(id: string): Promise<void> { return this.modify(id, 'retry'); }
  cancel(id: string): Promise<void> { return this.modify(id, 'cancel'); }
  acknowledge(id: string): Promise<void> { return this.modify(id, 'acknowledge'); }

  quarantined(): Promise<Array<{ seq: number; reason: string; at: number; record: unknown }>> {
    return this.store.quarantined();
  }

  async drain(): Promise<DrainSummary> {
    const mode = await this.ready;
    if (mode === 'page') return (await this.pageRunner()).drainNow();
    const reply = await this.ask('drain');
    if (reply.op !== 'drain') throw new HalfsyncError('WORKER_UNAVAILABLE', 'the service worker gave an unexpected answer to a drain request');
    return reply.summary;
  }

  // ---- choosing a path and waking the runner ------------------------------------------------

  private async start(): Promise<ClientMode> {
    const load = this.store.loadAll(this.now()).then((records) => {
      this.apply(records, []);
      this.loaded = true;
      this.removedEarly.clear();
    });
    const mode = await this.chooseMode();
    await load;
    if (this.closed) return this.mode;
    this.mode = mode;
    this.changed();
    // Typed loosely so this module also type-checks without the DOM lib (worker builds import it).
    const g = globalThis as unknown as { addEventListener?: EventTarget['addEventListener']; removeEventListener?: EventTarget['removeEventListener']; document?: EventTarget & { visibilityState: string } };
    const doc = g.document;
    if (doc && g.addEventListener && g.removeEventListener) {
      const onOnline = () => this.wake(true, true);
      const onVisible = () => { if (doc.visibilityState === 'visible') this.wake(); };
      g.addEventListener('online', onOnline);
      doc.addEventListener('visibilitychange', onVisible);
      this.cleanup.push(() => g.removeEventListener!('online', onOnline), () => doc.removeEventListener('visibilitychange', onVisible));
    }
    if (mode === 'page') await this.pageRunner();
    // On load: wake the runner for work left by an earlier visit.
    if ([...this.tasks.values()].some((t) => t.status === 'pending' || t.status === 'running')) this.wake(true);
    return mode;
  }

  private async chooseMode(): Promise<ClientMode> {
    const sw = this.options.serviceWorker;
    if (!sw) return 'page';
    if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) {
      this.modeReason = new HalfsyncError('WORKER_UNAVAILABLE', 'this browser (or this context: private mode, an insecure origin) has no service workers; tasks run in the page instead');
      return 'page';
    }
    try {
      let wb: Workbox;
      if (typeof sw === 'string' || !('messageSW' in sw)) {
        const { Workbox } = await import('workbox-window');
        const spec = typeof sw === 'string' ? { url: sw } : sw;
        wb = new Workbox(spec.url, { scope: spec.scope, type: spec.type ?? 'module' } as RegistrationOptions);
      } else wb = sw;
      this.wb = wb;
      await wb.register();
      // `ready` (not wb.active) also resolves when the worker was active before this page loaded.
      this.registration = await withTimeout(navigator.serviceWorker.ready, this.options.workerTimeoutMs ?? 10_000, 'activate');
      const pong = await this.ask('ping');
      if (pong.op !== 'ping') throw new HalfsyncError('WORKER_UNAVAILABLE', 'the service worker does not speak halfsync; call serve() in it');
      return this.registration && 'sync' in this.registration ? 'sync' : 'message';
    } catch (error) {
      this.modeReason = error instanceof HalfsyncError && error.code === 'WORKER_UNAVAILABLE' ? error
        : new HalfsyncError('WORKER_UNAVAILABLE', `the service worker could not be used (${(error as Error)?.message ?? String(error)}); tasks run in the page instead`, { cause: error });
      return 'page';
    }
  }

  private async ask(op: WorkerRequest['op'], networkBack = false): Promise<Extract<WorkerReply, { ok: true }>> {
    if (!this.wb) throw new HalfsyncError('WORKER_UNAVAILABLE', 'no service worker is in use');
    // A drain may rightly take minutes (a slow backend, many tasks); only the other requests
    // are held to the worker timeout. The browser caps a worker's event at about 5 minutes.
    const timeout = op === 'drain' ? 330_000 : this.options.workerTimeoutMs ?? 10_000;
    const request: WorkerRequest = networkBack ? { halfsync: 1, op, db: this.db, networkBack } : { halfsync: 1, op, db: this.db };
    const reply = (await withTimeout(this.wb.messageSW(request), timeout, op)) as WorkerReply | undefined;
    if (!reply || typeof reply !== 'object' || !('ok' in reply)) {
      throw new HalfsyncError('WORKER_UNAVAILABLE', 'the service worker answered but not as halfsync does; call serve({ tasks }) in your worker script');
    }
    if (!reply.ok) throw new HalfsyncError('WORKER_UNAVAILABLE', `the service worker refused the ${op} request: ${reply.message}`);
    return reply;
  }

  private pageRunner(): Promise<PageRunner> {
    this.runner ??= import('./page-runner.js').then(({ PageRunner }) => new PageRunner({
      store: this.store, tasks: this.registry, post: (m) => this.post(m),
      concurrency: this.options.concurrency, leaseMs: this.options.leaseMs, now: this.now, online: this.options.online,
      autoRun: this.options.autoRun !== false,
      onChange: (changed, removed) => this.apply(changed, removed, true),
      onDrained: (summary) => this.afterDrain(summary),
    }));
    return this.runner;
  }

  /**
   * Wakes whatever runs the tasks. `fresh` asks Background Sync for a new tag (see README: tags);
   * `networkBack` says the network has just returned.
   */
  private wake(fresh = false, networkBack = false): void {
    if (this.closed) return;
    if (this.mode === 'page') {
      if (this.options.autoRun !== false) void this.pageRunner().then((r) => r.wake(networkBack));
      return;
    }
    if (this.mode === 'starting') return; // start() wakes once the mode is known
    const sync = this.mode === 'sync' ? (this.registration as ServiceWorkerRegistration & { sync?: { register(tag: string): Promise<void> } }).sync : undefined;
    if (sync) {
      // A tag waiting for the browser's retry ignores a new registration, so online we register
      // a new tag each time (it fires at once and is gone); offline we reuse the last one (it is
      // still waiting for the network, and reusing it keeps the list of tags short).
      const online = typeof navigator === 'undefined' || navigator.onLine;
      const stamp = `${Date.now().toString(36)}-${(this.tagCount++).toString(36)}`;
      if (networkBack) {
        sync.register(`${onlineTag(this.db)}:${stamp}`).catch(() => this.message(true));
        return;
      }
      if (fresh || online || !this.lastTag) this.lastTag = `halfsync:${this.db}:${stamp}`;
      sync.register(this.lastTag).catch(() => this.message());
    } else this.message(networkBack);
  }

  private message(networkBack = false): void {
    this.ask('drain', networkBack).catch(() => {});
  }

  /** After a drain (here or reported by another runner): wake again when the next task comes due. */
  private afterDrain(summary: DrainSummary): void {
    // Offline, the next due time means nothing: the `online` event (or the worker's own sync for
    // the network's return) wakes the runner.
    if (summary.stopped !== 'offline') this.scheduleWake(summary.nextDueAt);
  }

  /** Wakes the runner at `at` (the earliest request wins): a retry coming due, or a lease that may be orphaned. */
  private scheduleWake(at: number | undefined): void {
    if (at === undefined || this.closed || this.options.autoRun === false || (this.dueTimer !== undefined && at >= this.dueAt)) return;
    clearTimeout(this.dueTimer);
    this.dueAt = at;
    // Timers in pages are throttled and capped; a later load or online event wakes the runner too.
    this.dueTimer = setTimeout(() => {
      this.dueTimer = undefined;
      this.wake(true);
    }, Math.min(Math.max(0, at - this.now()), 2_147_483_647));
  }

  private onMessage(m: ChannelMessage): void {
    if (m.t === 'changed') this.apply(m.tasks, m.removed);
    else if (m.t === 'drained') this.afterDrain(m.summary);
    else if (m.t === 'wake' && this.mode === 'page' && this.options.autoRun !== false) void this.pageRunner().then((r) => r.wakeIfLeader(m.networkBack === true));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.dueTimer);
    for (const f of this.cleanup) f();
    this.channel?.close();
    void this.runner?.then((r) => r.close());
    const error = new HalfsyncError('CLIENT_CLOSED', 'the client was closed before the task settled; its work continues and a new client can wait for it');
    for (const w of this.waiters.values()) w.reject(error);
    this.waiters.clear();
    this.listeners.clear();
    // Let the pending batch commit before closing the connection.
    const pending = this.batch.length > 0 ? new Promise((r) => queueMicrotask(() => r(undefined))) : Promise.resolve();
    void pending.then(() => this.store.close());
  }
}

/** The view of a task not yet committed (no seq). */
const provisional = (r: NewTaskRecord): Task => Object.freeze({
  id: r.id, seq: undefined, name: r.name, payload: r.payload, status: r.status, attempts: 0, unreachable: 0, createdAt: r.createdAt,
  updatedAt: r.updatedAt, nextRunAt: r.nextRunAt, leaseUntil: undefined, orderKey: r.orderKey,
  idempotencyKey: r.idempotencyKey, lastError: undefined, result: undefined, rev: r.rev,
});

let tick: { port: MessagePort; queue: Array<() => void> } | undefined;

/**
 * Runs `fn` soon, in a task of its own. Not `setTimeout`:
 * hidden pages clamp timers to 1 s or more (Firefox, Chrome), which held back every live update
 * of a background tab and merged its statuses; a MessageChannel message is not throttled.
 */
function nextTask(fn: () => void): void {
  if (typeof MessageChannel === 'undefined') { setTimeout(fn, 0); return; }
  if (!tick) {
    const channel = new MessageChannel();
    const queue: Array<() => void> = [];
    channel.port1.onmessage = () => queue.shift()?.();
    // In Node, a port with a listener keeps the process alive; this one must not.
    (channel.port1 as { unref?: () => void }).unref?.();
    tick = { port: channel.port2, queue };
  }
  tick.queue.push(fn);
  tick.port.postMessage(null);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HalfsyncError('WORKER_UNAVAILABLE', `the service worker did not answer (${what}) within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function requestPersistence(): Promise<boolean> {
  try {
    const storage = typeof navigator === 'undefined' ? undefined : (navigator.storage as { persist?(): Promise<boolean>; persisted?(): Promise<boolean> } | undefined);
    if (!storage?.persist) return false;
    return (await storage.persisted?.()) || (await storage.persist());
  } catch {
    return false;
  }
}

/**
 * Creates the page's client: it defers tasks, keeps a live snapshot of every task (from this tab,
 * other tabs and the worker), and wakes the runner that completes them.
 *
 * @example
 * ```ts
 * import { createClient } from '@halfsync/core';
 * import { sendEmail } from './tasks';
 * const client = createClient({ tasks: [sendEmail], serviceWorker: '/sw.js' });
 * const handle = client.defer(sendEmail, { to: 'a@example.com', subject: 'Hi' });
 * await handle.persisted; // on disk: survives a reload, a closed tab, a browser restart
 * ```
 */
export function createClient(options: ClientOptions): HalfsyncClient {
  return new Client(options);
}
