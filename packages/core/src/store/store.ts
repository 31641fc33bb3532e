import { openDB, type IDBPDatabase, type IDBPTransaction } from 'idb';
import { HalfsyncError, storageError } from '../errors.js';
import { cancel, next, requeue, type NewTaskRecord, type TaskRecord } from '../record.js';
import { DEFAULT_RETENTION, type RetentionPolicy } from '../task.js';
import { dependencyFailed, failDescendants, placeInLane, promote, reviveDescendants, type Put } from './chain.js';
import { MIGRATIONS, SCHEMA_VERSION, type HalfsyncSchema } from './schema.js';
import { recover, type OpenInfo, type StorageResetInfo } from './recovery.js';

/** A readwrite transaction over both stores. */
export type Tx = IDBPTransaction<HalfsyncSchema, ('tasks' | 'quarantine' | 'state')[], 'readwrite'>;

const isCloneError = (error: unknown) => (error as { name?: string } | null)?.name === 'DataCloneError';

/**
 * Group commit: every record of one tick in one transaction. If the batch as a whole fails (a full
 * quota, say), each record is committed on its own, in order, so every one that fits keeps its
 * place and only the others are refused, each with its coded error.
 */
export async function commitBatch(store: TaskStore, records: readonly NewTaskRecord[], retentionOf: (name: string) => RetentionPolicy): Promise<Inserted> {
  try {
    return await store.insert(records, retentionOf);
  } catch (error) {
    if (records.length === 1) return { results: [storageError(error, 'storing a deferred task')], changed: [] };
    const results: Array<TaskRecord | HalfsyncError> = [];
    const changed: TaskRecord[] = [];
    for (const r of records) {
      try {
        const one = await store.insert([r], retentionOf);
        results.push(...one.results);
        changed.push(...one.changed);
      } catch (e) { results.push(storageError(e, 'storing a deferred task')); }
    }
    return { results, changed };
  }
}

/** What `TaskStore.insert` did: each record stored (or why not), and the other records it changed (those it replaced). */
export interface Inserted {
  readonly results: Array<TaskRecord | HalfsyncError>;
  readonly changed: TaskRecord[];
}

/** Adds a record; a payload the browser refuses comes back as a coded error, the batch's other records keep their place. */
function add(store: { add(value: TaskRecord): Promise<number> }, r: NewTaskRecord): Promise<TaskRecord | HalfsyncError> {
  try {
    return store.add(r as TaskRecord).then((seq) => ({ ...r, seq }) as TaskRecord);
  } catch (error) {
    // add() throws at once for a value the browser refuses (DataCloneError).
    if (!isCloneError(error)) throw error;
    return Promise.resolve(new HalfsyncError('PAYLOAD_NOT_CLONEABLE', `task "${r.name}": this browser refused to store the payload (${(error as Error).message})`, { cause: error }));
  }
}

/** Inserts a record with parents or a supersede key (see `TaskStore.insert`). */
async function insertLinked(tx: Tx, r: NewTaskRecord, retentionOf: (name: string) => RetentionPolicy, put: Put): Promise<TaskRecord | HalfsyncError> {
  const store = tx.objectStore('tasks');
  const now = r.createdAt;
  if (r.after) {
    for (const pid of r.after) {
      const p = await store.index('id').get(pid);
      if (!p) {
        return new HalfsyncError('DEPENDENCY_UNKNOWN', `task "${r.name}" runs after task ${pid}, which is not stored (acknowledged or purged); nothing was stored`, { details: { id: r.id, after: pid } });
      }
      if (p.status === 'succeeded') r.parentResults = { ...r.parentResults, [pid]: { name: p.name, result: p.result } };
      else if (p.status === 'failed' || p.status === 'cancelled' || p.status === 'superseded') {
        // It may still run: retrying the parent revives it.
        Object.assign(r, { status: 'failed', lastError: dependencyFailed(p, now) });
        delete r.due;
        delete r.lane;
      }
    }
  }
  if (r.supersede !== undefined && r.status === 'pending' && r.lane !== undefined) {
    for (const m of await store.index('lane').getAll(r.lane)) {
      if (m.status !== 'pending' || m.name !== r.name || m.supersede !== r.supersede) continue;
      put(next(m, now, { status: 'superseded', supersededBy: r.id, lane: undefined, due: undefined, purgeAt: now + retentionOf(m.name).finishedMs }));
      // The tasks that ran after the replaced one run after its replacement.
      for (const c of await store.index('after').getAll(m.id)) {
        put(next(c, now, { after: c.after!.map((x) => (x === m.id ? r.id : x)) }));
      }
    }
  }
  if (r.status === 'pending') placeInLane(r, r.lane === undefined ? undefined : await store.index('lane').getKey(r.lane));
  return add(store, r);
}

