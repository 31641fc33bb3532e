import { openChannel, withoutPayload, type ChannelMessage } from './channel.js';
import { buildRecord, badOption, checkPayload, nonEmpty, type DeferHandle, type DeferOptions } from './deferral.js';
import { HalfsyncError, storageError } from './errors.js';
import type { DrainSummary } from './executor.js';
import { nextTask, TaskModel, type TaskSelector, type TaskSlice } from './model.js';
import { choosePath, askWorker, serviceWorkerProblem, unusedWorker, type ClientMode, type ServiceWorkerOption, type WorkerLink } from './paths.js';
import { requestPersistence } from './persistence.js';
import { samePayload } from './validate.js';
import { toTask, type NewTaskRecord, type Task, type TaskRecord } from './record.js';
import { countTasks, loadAlive, queryTasks, recordById, type PageOptions, type TaskQuery } from './store/query.js';

import { commitBatch, TaskStore, type OwnerExpected } from './store/store.js';
import { readOwnerState, type OwnerState } from './store/owner-state.js';
import { taskRegistry, DEFAULT_RETENTION, type AnyTaskDefinition, type TaskDefinition } from './task.js';
import { recovery, restorable, type StorageResetInfo } from './store/recovery.js';
import { journalClear, journalCommitted, journalPut } from './store/journal.js';
import { insertLinked, modify } from './store/ops.js';
import { purgeOwner, setOwner } from './store/owner.js';
import type { PageRunner } from './page-runner.js';
import { Waker } from './waker.js';

export type { ClientMode, ServiceWorkerOption } from './paths.js';
export type { DeferHandle, DeferOptions } from './deferral.js';

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
  /**
   * How many finished (succeeded, cancelled) tasks the snapshot holds, newest first. Older ones stay
   * in IndexedDB until their retention ends and are read with `query()`. Default 100.
   */
  readonly recentFinished?: number;
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
  /**
   * Keep a journal of unfinished tasks in Cache Storage (a separate backing store), written with
   * each commit and cleared as tasks finish, from which halfsync restores them if the browser loses
   * the database (see `storageReset`). Default false: it adds a Cache Storage write to every commit
   * (BENCHMARKS.md has the cost).
   */
  readonly journal?: boolean;
}

/** One page of {@link HalfsyncClient.query}. */
export interface TaskPage {
  /** The tasks, newest (or oldest) first by defer time. */
  readonly tasks: readonly Task[];
  /** Pass it back as `cursor` for the next page; undefined on the last page. */
  readonly cursor: string | undefined;
}

/** A query of {@link HalfsyncClient.query}: a filter by task definition or name, status, order key and time. */
export interface ClientQuery extends Omit<TaskQuery, 'task'> {
  /** Only tasks of this definition (or definition name). */
  readonly task?: AnyTaskDefinition | string;
}

