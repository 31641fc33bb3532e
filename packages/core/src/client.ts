import { installAll, missingCapability, type Capability, type ClientCore, type Hooks, type MembersOf } from './capability.js';
import { openChannel, recordNews, type ChannelMessage } from './channel.js';
import { Outbox } from './outbox.js';
import type { ClientOptions, HalfsyncClient } from './client-api.js';
import { buildRecord, badOption, nonEmpty, type DeferHandle, type DeferOptions } from './deferral.js';
import { HalfsyncError, storageError } from './errors.js';
import type { DrainSummary } from './executor.js';
import { TaskModel, type TaskSelector, type TaskSlice } from './model.js';
import { serviceWorkerProblem, type ClientMode } from './paths.js';
import { requestPersistence } from './persistence.js';
import { samePayload } from './validate.js';
import { hasPayload, toTask, type NewTaskRecord, type Task, type TaskRecord } from './record.js';
import { loadAlive, type Loaded } from './store/load.js';
import { recordById } from './store/query.js';
import { CHUNK, settleInbox } from './store/inbox.js';
import { INBOX_FIRST_SEQ } from './store/schema.js';
import { PendingWindow } from './pending-window.js';
import { commitBatch, TaskStore, type OwnerExpected } from './store/store.js';
import { quarantine } from './store/quarantine.js';
import { readOwnerState, type OwnerState } from './store/owner-state.js';
import { taskRegistry, DEFAULT_RETENTION, type AnyTaskDefinition, type DeferrableTask, type TaskDefinition } from './task.js';
import { modify } from './store/ops.js';
import { RunnerLink } from './runner-link.js';
import { ViewFeed } from './view-feed.js';
import { OwnerBelief } from './owner-belief.js';
import { GroupCommit } from './group-commit.js';

export type { ClientOptions, HalfsyncClient, ClientMode, ServiceWorkerOption, DeferHandle, DeferOptions } from './client-api.js';

// The client's core: defer with its group commit (durable in store/store.ts), the live view,
// result, retry/cancel/acknowledge, and waking the runner. What else a page may do
// comes from the capabilities in `use` (capability.ts), through the hooks and the core it is lent.

interface Pending {
  record: NewTaskRecord;
  /** Who this tab believed was signed in at the defer (undefined: no belief yet, still loading). */
  expected: OwnerExpected;
  resolve(task: Task): void;
  reject(error: unknown): void;
}

/** Options that moved to a capability: the message says which. */
const MOVED: Readonly<Record<string, string>> = { journal: 'journal' };

/** How long after this tab's last defer it moves the inbox on itself, if no runner has (ms). */
const SETTLE_AFTER_MS = 500;
const closedError = () => new HalfsyncError('CLIENT_CLOSED', 'this client was closed; create a new one with createClient()');

class Client implements HalfsyncClient, ClientCore {
  lastError: HalfsyncError | undefined;
  readonly ready: Promise<ClientMode>;
  readonly persistentStorage: Promise<boolean>;