/**
 * Retries a failed task. One failed because a parent failed retries that parent instead (which
 * revives it); a parent that succeeded is never run again.
 */
async function retryChain(tx: Tx, r: TaskRecord, now: number, put: Put, seen: Set<string>): Promise<void> {
  if (seen.has(r.id)) return;
  seen.add(r.id);
  const store = tx.objectStore('tasks');
  if (r.lastError?.code === 'DEPENDENCY_FAILED' && r.after) {
    let parentRetried = false;
    for (const pid of r.after) {
      const p = await store.index('id').get(pid);
      if (p?.status === 'failed') { await retryChain(tx, p, now, put, seen); parentRetried = true; }
      else if (!p || p.status === 'cancelled' || p.status === 'superseded') {
        throw new HalfsyncError('INVALID_TRANSITION', `cannot retry task "${r.name}" (${r.id}): it runs after task ${pid}, which ${p ? `was ${p.status}` : 'is gone'}; defer it again`, { details: { id: r.id, after: pid } });
      }
    }
    if (parentRetried) return; // the parent's retry revived this task
  }
  const up = requeue(r, now);
  if (r.orderKey !== undefined) up.lane = r.orderKey;
  placeInLane(up, up.lane === undefined ? undefined : await store.index('lane').getKey(up.lane));
  put(up);
  await reviveDescendants(tx, up, now, put);
}

/**
 * Runs `body` in a fresh transaction and waits for it to commit; on any failure aborts it and
 * rethrows as a coded storage error. Requests inside `body` are issued without waiting for each
 * other where they do not depend on each other: IndexedDB runs them in order anyway, and a round
 * trip per request is what makes a naive store slow.
 */
export async function inTx<T>(store: TaskStore, durability: 'strict' | 'relaxed', what: string, body: (tx: Tx) => Promise<T>): Promise<T> {
  const tx = await store.tx(durability);
  try {
    const out = await body(tx);
    await tx.done;
    return out;
  } catch (error) {
    tx.done.catch(() => {});
    try { tx.abort(); } catch { /* already finished */ }
    // A bug in the body is not a storage failure: it surfaces as itself.
    if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError || error instanceof SyntaxError) throw error;
    throw storageError(error, what);
  }
}

export { placeInLane, promote } from './chain.js';

/**
 * The one owner of halfsync's IndexedDB records: every state transition happens here, each in
 * one transaction. Defers commit with strict durability (they are the user's only copy); the
 * executor's claims and settlements commit relaxed, because losing one in a crash only means the
 * task runs again, which at-least-once with idempotency keys already allows.
 */
export class TaskStore {
  private opening: Promise<IDBPDatabase<HalfsyncSchema>> | undefined;

  /** What the last open noticed: the browser lost the previous database (undefined: it did not). */
  reset: StorageResetInfo | undefined;

  /**
   * `blockedMs`: how long an upgrade may wait for another tab to let go of the old version before
   * the open fails with STORAGE_BLOCKED. `accepts`: whether a task restored from the journal after
   * the browser lost the database may come back (undefined, or why not); without it nothing is restored.
   */
  constructor(readonly name: string, private readonly blockedMs = 5_000, private readonly accepts?: (r: NewTaskRecord) => string | undefined) {}

  /** Opens (or reopens after another tab's upgrade closed it) the database. */
  db(): Promise<IDBPDatabase<HalfsyncSchema>> {
    if (this.opening) return this.opening;
    const opening = this.open();
    this.opening = opening;
    opening.catch(() => { if (this.opening === opening) this.opening = undefined; });
    return opening;
  }