/** The page's handle on the queue. Create one per database with {@link createClient}. */
export interface HalfsyncClient {
  /** The current path; see {@link ClientMode}. */
  readonly mode: ClientMode;
  /**
   * Why the client fell back to the page runner, when it did; or, for a client made without
   * `serviceWorker` on a page a halfsync worker controls, that it does not use that worker.
   */
  readonly modeReason: HalfsyncError | undefined;
  /**
   * The last error a runner met (a drain that failed, a worker that did not answer), heard in this
   * tab; undefined again once a drain succeeds. The work itself is safe: the runner tries again.
   */
  readonly lastError: HalfsyncError | undefined;
  /** Resolves with the chosen mode once the snapshot is loaded and the worker answered. */
  readonly ready: Promise<ClientMode>;
  /** Resolves with whether the browser granted persistent storage (false where it cannot say or does not answer within 3 s). */
  readonly persistentStorage: Promise<boolean>;
  /**
   * The async half: validates and stores `payload` for `task`, and returns at once. The task is in
   * the snapshot (status `pending`) before `defer` returns. Throws a {@link HalfsyncError} for bad
   * input, before anything is written.
   */
  defer<Payload, Result>(task: TaskDefinition<Payload, Result>, payload: Payload, options?: DeferOptions): DeferHandle<Result, Payload>;
  /**
   * The tasks this tab holds, in commit order: every task pending, running or failed, and the
   * `recentFinished` newest finished ones. A new array only when something changed.
   */
  getSnapshot(): readonly Task[];
  /** Calls `listener` after changes of the snapshot or mode, at most once per task of the event loop; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  /**
   * A live part of the snapshot (by task name, status, id) that notifies only when something in
   * it changed: what a component subscribes to so it re-renders for its slice alone.
   */
  select(selector: TaskSelector): TaskSlice;
  /**
   * Calls `listener` with the tasks that settled (succeeded, failed, cancelled), in this tab or any
   * other, or in the worker: the moment to reconcile optimistic state with server data.
   */
  onSettled(listener: (tasks: readonly Task[]) => void): () => void;
  /** One task by id, if this tab holds it (see `query` for older finished ones). */
  get(id: string): Task | undefined;
  /** Waits for a task's result (one deferred before a reload, say); rejects with TASK_NOT_FOUND for an id that is not stored. */
  result<Result = unknown>(id: string): Promise<Result>;
  /**
   * Reads one page of stored tasks through an index, newest first by default: finished ones
   * beyond the snapshot's window included.
   *
   * @example
   * ```ts
   * let page = await client.query({ task: sendEmail, status: 'succeeded' }, { limit: 20 });
   * while (page.cursor) page = await client.query({ task: sendEmail, status: 'succeeded' }, { limit: 20, cursor: page.cursor });
   * ```
   */
  query(filter?: ClientQuery, page?: PageOptions): Promise<TaskPage>;
  /** Counts stored tasks matching `filter` (index counts where one index covers it). */
  count(filter?: ClientQuery): Promise<number>;
  /**
   * Runs a failed task again, with a fresh set of attempts; the tasks that failed because of it
   * wait for it again. A task that failed because a parent did retries that parent (one that
   * succeeded is never run again).
   */
  retry(id: string): Promise<void>;
  /** Replaces the payload of a pending task before it runs (validated as `defer` does); INVALID_TRANSITION once it runs. */
  update<Payload>(id: string, payload: Payload): Promise<void>;
  /** Cancels a pending task. */
  cancel(id: string): Promise<void>;
  /**
   * Deletes a finished (succeeded, failed or cancelled) task, and with a failed or cancelled one
   * the tasks that failed because of it (DEPENDENCY_FAILED): dismissing a chain's head settles the chain.
   */
  acknowledge(id: string): Promise<void>;
  /** Asks the runner to drain now and resolves with what it did. */
  drain(): Promise<DrainSummary>;
  /** Records moved aside because they could not be read. */
  quarantined(): Promise<Array<{ seq: number; reason: string; at: number; record: unknown }>>;
  /**
   * Set when the browser lost this site's database and halfsync noticed (Chromium's `dataLoss`, or
   * its marker in Cache Storage): a `STORAGE_RESET` error whose `details` say the cause, when, and
   * how many tasks the journal restored. Stays until `acknowledgeStorageReset()`.
   */
  readonly storageReset: HalfsyncError | undefined;
  /** Clears `storageReset` in every tab. */
  acknowledgeStorageReset(): Promise<void>;
  /**
   * Who is signed in (the id given to `signIn`), undefined when signed out: this tab's view of
   * what committed, read from IndexedDB (a newer commit in another tab reaches it within moments).
   */
  readonly owner: string | undefined;
  /**
   * Signs a user in: once it commits, every task committed records them as its owner (stamped in
   * the task's own transaction from what committed, in pages and the worker alike), and only their
   * tasks run, in every tab and in the worker. Another user's tasks wait, held, until that user
   * signs in again. A defer made in a tab that still showed the previous user and committed after
   * the change is refused with OWNER_CHANGED, never recorded as the new user's.
   */
  signIn(owner: string): Promise<void>;
  /**
   * Signs the current user out. Their unfinished tasks are kept (default) and run when they sign
   * in again on this browser, never for anyone else; with `discard: true` they are deleted now,
   * payloads, results and quarantined records included, the one running too (its handler finishes
   * into nothing). No task of theirs starts once this has resolved.
   */
  signOut(options?: { discard?: boolean }): Promise<void>;
  /**
   * Deletes every task of `owner` (undefined: of work deferred signed out), whatever its status,
   * with its payload, result and quarantined records; `{ everyone: true }` deletes everything:
   * "delete my data on this device".
   */
  purge(options: { owner: string | undefined } | { everyone: true }): Promise<void>;
  /** Stops listening, releases the page runner and closes the database. */
  close(): void;
}

interface Pending {
  record: NewTaskRecord;
  /** Who this tab believed was signed in at the defer (undefined: no belief yet, still loading). */
  expected: OwnerExpected;
  resolve(task: Task): void;
  reject(error: unknown): void;
}



const closedError = () => new HalfsyncError('CLIENT_CLOSED', 'this client was closed; create a new one with createClient()');

class Client implements HalfsyncClient {
  mode: ClientMode = 'starting';
  modeReason: HalfsyncError | undefined;
  lastError: HalfsyncError | undefined;
  owner: string | undefined;
  storageReset: HalfsyncError | undefined;
  readonly ready: Promise<ClientMode>;
  readonly persistentStorage: Promise<boolean>;