  readonly registry: Map<string, AnyTaskDefinition>;
  readonly store: TaskStore;
  readonly db: string;
  readonly maxPayloadBytes: number;
  readonly model: TaskModel;
  readonly hooks: Hooks = { options: new Map() };
  readonly loading: Promise<void>;
  readonly now: () => number;
  readonly #recent: number;
  /** How many pending tasks of the user signed in this tab reads at a load; the rest stays in the store. */
  readonly #windowSize: number;
  readonly #window: PendingWindow;
  readonly #channel: BroadcastChannel | undefined;
  /** Where the tasks run, and waking it. */
  readonly #runs: RunnerLink;
  /** The defers of each tick, committed in order; an owner change is chained after them. */
  readonly #commits = new GroupCommit<Pending>((batch) => this.#commit(batch), (batch, error) => {
    // Nothing vanishes: a commit that failed in an unexpected way refuses its tasks with a code.
    const coded = storageError(error, 'storing deferred tasks');
    for (const b of batch) { this.model.dropProvisional(b.record.id, coded); b.reject(coded); this.#persisting.delete(b.record.id); }
  });
  /** `persisted` of the tasks of this tab not yet committed (a twin defer shares it). */
  readonly #persisting = new Map<string, Promise<Task>>();
  #closed = false;
  /** Moves this tab's plain defers on from the inbox once its defers pause, if no runner did (offline, say). */
  #settleTimer: ReturnType<typeof setTimeout> | undefined;
  /** This tab's commits, told to the other tabs at a pace (outbox.ts). */
  readonly #outbox = new Outbox((m) => { if (!this.#closed) this.#channel?.postMessage(m); });
  /** What other tabs and the runners say changed, into the view. */
  readonly #feed: ViewFeed;
  /** Another user signed in: the view drops the work of the one before and loads this one's. */
  readonly #belief = new OwnerBelief(() => {
    this.model.refilter();
    this.model.changed(true);
    this.reload('loading the tasks of the user signed in');
  });

  get owner(): string | undefined { return this.#belief.owner; }
  get mode(): ClientMode { return this.#runs.mode; }
  get modeReason(): HalfsyncError | undefined { return this.#runs.modeReason; }

  constructor(options: ClientOptions) {
    if (typeof options !== 'object' || options === null) badOption('createClient needs an options object with a tasks array');
    for (const key of Object.keys(MOVED)) {
      if (key in options) badOption(`createClient's ${key} option is now the ${MOVED[key]} capability: import { ${MOVED[key]} } from '@halfsync/core' and pass createClient({ use: [${MOVED[key]}] }), got ${key}: ${JSON.stringify((options as unknown as Record<string, unknown>)[key])}`);
    }
    this.registry = taskRegistry(options.tasks);
    this.db = options.dbName ?? 'halfsync';
    nonEmpty(this.db, 'dbName');
    this.maxPayloadBytes = options.maxPayloadBytes ?? 1_048_576;
    if (!(this.maxPayloadBytes > 0)) badOption(`maxPayloadBytes must be a positive number, got ${String(options.maxPayloadBytes)}`);
    this.#recent = options.recentFinished ?? 100;
    if (!(Number.isInteger(this.#recent) && this.#recent >= 0 && this.#recent <= 1_000)) badOption(`recentFinished must be an integer from 0 to 1000, got ${String(options.recentFinished)}`);
    const windowSize = options.pendingWindow ?? 1_000;
    if (!(Number.isInteger(windowSize) && windowSize >= 1)) badOption(`pendingWindow must be a positive integer, got ${String(options.pendingWindow)}`);
    this.#windowSize = windowSize;
    const swProblem = serviceWorkerProblem(options.serviceWorker);
    if (swProblem) badOption(swProblem);
    this.now = options.now ?? Date.now;
    // Views hold the work of the user signed in (another user's is only counted: `history`).
    this.model = new TaskModel({ recentFinished: this.#recent, visible: (t) => t.owner === this.owner });
    // The capabilities first: one may look after the database's open (`journal`).
    let startLoad!: (load: Promise<void>) => void;
    this.loading = new Promise<void>((resolve) => { startLoad = resolve; });
    const members = installAll(options.use, this);
    this.store = new TaskStore(this.db, undefined, this.hooks.recovery);
    Object.defineProperties(this, members);
    this.#feed = new ViewFeed(this.model, this.store);
    this.#window = new PendingWindow(this.model, windowSize, () => this.#read().then(({ records, pendingBeyond, window }) => {
      this.model.apply(records, [], false);
      return { beyond: pendingBeyond, window };
    }));
    this.#channel = openChannel(this.db, (m) => this.#onMessage(m));
    // A tab going away says what it committed before it goes.
    globalThis.addEventListener?.('pagehide', this.#flushOnHide);
    this.#runs = new RunnerLink({
      db: this.db, store: this.store, registry: this.registry, model: this.model, loading: this.loading,
      now: this.now, post: (m) => this.post(m), problem: (e) => this.problem(e), closed: () => this.#closed,
    }, options);
    this.persistentStorage = options.persistStorage === false ? Promise.resolve(false) : requestPersistence();
    const load = this.#load();
    load.catch(() => {});
    startLoad(load);
    this.ready = this.#runs.start();
    this.ready.catch(() => {});
  }

  open(): void {
    if (this.#closed) throw closedError();
  }

  // ---- defer and group commit -------------------------------------------------------------

  defer<Payload, Result>(task: DeferrableTask<Payload, Result>, payload: Payload, options: DeferOptions = {}): DeferHandle<Result, Payload> {
    this.open();
    const record = buildRecord(this.registry, task, payload, options, this.now(), this.maxPayloadBytes);
    if (record.after !== undefined && !this.hooks.options.has('after')) throw missingCapability(record.name, 'after', 'chains');
    if (record.supersede !== undefined && !this.hooks.options.has('supersede')) throw missingCapability(record.name, 'supersede', 'latestWins');
    // The provisional view shows who this tab believes is signed in; the insert stamps what committed.
    if (this.owner !== undefined) record.owner = this.owner;
    const expected: OwnerExpected = this.#belief.known ? { owner: this.owner } : undefined;
    // The same key while a task of it is alive: that task, not a second one.
    if (options && typeof options === 'object' && options.idempotencyKey !== undefined) {
      const twin = this.#aliveWithKey(record.name, record.idempotencyKey);
      if (twin && !samePayload(twin.payload, record.payload)) {
        throw new HalfsyncError('IDEMPOTENCY_KEY_REUSED', `task "${record.name}": idempotency key ${JSON.stringify(record.idempotencyKey)} belongs to task ${twin.id}, still ${twin.status}, with another payload; the server would apply that payload only. Defer with a new key, or wait for it to finish`, { details: { id: twin.id, idempotencyKey: record.idempotencyKey } });
      }
      if (twin) {
        return { id: twin.id, persisted: (this.#persisting.get(twin.id) ?? Promise.resolve(twin)) as Promise<Task<Payload, Result>>, result: this.model.waitFor(twin.id) as Promise<Result> };
      }
    }
    let resolve!: (t: Task) => void;
    let reject!: (e: unknown) => void;
    const persisted = new Promise<Task>((res, rej) => { resolve = res; reject = rej; });
    persisted.catch(() => {});
    this.#persisting.set(record.id, persisted);
    // The view of a task not yet committed: no seq yet.
    this.model.addProvisional(toTask(record as TaskRecord));
    const result = this.model.waitFor(record.id) as Promise<Result>;
    // Every defer of this tick commits in one transaction.
    this.#commits.add({ record, expected, resolve, reject });
    return { id: record.id, persisted: persisted as Promise<Task<Payload, Result>>, result };
  }

  #aliveWithKey(name: string, key: string): Task | undefined {
    for (const t of this.model.values()) if (t.name === name && t.idempotencyKey === key && (t.status === 'pending' || t.status === 'running')) return t;
    return undefined;
  }

  publish(changed: readonly TaskRecord[], removed: readonly string[]): void {
    this.hooks.published?.(changed, removed);
    const views = this.model.apply(changed, removed, true);
    if (views.length > 0 || removed.length > 0) this.post({ t: 'changed', tasks: views, removed });
    this.#tellUnheld(changed, views);
  }

  /**
   * The records this tab made no view of because it does not hold them and their payload is apart
   * (store/payloads.ts): said as progress, which the tabs that hold them take.
   */
  #tellUnheld(records: readonly TaskRecord[], views: readonly Task[]): void {
    const shown = new Set(views.map((v) => v.id));
    const unheld = records.filter((r) => !shown.has(r.id) && !hasPayload(r) && r.owner === this.owner);
    for (const m of recordNews(unheld, [])) this.post(m);
  }

  /**
   * Commits one tick's defers (after the ticks before it): commits keep the order of the defers (a
   * task after a parent deferred a tick earlier finds it stored; lanes keep their order).
   */
  async #commit(batch: Pending[]): Promise<void> {
    const retentionOf = (name: string) => this.registry.get(name)?.retention ?? DEFAULT_RETENTION;
    const records = batch.map((b) => b.record);
    const linked = records.some((r) => r.after !== undefined || r.supersede !== undefined) ? this.hooks.linked : undefined;
    const { results, changed: others, owner } = await commitBatch(this.store, records, retentionOf, linked, batch.map((b) => b.expected));
    const stored = results.filter((r): r is TaskRecord => !(r instanceof Error));
    // What must be on disk beside the tasks (the journal) before `persisted` resolves.
    if (stored.length > 0 && this.hooks.committing) await this.hooks.committing([...others, ...stored]);
    // A defer refused because another tab's sign-in committed first: this tab believes it now.
    if (owner) this.#belief.believe(owner);
    results.forEach((r, i) => {
      if (r instanceof Error) { this.model.dropProvisional(batch[i]!.record.id, r); batch[i]!.reject(r); }
    });
    // The tasks a supersede replaced first, then the new ones.
    const views = this.model.apply([...others, ...stored], [], true);
    // The wake-up is asked for before `persisted` resolves: a tab closed the moment it resolves
    // still leaves a Background Sync (or a message to the worker) behind for its work.
    if (views.length > 0) this.#runs.waker.committed();
    results.forEach((r, i) => { if (!(r instanceof Error)) batch[i]!.resolve(this.model.get(r.id) ?? toTask(r)); });
    for (const b of batch) this.#persisting.delete(b.record.id);
    // After the callers awaiting `persisted` ran: the copy for other tabs is not on their path.
    this.#outbox.say(views);
    this.#tellUnheld(others, views);
    if (stored.some((r) => r.seq >= INBOX_FIRST_SEQ)) {
      clearTimeout(this.#settleTimer);
      this.#settleTimer = setTimeout(() => { if (!this.#closed) this.settleInbox(CHUNK).catch(() => {}); }, SETTLE_AFTER_MS);
    }
  }

  // ---- who is signed in: this tab's belief (owner-belief.ts), derived from what committed ----

  async changeOwner(owner: string | undefined, write: () => Promise<{ changed: TaskRecord[]; removed: string[]; state: OwnerState }>): Promise<void> {
    this.open();
    // The defers of this tab made before the change commit before it, under the owner they were
    // made by; those made after it commit after it, under the new one.
    this.#belief.intend(owner);
    const change = this.#commits.after(async () => {
      await this.loading.catch(() => {});
      return write();
    });
    let committed: OwnerState | undefined;
    try {
      const { changed, removed, state } = await change;
      committed = state;
      // Announced once committed: every tab and runner keeps the highest version it hears.
      this.post({ t: 'owner', owner: state.owner, version: state.version });
      this.#runs.ownerChanged(state);
      this.publish(changed, removed);
      this.#runs.waker.wake({ fresh: true });
    } finally {
      // Not committed (the write failed): believe what did.
      this.#belief.ended(committed ?? await readOwnerState(await this.store.db()).catch(() => undefined));
    }
  }

  /** Reads who is signed in from the store (another tab said it changed) and believes it. */
  async #rereadOwner(): Promise<void> {
    const state = await readOwnerState(await this.store.db()).catch(() => undefined);
    if (!state) return;
    this.#belief.believe(state);
    this.#runs.ownerChanged(state);
  }

  reload(what: string): void {
    if (!this.#feed.loaded) return;
    void this.#read().then(({ records, pendingBeyond, window }) => {
      this.model.apply(records, [], false);
      this.#window.loaded(pendingBeyond, window);
    }, (error: unknown) => this.problem(storageError(error, what)));
  }

  /** Reads what this tab holds: the work alive (pending in a window), and the recent finished tasks. */
  async #read(): Promise<Loaded> {
    return loadAlive(await this.store.db(), this.#recent, this.#windowSize, { owner: this.owner });
  }

  /** Moves the inbox (or `limit` of its tasks, the highest priority first) into `tasks` (store/inbox.ts); tabs holding those tasks take their new keys. */
  async settleInbox(limit?: number): Promise<void> {
    const moved = await settleInbox(this.store, limit);
    const views = this.model.apply(moved, [], false);
    if (views.length > 0) this.post({ t: 'changed', tasks: views, removed: [] });
  }

  // ---- reading -----------------------------------------------------------------------------

  getSnapshot = (): readonly Task[] => this.model.snapshot();

  subscribe = (listener: () => void): (() => void) => this.model.subscribe(listener);

  select(selector: TaskSelector): TaskSlice {
    if (typeof selector !== 'object' || selector === null) badOption(`select() needs a selector: { task?, status?, id? }, got ${selector === null ? 'null' : typeof selector}`);
    return this.model.select(selector);
  }

  onSettled(listener: (tasks: readonly Task[]) => void): () => void {
    return this.model.onSettled(listener);
  }

  get(id: string): Task | undefined {
    return this.model.get(id);
  }

  result<Payload, Result>(task: TaskDefinition<Payload, Result>, id: string): Promise<Result>;
  result<Result = unknown>(id: string): Promise<Result>;
  async result(first: string | AnyTaskDefinition, second?: string): Promise<unknown> {
    const task = typeof first === 'object' && first !== null ? first : undefined;
    const id: unknown = task ? second : first;
    if (typeof id !== 'string' || id === '') return badOption(`result() needs a task id${task ? ` after the definition of "${task.name}"` : ''}, got ${JSON.stringify(id)}`);
    if (task && this.registry.get(task.name) !== task) throw new HalfsyncError('UNKNOWN_TASK', `task ${JSON.stringify(task.name)} is not in this client's tasks; add its definition to createClient({ tasks })`, { details: { task: task.name } });
    const waiting = this.model.waitFor(id);
    const held = this.model.get(id);
    if (task && held && held.name !== task.name) badOption(`task ${id} is a "${held.name}" task, not "${task.name}"`);
    // A task this tab does not hold: ask the store, once the load is done (it may be an older finished one).
    if (!held) void this.loading.then(() => this.#settleFromStore([id]), () => this.#settleFromStore([id]));
    return waiting;
  }

  async #settleFromStore(ids: readonly string[]): Promise<void> {
    const queue = [...ids];
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      if (this.model.get(id)) continue;
      try {
        const r = await recordById(await this.store.db(), id);
        // Latest wins: a replaced task's result is its replacement's, which may be out of view too.
        if (r?.status === 'superseded' && r.supersededBy && !queue.includes(r.supersededBy)) queue.push(r.supersededBy);
        this.model.settleFromStore(id, r && toTask(r), () => this.hooks.missing?.(id)
          ?? new HalfsyncError('TASK_NOT_FOUND', `no task with id "${id}" is stored: it was never deferred here, or was acknowledged or purged after its retention`, { details: { id } }));
      } catch (error) {
        this.model.settleFromStore(id, undefined, () => storageError(error, `reading task ${id}`));
      }
    }
  }

  // ---- operations ---------------------------------------------------------------------------

  async #modify(id: string, op: 'retry' | 'cancel' | 'acknowledge'): Promise<void> {
    this.open();
    const name = this.model.get(id)?.name;
    const retention = (name && this.registry.get(name)?.retention) || DEFAULT_RETENTION;
    const { changed, removed } = await modify(this.store, id, op, this.now(), retention);
    this.publish(changed, removed);
    // A retried task, or the next task of a lane this one left (acknowledged, cancelled), may run now.
    if (changed.some((r) => r.status === 'pending' && r.due !== undefined)) this.wake();
  }

  retry(id: string): Promise<void> { return this.#modify(id, 'retry'); }
  cancel(id: string): Promise<void> { return this.#modify(id, 'cancel'); }
  acknowledge(id: string): Promise<void> { return this.#modify(id, 'acknowledge'); }

  wake(): void { this.#runs.waker.wake(); }

  drain(): Promise<DrainSummary> {
    return this.#runs.drain(this.ready);
  }

  // ---- starting, the path, messages ---------------------------------------------------------

  /** Loads what is alive and the window of recent finished tasks; quarantines what cannot be read. */
  async #load(): Promise<void> {
    const db = await this.store.db();
    // What committed, unless this tab already knows a newer state (or its own signIn() is in flight).
    this.#belief.believe(await readOwnerState(db));
    await this.hooks.loaded?.();
    const { records, bad, pendingBeyond, window } = await this.#read();
    if (bad.length > 0) await quarantine(this.store, bad, this.now());
    this.#feed.load(records);
    this.#window.loaded(pendingBeyond, window);
    await this.#settleFromStore(this.model.waitedButUnknown());
  }

  problem(error: HalfsyncError | undefined): void {
    if (this.lastError === error) return;
    this.lastError = error;
    this.model.changed(false);
  }

  post(message: ChannelMessage): void {
    if (this.#closed) return;
    // What this tab committed is said before anything it says after.
    this.#outbox.flush();
    this.#channel?.postMessage(message);
  }

  readonly #flushOnHide = (): void => this.#outbox.flush();

  #onMessage(m: ChannelMessage): void {
    if (this.#feed.heard(m)) return;
    if (m.t === 'error') this.problem(new HalfsyncError(m.code as HalfsyncError['code'], m.message));
    else if (m.t === 'owner') {
      // A hint to read what committed, never a belief of its own: anyone on the origin can post.
      if (m.version > this.#belief.version) void this.#rereadOwner();
    }
    else if (!this.#runs.heard(m)) this.hooks.message?.(m);
  }

  close(): void {
    if (this.#closed) return;
    this.#outbox.close();
    globalThis.removeEventListener?.('pagehide', this.#flushOnHide);
    this.#closed = true;
    clearTimeout(this.#settleTimer);
    this.#runs.close();
    this.#channel?.close();
    this.model.rejectAll(new HalfsyncError('CLIENT_CLOSED', 'the client was closed before the task settled; its work continues and a new client can wait for it'));
    this.model.clearListeners();
    // Let the pending batch commit before closing the connection.
    void this.#commits.settled().then(() => this.store.close());
  }
}

/**
 * Creates the page's client: it defers tasks, keeps a live view of the queue (from this tab,
 * other tabs and the worker), and wakes the runner that completes them. What else it can do comes
 * from the capabilities listed in `use`; each adds its members to the client.
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
export function createClient<const Use extends readonly Capability[] = []>(options: ClientOptions<Use>): HalfsyncClient & MembersOf<Use> {
  return new Client(options) as unknown as HalfsyncClient & MembersOf<Use>;
}