  private open(): Promise<IDBPDatabase<HalfsyncSchema>> {
    if (typeof indexedDB === 'undefined') {
      return Promise.reject(new HalfsyncError('STORAGE_UNAVAILABLE', 'IndexedDB is not available in this context; halfsync needs it to store deferred work'));
    }
    let blockedTimer: ReturnType<typeof setTimeout> | undefined;
    let giveUp: ((error: HalfsyncError) => void) | undefined;
    let abandoned = false;
    let info: OpenInfo = { created: false, dataLoss: undefined, dataLossMessage: undefined };
    const opened = openDB<HalfsyncSchema>(this.name, SCHEMA_VERSION, {
      upgrade: (db, oldVersion, _newVersion, tx, event) => {
        const e = event as IDBVersionChangeEvent & { dataLoss?: string; dataLossMessage?: string };
        info = { created: oldVersion === 0, dataLoss: e.dataLoss, dataLossMessage: e.dataLossMessage || undefined };
        let chain = Promise.resolve();
        for (let v = oldVersion; v < SCHEMA_VERSION; v++) chain = chain.then(() => MIGRATIONS[v]!(db, tx));
        chain.catch(() => tx.abort());
      },
      // Another tab holds the old version open and does not let go (an older build of the app, or
      // a tab frozen in the background): fail this open with a code rather than hang every write.
      blocked: () => {
        blockedTimer ??= setTimeout(() => giveUp?.(new HalfsyncError(
          'STORAGE_BLOCKED',
          `the database "${this.name}" needs an upgrade, and another tab of this site keeps the old version open; close or reload the other tabs (nothing was written)`,
        )), this.blockedMs);
      },
      blocking: () => this.forget(),
      terminated: () => this.forget(),
    });
    const opening = Promise.race([opened, new Promise<never>((_, reject) => { giveUp = reject; })]).finally(() => clearTimeout(blockedTimer));
    // An open given up on may still succeed later: close that connection at once.
    opened.then((db) => { if (abandoned) db.close(); }, () => {});
    return opening.then(
      async (db) => {
        db.addEventListener('close', () => this.forget());
        // A new (or engine-flagged) database: was a queue lost? Before anyone uses it.
        if (info.created || info.dataLoss === 'total') {
          this.reset = await recover(db, this.name, info, Date.now(), this.accepts ?? (() => 'this runner restores nothing')).catch(() => undefined) ?? this.reset;
        }
        return db;
      },
      (error: unknown) => {
        if (error instanceof HalfsyncError && error.code === 'STORAGE_BLOCKED') { abandoned = true; throw error; }
        if ((error as { name?: string })?.name === 'VersionError') {
          throw new HalfsyncError('STORAGE_UNAVAILABLE', `the database "${this.name}" was upgraded by a newer version of this app; reload the page to load it`, { cause: error });
        }
        throw storageError(error, `opening the database "${this.name}"`);
      },
    );
  }

  private forget(): void {
    const opening = this.opening;
    this.opening = undefined;
    opening?.then((db) => db.close(), () => {});
  }

  /** Closes the connection. */
  close(): void {
    this.forget();
  }

  /** A readwrite transaction over both stores (for this module and the executor's pump). */
  async tx(durability: 'strict' | 'relaxed'): Promise<Tx> {
    const db = await this.db();
    try {
      return db.transaction(['tasks', 'quarantine', 'state'], 'readwrite', { durability });
    } catch (error) {
      this.forget();
      throw storageError(error, 'starting a transaction');
    }
  }