  private readonly registry: Map<string, AnyTaskDefinition>;
  private readonly store: TaskStore;
  private readonly db: string;
  private readonly maxPayloadBytes: number;
  private readonly model: TaskModel;
  private readonly channel: BroadcastChannel | undefined;
  private readonly waker: Waker;
  private readonly now: () => number;
  private readonly workerTimeoutMs: number;
  private batch: Pending[] = [];
  /** The commit in flight: the next batch commits after it. */
  private committing: Promise<void> = Promise.resolve();
  /** `persisted` of the tasks of this tab not yet committed (a twin defer shares it). */
  private readonly persisting = new Map<string, Promise<Task>>();
  private closed = false;
  private loaded = false;
  private readonly removedEarly = new Set<string>();
  private readonly earlyProgress: Array<Extract<ChannelMessage, { t: 'progress' }>> = [];
  private link: WorkerLink | undefined;
  private runner: Promise<PageRunner> | undefined;
  private readonly cleanup: Array<() => void> = [];
  private readonly loading: Promise<void>;
  /**
   * The version of the committed owner state `owner` was derived from (-1: none yet, still loading).
   * A belief only moves to a higher version, so messages arriving out of order cannot roll it back.
   */
  private ownerVersion = -1;
  /** Sign-ins and sign-outs this tab made that have not committed yet. */
  private ownerChanges = 0;
  /** The newest committed state heard while this tab's own change was in flight. */
  private ownerHeard: OwnerState | undefined;

  constructor(private readonly options: ClientOptions) {
    if (typeof options !== 'object' || options === null) badOption('createClient needs an options object with a tasks array');
    this.registry = taskRegistry(options.tasks);
    this.db = options.dbName ?? 'halfsync';
    nonEmpty(this.db, 'dbName');
    this.maxPayloadBytes = options.maxPayloadBytes ?? 1_048_576;
    if (!(this.maxPayloadBytes > 0)) badOption(`maxPayloadBytes must be a positive number, got ${String(options.maxPayloadBytes)}`);
    const recent = options.recentFinished ?? 100;
    if (!(Number.isInteger(recent) && recent >= 0 && recent <= 1_000)) badOption(`recentFinished must be an integer from 0 to 1000, got ${String(options.recentFinished)}`);
    const swProblem = serviceWorkerProblem(options.serviceWorker);
    if (swProblem) badOption(swProblem);
    this.workerTimeoutMs = options.workerTimeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
    // Views hold the work of the user signed in (another user's is only counted: `count({ owner })`).
    this.model = new TaskModel({ recentFinished: recent, visible: (t) => t.owner === this.owner });
    // Looking for a lost queue happens on a database's first open (or one the engine flagged).
    this.store = new TaskStore(this.db, undefined, recovery(this.db, (r) => restorable(this.registry, this.maxPayloadBytes, r)));
    this.channel = openChannel(this.db, (m) => this.onMessage(m));
    this.waker = new Waker({
      db: this.db, model: this.model, autoRun: options.autoRun !== false, workerTimeoutMs: this.workerTimeoutMs,
      now: this.now, mode: () => this.mode, link: () => this.link, pageRunner: () => this.pageRunner(), post: (m) => this.post(m),
      workerLost: (reason) => this.fallBack(reason),
      runnerError: (error) => this.setLastError(error),
    });
    this.persistentStorage = options.persistStorage === false ? Promise.resolve(false) : requestPersistence();
    this.loading = this.load();
    this.loading.catch(() => {});
    this.ready = this.start();
    this.ready.catch(() => {});
  }

  // ---- defer and group commit -------------------------------------------------------------

  defer<Payload, Result>(task: TaskDefinition<Payload, Result>, payload: Payload, options: DeferOptions = {}): DeferHandle<Result, Payload> {
    if (this.closed) throw closedError();
    const record = buildRecord(this.registry, task, payload, options, this.now(), this.maxPayloadBytes);
    // The provisional view shows who this tab believes is signed in; the insert stamps what committed.
    if (this.owner !== undefined) record.owner = this.owner;
    const expected: OwnerExpected = this.ownerVersion >= 0 || this.ownerChanges > 0 ? { owner: this.owner } : undefined;
    // The same key while a task of it is alive: that task, not a second one.
    if (options && typeof options === 'object' && options.idempotencyKey !== undefined) {
      const twin = this.aliveWithKey(record.name, record.idempotencyKey);
      if (twin && !samePayload(twin.payload, record.payload)) {
        throw new HalfsyncError('IDEMPOTENCY_KEY_REUSED', `task "${record.name}": idempotency key ${JSON.stringify(record.idempotencyKey)} belongs to task ${twin.id}, still ${twin.status}, with another payload; the server would apply that payload only. Defer with a new key, or wait for it to finish`, { details: { id: twin.id, idempotencyKey: record.idempotencyKey } });
      }
      if (twin) {
        return { id: twin.id, persisted: (this.persisting.get(twin.id) ?? Promise.resolve(twin)) as Promise<Task<Payload, Result>>, result: this.model.waitFor(twin.id) as Promise<Result> };
      }
    }
    let resolve!: (t: Task) => void;
    let reject!: (e: unknown) => void;
    const persisted = new Promise<Task>((res, rej) => { resolve = res; reject = rej; });
    persisted.catch(() => {});
    this.persisting.set(record.id, persisted);
    // The view of a task not yet committed: no seq yet.
    this.model.addProvisional(toTask(record as TaskRecord));
    const result = this.model.waitFor(record.id) as Promise<Result>;
    this.batch.push({ record, expected, resolve, reject });
    // Every defer of this tick commits in one transaction.
    if (this.batch.length === 1) queueMicrotask(() => this.flush());
    return { id: record.id, persisted: persisted as Promise<Task<Payload, Result>>, result };
  }

  private aliveWithKey(name: string, key: string): Task | undefined {
    for (const t of this.model.values()) if (t.name === name && t.idempotencyKey === key && (t.status === 'pending' || t.status === 'running')) return t;
    return undefined;
  }

  async update<Payload>(id: string, payload: Payload): Promise<void> {
    if (this.closed) throw closedError();
    await this.loading;
    const name = this.model.get(id)?.name ?? (await recordById(await this.store.db(), id))?.name;
    const task = name === undefined ? undefined : this.registry.get(name);
    if (!task) throw new HalfsyncError('TASK_NOT_FOUND', `no task with id "${id}" that this client can change`, { details: { id } });
    const stored = checkPayload(task, payload, this.maxPayloadBytes);
    const { changed, removed } = await modify(this.store, id, 'update', this.now(), task.retention, stored);
    this.publish(changed, removed);
  }

  /** Applies what this tab committed, brings the journal up to date with it, and sends the same to the other tabs. */
  private publish(changed: readonly TaskRecord[], removed: readonly string[]): void {
    void journalCommitted(this.db, changed, removed).catch((e: unknown) => this.setLastError(storageError(e, 'writing the journal')));
    const views = this.model.apply(changed, removed, true);
    if (views.length > 0 || removed.length > 0) this.post({ t: 'changed', tasks: views, removed });
  }

  /**
   * Commits the batch of this tick after the batches before it: commits keep the order of the
   * defers (a task after a parent deferred a tick earlier finds it stored; lanes keep their order)
   * even when one batch waits for code it loads lazily.
   */
  private flush(): void {
    const batch = this.batch;
    this.batch = [];
    this.committing = this.committing.then(() => this.commit(batch)).catch((error: unknown) => {
      // Nothing vanishes: a commit that failed in an unexpected way refuses its tasks with a code.
      const coded = storageError(error, 'storing deferred tasks');
      for (const b of batch) { this.model.dropProvisional(b.record.id, coded); b.reject(coded); this.persisting.delete(b.record.id); }
    });
  }

  private async commit(batch: Pending[]): Promise<void> {
    const retentionOf = (name: string) => this.registry.get(name)?.retention ?? DEFAULT_RETENTION;
    const records = batch.map((b) => b.record);
    const linked = records.some((r) => r.after !== undefined || r.supersede !== undefined) ? insertLinked : undefined;
    const { results, changed: others, owner } = await commitBatch(this.store, records, retentionOf, linked, batch.map((b) => b.expected));
    // The journal, from what committed (a refused defer is never journaled, so never restored):
    // before `persisted` resolves, so a task persisted is one a restore brings back.
    if (this.options.journal) {
      const stored = results.filter((r): r is TaskRecord => !(r instanceof Error));
      if (stored.length > 0) await journalPut(this.db, [...others, ...stored]).catch((e: unknown) => this.setLastError(storageError(e, 'writing the journal')));
    }
    // A defer refused because another tab's sign-in committed first: this tab believes it now.
    if (owner) this.believeOwner(owner);
    const committed: TaskRecord[] = [];
    results.forEach((r, i) => {
      const b = batch[i]!;
      if (r instanceof Error) {
        this.model.dropProvisional(b.record.id, r);
        b.reject(r);
      } else committed.push(r);
    });
    // The tasks a supersede replaced first, then the new ones.
    const views = this.model.apply([...others, ...committed], [], true);
    // The wake-up is asked for before `persisted` resolves: a tab closed the moment it resolves
    // still leaves a Background Sync (or a message to the worker) behind for its work.
    if (views.length > 0) this.waker.committed();
    results.forEach((r, i) => { if (!(r instanceof Error)) batch[i]!.resolve(this.model.get(r.id) ?? toTask(r)); });
    for (const b of batch) this.persisting.delete(b.record.id);
    // After the callers awaiting `persisted` ran: the copy for other tabs is not on their path.
    if (views.length > 0) nextTask(() => this.post({ t: 'changed', tasks: views, removed: [] }));
  }