  /**
   * Commits a batch of new tasks in one transaction with strict durability, in order. A task with
   * parents records the results of those that succeeded (and fails at once if one will never
   * succeed); a task with a supersede key replaces the pending tasks of its key (latest wins).
   */
  insert(records: readonly NewTaskRecord[], retentionOf: (name: string) => RetentionPolicy = () => DEFAULT_RETENTION): Promise<Inserted> {
    return inTx(this, 'strict', 'storing deferred tasks', async (tx): Promise<Inserted> => {
      const store = tx.objectStore('tasks');
      // The common case, plain tasks: every request issued at once.
      if (records.every((r) => r.after === undefined && r.supersede === undefined)) {
        // Which lanes already have an active task: their new tasks queue behind it.
        const lanes = [...new Set(records.flatMap((r) => (r.lane === undefined ? [] : [r.lane])))];
        const heads = await Promise.all(lanes.map((lane) => store.index('lane').getKey(lane)));
        const taken = new Set<string>();
        lanes.forEach((lane, i) => { if (heads[i] !== undefined) taken.add(lane); });
        const results = await Promise.all(records.map((record) => {
          const r = { ...record };
          if (r.lane !== undefined) placeInLane(r, taken.has(r.lane) ? -1 : undefined);
          const added = add(store, r);
          if (r.lane !== undefined) taken.add(r.lane);
          return added;
        }));
        return { results, changed: [] };
      }
      // Chains and supersedes: one record after the other, each seeing what the last one wrote.
      const results: Array<TaskRecord | HalfsyncError> = [];
      const changed = new Map<number, TaskRecord>();
      const put: Put = (x) => { changed.set(x.seq, x); void store.put(x); };
      for (const record of records) results.push(await insertLinked(tx, { ...record }, retentionOf, put));
      return { results, changed: [...changed.values()] };
    });
  }

  /**
   * A user's operation on one task, by id: `retry` (failed → pending, and the tasks that failed
   * because of it wait for it again; a task failed by a parent retries its failed parents),
   * `cancel` (pending → cancelled, and the tasks after it fail), `acknowledge` (a finished task is
   * deleted), or `update` (a pending task's payload is replaced).
   */
  async modify(id: string, op: 'retry' | 'cancel' | 'acknowledge' | 'update', now: number, retention: RetentionPolicy, payload?: unknown): Promise<{ changed: TaskRecord[]; removed: string[] }> {
    return inTx(this, 'strict', `${op} of task ${id}`, async (tx) => {
      const store = tx.objectStore('tasks');
      const changed = new Map<number, TaskRecord>();
      const removed: string[] = [];
      const put: Put = (r) => { changed.set(r.seq, r); void store.put(r); };
      const r = await store.index('id').get(id);
      if (!r) throw new HalfsyncError('TASK_NOT_FOUND', `no task with id "${id}"; it was never deferred here or was already acknowledged`, { details: { id } });
      const refuse = (what: string): never => {
        throw new HalfsyncError('INVALID_TRANSITION', `cannot ${op} task "${r.name}" (${id}): it is ${r.status}; ${what}`, { details: { id, status: r.status } });
      };
      if (op === 'retry') {
        if (r.status !== 'failed') refuse('only failed tasks can be retried');
        await retryChain(tx, r, now, put, new Set());
      } else if (op === 'cancel') {
        if (r.status !== 'pending') refuse(r.status === 'running' ? 'wait for it to settle' : 'only pending tasks can be cancelled');
        const up = cancel(r, now, retention);
        put(up);
        await failDescendants(tx, up, now, put);
        if (r.lane !== undefined) await promote(tx, r.lane, now, put);
      } else if (op === 'update') {
        if (r.status !== 'pending') refuse(r.status === 'running' ? 'it is being sent; defer a new one (a supersede key makes it replace the last)' : 'only pending tasks can be changed');
        put(next(r, now, { payload }));
      } else {
        if (r.status === 'pending' || r.status === 'running') refuse('cancel it or wait for it to finish first');
        removed.push(id);
        await store.delete(r.seq);
        if (r.lane !== undefined) await promote(tx, r.lane, now, put);
      }
      return { changed: [...changed.values()], removed };
    });
  }

  /** Moves unreadable records to the quarantine store, with why. */
  quarantine(bad: ReadonlyArray<{ raw: unknown; reason: string }>, now: number): Promise<void> {
    return inTx(this, 'relaxed', 'quarantining unreadable tasks', async (tx) => {
      // The key path guarantees that seq is a valid key, even when the rest of the record is not.
      await Promise.all(bad.flatMap(({ raw, reason }) => {
        const seq = (raw as { seq: number }).seq;
        return [tx.objectStore('quarantine').put({ seq, reason, at: now, record: raw }), tx.objectStore('tasks').delete(seq)];
      }));
    });
  }

  /** Reads the quarantine. */
  async quarantined(): Promise<Array<{ seq: number; reason: string; at: number; record: unknown }>> {
    return (await this.db()).getAll('quarantine');
  }
}