  // ---- owners ------------------------------------------------------------------------------

  signIn(owner: string): Promise<void> {
    if (typeof owner !== 'string' || owner.length === 0 || owner.length > 200) {
      return Promise.reject(new HalfsyncError('INVALID_OPTIONS', `signIn() needs the user's id: a non-empty string of at most 200 characters, got ${typeof owner === 'string' ? `${owner.length} characters` : typeof owner}`));
    }
    return this.changeOwner(owner, false);
  }

  signOut(options: { discard?: boolean } = {}): Promise<void> {
    if (typeof options !== 'object' || options === null || (options.discard !== undefined && typeof options.discard !== 'boolean')) {
      return Promise.reject(new HalfsyncError('INVALID_OPTIONS', 'signOut() takes { discard?: boolean }'));
    }
    return this.changeOwner(undefined, options.discard === true);
  }

  private async changeOwner(owner: string | undefined, discard: boolean): Promise<void> {
    if (this.closed) throw closedError();
    // The defers of this tab made before the change commit before it, under the owner they were
    // made by; those made after it commit after it, under the new one.
    if (this.batch.length > 0) this.flush();
    const moved = owner !== this.owner;
    this.owner = owner;
    this.ownerChanges++;
    if (moved) this.showOwner();
    const change = this.committing.then(async () => {
      await this.loading.catch(() => {});
      return setOwner(this.store, owner, this.now(), discard);
    });
    this.committing = change.then(() => {}, () => {});
    let committed: OwnerState | undefined;
    try {
      const { changed, removed, state } = await change;
      committed = state;
      // Announced once committed: every tab and runner keeps the highest version it hears.
      this.post({ t: 'owner', owner: state.owner, version: state.version });
      void this.runner?.then((r) => r.ownerChanged(state));
      this.publish(changed, removed);
      this.waker.wake({ fresh: true });
    } finally {
      this.ownerChanges--;
      // Not committed (the write failed): believe what did.
      committed ??= await readOwnerState(await this.store.db()).catch(() => undefined);
      if (committed) this.believeOwner(committed);
    }
  }

  /** Reads who is signed in from the store (another tab said it changed) and believes it. */
  private async rereadOwner(): Promise<void> {
    const state = await readOwnerState(await this.store.db()).catch(() => undefined);
    if (!state) return;
    this.believeOwner(state);
    void this.runner?.then((r) => r.ownerChanged(state));
  }

  /**
   * Moves this tab's belief about who is signed in to a state read from the store, if not older
   * than the one it holds (a slow read cannot undo a later one). While this tab's own change is in
   * flight its intent stands; the newest state read meanwhile is kept, and wins over its own commit
   * if later.
   */
  private believeOwner(state: OwnerState): void {
    if (!this.ownerHeard || state.version > this.ownerHeard.version) this.ownerHeard = state;
    if (this.ownerChanges > 0) return;
    const best = this.ownerHeard;
    this.ownerHeard = undefined;
    if (best.version < this.ownerVersion) return;
    const moved = best.owner !== this.owner;
    this.owner = best.owner;
    this.ownerVersion = best.version;
    if (moved) this.showOwner();
  }

  /** Another user signed in: the view drops the work of the one before and loads this one's. */
  private showOwner(): void {
    this.model.refilter();
    this.model.changed(true);
    this.reload('loading the tasks of the user signed in');
  }

  /** Reads what is alive again (another user's work came into view, a runner restored a lost queue). */
  private reload(what: string): void {
    if (!this.loaded) return;
    void this.store.db().then((db) => loadAlive(db, this.options.recentFinished ?? 100)).then(({ records }) => {
      this.model.apply(records, [], false);
    }, (error: unknown) => this.setLastError(storageError(error, what)));
  }

  async purge(options: { owner: string | undefined } | { everyone: true }): Promise<void> {
    if (this.closed) throw closedError();
    if (typeof options !== 'object' || options === null || !('everyone' in options || 'owner' in options)) {
      throw new HalfsyncError('INVALID_OPTIONS', 'purge() takes { owner } (undefined: work deferred signed out) or { everyone: true }');
    }
    await this.loading.catch(() => {});
    const everyone = 'everyone' in options && options.everyone === true;
    const { changed, removed } = await purgeOwner(this.store, everyone ? null : (options as { owner: string | undefined }).owner, this.now());
    if (everyone) await journalClear(this.db);
    this.publish(changed, removed);
  }

  // ---- a lost database --------------------------------------------------------------------

  private noticeReset(info: StorageResetInfo, detectedHere: boolean): void {
    const known = this.storageReset?.details as StorageResetInfo | undefined;
    if (known && known.at === info.at && known.restored === info.restored && known.quarantined === info.quarantined && known.restoreError === info.restoreError) return;
    const restored = info.restoreError
      ? `restoring from the journal failed (${info.restoreError})`
      : `${info.restored} unfinished task(s) were restored from the journal${info.quarantined ? `, ${info.quarantined} entry(ies) quarantined` : ''}${info.restored === 0 ? ' (turn the journal on with createClient({ journal: true }) to restore them next time)' : ''}`;
    this.storageReset = new HalfsyncError(
      'STORAGE_RESET',
      `the browser lost this site's database (${info.cause === 'data-loss' ? `it said: ${info.engineMessage ?? 'data loss'}` : 'it was found new, but this site had a queue'}); ${restored}`,
      { details: { ...info } },
    );
    this.model.changed(false);
    if (detectedHere) this.post({ t: 'reset', info });
  }

  async acknowledgeStorageReset(): Promise<void> {
    await (await this.store.db()).delete('state', 'reset');
    this.storageReset = undefined;
    this.model.changed(true);
    this.post({ t: 'reset', info: null });
  }

  /**
   * A runner noticed a lost database, or a tab acknowledged it: this tab reads the reset record
   * (a message is only a hint) and, for a loss, loads what the runner restored.
   */
  private async rereadReset(): Promise<void> {
    const row = await (await this.store.db()).get('state', 'reset').catch(() => undefined);
    const info = row?.value as StorageResetInfo | undefined;
    if (info) {
      this.noticeReset(info, false);
      this.reload('loading the tasks restored after a storage reset');
    } else if (this.storageReset) {
      this.storageReset = undefined;
      this.model.changed(false);
    }
  }

  // ---- reading -----------------------------------------------------------------------------

  getSnapshot = (): readonly Task[] => this.model.snapshot();

  subscribe = (listener: () => void): (() => void) => this.model.subscribe(listener);

  select(selector: TaskSelector): TaskSlice {
    if (typeof selector !== 'object' || selector === null) badOption('select() needs a selector: { task?, status?, id? }');
    return this.model.select(selector);
  }

  onSettled(listener: (tasks: readonly Task[]) => void): () => void {
    return this.model.onSettled(listener);
  }

  get(id: string): Task | undefined {
    return this.model.get(id);
  }

  async result<Result = unknown>(id: string): Promise<Result> {
    if (typeof id !== 'string' || id === '') badOption(`result() needs a task id, got ${JSON.stringify(id)}`);
    const waiting = this.model.waitFor(id);
    // A task this tab does not hold: ask the store, once the load is done (it may be an older finished one).
    if (!this.model.get(id)) void this.loading.then(() => this.settleFromStore([id]), () => this.settleFromStore([id]));
    return waiting as Promise<Result>;
  }

  private async settleFromStore(ids: readonly string[]): Promise<void> {
    const queue = [...ids];
    for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
      if (this.model.get(id)) continue;
      try {
        const r = await recordById(await this.store.db(), id);
        // Latest wins: a replaced task's result is its replacement's, which may be out of view too.
        if (r?.status === 'superseded' && r.supersededBy && !queue.includes(r.supersededBy)) queue.push(r.supersededBy);
        this.model.settleFromStore(id, r && toTask(r), () => (this.storageReset
          ? new HalfsyncError('STORAGE_RESET', `no task with id "${id}" is stored, and the browser lost this site's database ${new Date((this.storageReset.details as { at?: number }).at ?? 0).toISOString()}: the task may have been stored before that`, { details: { id, reset: this.storageReset.details } })
          : new HalfsyncError('TASK_NOT_FOUND', `no task with id "${id}" is stored: it was never deferred here, or was acknowledged or purged after its retention`, { details: { id } })));
      } catch (error) {
        this.model.settleFromStore(id, undefined, () => storageError(error, `reading task ${id}`));
      }
    }
  }

  async query(filter: ClientQuery = {}, page: PageOptions = {}): Promise<TaskPage> {
    const { records, cursor } = await queryTasks(await this.store.db(), this.toQuery(filter), page);
    return { tasks: records.map((r) => this.model.get(r.id) ?? toTask(r)), cursor };
  }

  async count(filter: ClientQuery = {}): Promise<number> {
    return countTasks(await this.store.db(), this.toQuery(filter));
  }

  private toQuery(filter: ClientQuery): TaskQuery {
    if (typeof filter !== 'object' || filter === null) badOption('a query must be an object: { task?, status?, orderKey?, owner?, since?, until? }');
    const task = typeof filter.task === 'object' && filter.task !== null ? filter.task.name : filter.task;
    return { ...filter, task };
  }

  // ---- operations ---------------------------------------------------------------------------

  private async modify(id: string, op: 'retry' | 'cancel' | 'acknowledge'): Promise<void> {
    if (this.closed) throw closedError();
    const name = this.model.get(id)?.name;
    const retention = (name && this.registry.get(name)?.retention) || DEFAULT_RETENTION;
    const { changed, removed } = await modify(this.store, id, op, this.now(), retention);
    this.publish(changed, removed);
    // A retried task, or the next task of a lane this one left (acknowledged, cancelled), may run now.
    if (changed.some((r) => r.status === 'pending' && r.due !== undefined)) this.waker.wake();
  }

  retry(id: string): Promise<void> { return this.modify(id, 'retry'); }
  cancel(id: string): Promise<void> { return this.modify(id, 'cancel'); }
  acknowledge(id: string): Promise<void> { return this.modify(id, 'acknowledge'); }

  quarantined(): Promise<Array<{ seq: number; reason: string; at: number; record: unknown }>> {
    return this.store.quarantined();
  }

  async drain(): Promise<DrainSummary> {
    const mode = await this.ready;
    if (mode === 'page' || !this.link) return (await this.pageRunner()).drainNow();
    const reply = await askWorker(this.link, this.db, 'drain', 330_000);
    if (reply.op !== 'drain') throw new HalfsyncError('WORKER_UNAVAILABLE', 'the service worker gave an unexpected answer to a drain request');
    return reply.summary;
  }

  // ---- starting, the path, messages ---------------------------------------------------------

  private async start(): Promise<ClientMode> {
    const path = await choosePath(this.options.serviceWorker, this.db, this.workerTimeoutMs);
    await this.loading;
    if (this.closed) return this.mode;
    this.link = path.link;
    this.modeReason = path.reason;
    // No worker asked for: say so if a halfsync worker controls the page (a forgotten option).
    if (!this.options.serviceWorker) {
      void unusedWorker(this.db).then((reason) => {
        if (!reason || this.closed || this.mode !== 'page' || this.modeReason) return;
        this.modeReason = reason;
        this.model.changed(false);
      });
    }
    this.mode = path.mode;
    this.model.changed(false);
    this.listen();
    if (this.mode === 'page') await this.pageRunner();
    this.waker.start();
    // On load: wake the runner for work left by an earlier visit.
    for (const t of this.model.values()) {
      if (t.status === 'pending' || t.status === 'running') { this.waker.wake({ fresh: true }); break; }
    }
    return this.mode;
  }

  /** Loads what is alive and the window of recent finished tasks; quarantines what cannot be read. */
  private async load(): Promise<void> {
    const db = await this.store.db();
    const signedIn = await readOwnerState(db);
    const reset = (await db.get('state', 'reset'))?.value as StorageResetInfo | undefined;
    if (reset) this.noticeReset(reset, this.store.reset !== undefined);
    // What committed, unless this tab already knows a newer state (or its own signIn() is in flight).
    this.believeOwner(signedIn);
    const { records, bad } = await loadAlive(db, this.options.recentFinished ?? 100);
    if (bad.length > 0) await this.store.quarantine(bad, this.now());
    this.model.apply(records.filter((r) => !this.removedEarly.has(r.id)), [], false);
    this.loaded = true;
    for (const m of this.earlyProgress.splice(0)) this.model.applyProgress(m.tasks, m.removed);
    this.removedEarly.clear();
    await this.settleFromStore(this.model.waitedButUnknown());
  }

  /** Wakes the runner when the network returns and when the tab comes back into view. */
  private listen(): void {
    // Typed loosely so this module also type-checks without the DOM lib (worker builds import it).
    const g = globalThis as unknown as { addEventListener?: EventTarget['addEventListener']; removeEventListener?: EventTarget['removeEventListener']; document?: EventTarget & { visibilityState: string } };
    const doc = g.document;
    if (!doc || !g.addEventListener || !g.removeEventListener) return;
    const onOnline = () => this.waker.online();
    const onVisible = () => { if (doc.visibilityState === 'visible') this.waker.wake(); };
    g.addEventListener('online', onOnline);
    doc.addEventListener('visibilitychange', onVisible);
    this.cleanup.push(() => g.removeEventListener!('online', onOnline), () => doc.removeEventListener('visibilitychange', onVisible));
  }

  /** The worker stopped answering: the page runner takes over, and the client says why. */
  private fallBack(reason: HalfsyncError): void {
    if (this.closed || this.mode === 'page') return;
    this.mode = 'page';
    this.modeReason = reason;
    this.link = undefined;
    this.setLastError(reason);
    this.model.changed(false);
    this.waker.wake({ fresh: true });
  }

  private setLastError(error: HalfsyncError | undefined): void {
    if (this.lastError === error) return;
    this.lastError = error;
    this.model.changed(false);
  }

  private pageRunner(): Promise<PageRunner> {
    if (this.runner) return this.runner;
    const loading: Promise<PageRunner> = import('./page-runner.js').then(({ PageRunner }) => new PageRunner({
      store: this.store, tasks: this.registry, post: (m) => this.post(m),
      concurrency: this.options.concurrency, leaseMs: this.options.leaseMs, now: this.now, online: this.options.online,
      autoRun: this.options.autoRun !== false,
      onChange: (changed, removed) => {
        const views = this.model.apply(changed, removed, false);
        if (views.length > 0 || removed.length > 0) this.post({ t: 'progress', tasks: views.map(withoutPayload), removed });
      },
      onRenew: (leases) => { this.model.renewLeases(leases); this.post({ t: 'leases', leases }); },
      onDrained: (summary) => { this.setLastError(undefined); this.waker.drained(summary); },
      onError: (error) => {
        const coded = error instanceof HalfsyncError ? error : storageError(error, 'draining in the page runner');
        this.setLastError(coded);
        this.post({ t: 'error', code: coded.code, message: coded.message });
      },
    }), (error: unknown) => {
      // The chunk could not be loaded (offline before it was cached, or gone after a deploy). The
      // work stays queued: say so with a code, and let the next wake (a defer, `online`, the tab
      // shown again, drain()) import it again. What callers get meanwhile runs nothing.
      if (this.runner === loading) this.runner = undefined;
      const reason = new HalfsyncError(
        'RUNNER_UNAVAILABLE',
        `the page runner (page-runner.js, loaded only when this page runs the tasks) could not be loaded (${(error as Error)?.message ?? String(error)}); the tasks stay queued and the next wake loads it again. Precache the app's script chunks with the app shell so that it loads offline`,
        { cause: error },
      );
      this.setLastError(reason);
      // A stand-in whose every method does nothing (drainNow rejects with the reason); not a
      // thenable, so that it resolves the promise as itself.
      return new Proxy({}, {
        get: (_, key) => (key === 'then' ? undefined : key === 'drainNow' ? () => Promise.reject(reason) : () => {}),
      }) as PageRunner;
    });
    this.runner = loading;
    return loading;
  }

  private post(message: ChannelMessage): void {
    if (!this.closed) this.channel?.postMessage(message);
  }

  private onMessage(m: ChannelMessage): void {
    if (m.t === 'changed') {
      this.model.apply(m.tasks, [], false);
      if (m.removed.length > 0) void this.removeIfGone(m.removed);
    } else if (m.t === 'progress') {
      // Before the load, this tab holds nothing to apply progress to: keep it for after.
      if (!this.loaded) this.earlyProgress.push({ ...m, removed: [] });
      else this.model.applyProgress(m.tasks, []);
      if (m.removed.length > 0) void this.removeIfGone(m.removed);
    } else if (m.t === 'leases') this.model.renewLeases(m.leases);
    else if (m.t === 'drained') { this.setLastError(undefined); this.waker.drained(m.summary); }
    else if (m.t === 'error') this.setLastError(new HalfsyncError(m.code as HalfsyncError['code'], m.message));
    else if (m.t === 'reset') void this.rereadReset();
    else if (m.t === 'owner') {
      // A hint to read what committed, never a belief of its own: anyone on the origin can post.
      if (m.version > this.ownerVersion) void this.rereadOwner();
    }
    else if (m.t === 'wake' && this.mode === 'page' && this.options.autoRun !== false) void this.pageRunner().then((r) => r.wakeIfLeader(m.networkBack === true));
  }

  /**
   * Another tab or a runner says tasks were deleted: this tab drops those the store no longer
   * holds (a message alone, which anyone on the origin can post, never takes a task out of view).
   */
  private async removeIfGone(ids: readonly string[]): Promise<void> {
    try {
      const tx = (await this.store.db()).transaction('tasks');
      const index = tx.store.index('id');
      const keys = await Promise.all(ids.map((id) => index.getKey(id)));
      const gone = ids.filter((_, i) => keys[i] === undefined);
      if (gone.length === 0) return;
      if (!this.loaded) for (const id of gone) this.removedEarly.add(id);
      this.model.apply([], gone, false);
    } catch {
      // The database closed (this client did, or an upgrade): the next load reads what is there.
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.waker.close();
    for (const f of this.cleanup) f();
    this.channel?.close();
    void this.runner?.then((r) => r.close());
    this.model.rejectAll(new HalfsyncError('CLIENT_CLOSED', 'the client was closed before the task settled; its work continues and a new client can wait for it'));
    this.model.clearListeners();
    // Let the pending batch commit before closing the connection.
    const pending = this.batch.length > 0 ? new Promise((r) => queueMicrotask(() => r(undefined))) : Promise.resolve();
    void pending.then(() => this.committing).then(() => this.store.close());
  }
}

/**
 * Creates the page's client: it defers tasks, keeps a live view of the queue (from this tab,
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
