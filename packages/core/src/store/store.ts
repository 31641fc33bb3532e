import { openDB, type IDBPDatabase, type IDBPTransaction } from 'idb';
import { HalfsyncError, storageError } from '../errors.js';
import { cancel, requeue, type NewTaskRecord, type TaskRecord } from '../record.js';
import type { RetentionPolicy } from '../task.js';
import { MIGRATIONS, SCHEMA_VERSION, type HalfsyncSchema } from './schema.js';

/** A readwrite transaction over both stores. */
export type Tx = IDBPTransaction<HalfsyncSchema, ('tasks' | 'quarantine')[], 'readwrite'>;

const isCloneError = (error: unknown) => (error as { name?: string } | null)?.name === 'DataCloneError';

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

/** Sets `due` of a pending record by whether it heads its lane (`head` is the lane's first key). */
export function placeInLane(r: TaskRecord | NewTaskRecord, head: number | undefined): void {
  if (r.lane === undefined || r.status !== 'pending') return;
  if (head === undefined || ('seq' in r && head === r.seq)) r.due = r.nextRunAt;
  else delete r.due;
}

/** After records left a lane: lets its new head run. Issue after the writes that changed the lane. */
export async function promote(tx: Tx, lane: string, now: number, changed: Map<number, TaskRecord>): Promise<void> {
  const head = await tx.objectStore('tasks').index('lane').get(lane);
  if (head && head.status === 'pending' && head.due === undefined) {
    const up: TaskRecord = { ...head, due: head.nextRunAt, rev: head.rev + 1, updatedAt: now };
    changed.set(up.seq, up);
    await tx.objectStore('tasks').put(up);
  }
}

/**
 * The one owner of halfsync's IndexedDB records: every state transition happens here, each in
 * one transaction. Defers commit with strict durability (they are the user's only copy); the
 * executor's claims and settlements commit relaxed, because losing one in a crash only means the
 * task runs again, which at-least-once with idempotency keys already allows.
 */
export class TaskStore {
  private opening: Promise<IDBPDatabase<HalfsyncSchema>> | undefined;

  /** `blockedMs`: how long an upgrade may wait for another tab to let go of the old version before the open fails with STORAGE_BLOCKED. */
  constructor(readonly name: string, private readonly blockedMs = 5_000) {}

  /** Opens (or reopens after another tab's upgrade closed it) the database. */
  db(): Promise<IDBPDatabase<HalfsyncSchema>> {
    if (this.opening) return this.opening;
    if (typeof indexedDB === 'undefined') {
      return Promise.reject(new HalfsyncError('STORAGE_UNAVAILABLE', 'IndexedDB is not available in this context; halfsync needs it to store deferred work'));
    }
    let blockedTimer: ReturnType<typeof setTimeout> | undefined;
    let giveUp: ((error: HalfsyncError) => void) | undefined;
    let abandoned = false;
    const opened = openDB<HalfsyncSchema>(this.name, SCHEMA_VERSION, {
      upgrade: (db, oldVersion, _newVersion, tx) => {
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
    this.opening = opening.then(
      (db) => {
        db.addEventListener('close', () => this.forget());
        return db;
      },
      (error: unknown) => {
        this.opening = undefined;
        if (error instanceof HalfsyncError && error.code === 'STORAGE_BLOCKED') { abandoned = true; throw error; }
        if ((error as { name?: string })?.name === 'VersionError') {
          throw new HalfsyncError('STORAGE_UNAVAILABLE', `the database "${this.name}" was upgraded by a newer version of this app; reload the page to load it`, { cause: error });
        }
        throw storageError(error, `opening the database "${this.name}"`);
      },
    );
    return this.opening;
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
      return db.transaction(['tasks', 'quarantine'], 'readwrite', { durability });
    } catch (error) {
      this.forget();
      throw storageError(error, 'starting a transaction');
    }
  }

  /** Commits a batch of new tasks in one transaction with strict durability, in order. */
  insert(records: readonly NewTaskRecord[]): Promise<Array<TaskRecord | HalfsyncError>> {
    return inTx(this, 'strict', 'storing deferred tasks', async (tx) => {
      const store = tx.objectStore('tasks');
      // Which lanes already have an active task: their new tasks queue behind it.
      const lanes = [...new Set(records.flatMap((r) => (r.lane === undefined ? [] : [r.lane])))];
      const heads = await Promise.all(lanes.map((lane) => store.index('lane').getKey(lane)));
      const taken = new Set<string>();
      lanes.forEach((lane, i) => { if (heads[i] !== undefined) taken.add(lane); });
      return Promise.all(records.map((record): Promise<TaskRecord | HalfsyncError> => {
        const r = { ...record };
        if (r.lane !== undefined) placeInLane(r, taken.has(r.lane) ? -1 : undefined);
        try {
          const added = store.add(r as TaskRecord);
          if (r.lane !== undefined) taken.add(r.lane);
          return added.then((seq) => ({ ...r, seq }) as TaskRecord);
        } catch (error) {
          // add() throws at once for a value the browser refuses (DataCloneError); the other
          // records of the batch keep their place.
          if (!isCloneError(error)) throw error;
          return Promise.resolve(new HalfsyncError('PAYLOAD_NOT_CLONEABLE', `task "${r.name}": this browser refused to store the payload (${(error as Error).message})`, { cause: error }));
        }
      }));
    });
  }

  /**
   * A user's operation on one task, by id: `retry` (failed → pending), `cancel` (pending →
   * cancelled) or `acknowledge` (a finished task is deleted).
   */
  async modify(id: string, op: 'retry' | 'cancel' | 'acknowledge', now: number, retention: RetentionPolicy): Promise<{ changed: TaskRecord[]; removed: string[] }> {
    return inTx(this, 'strict', `${op} of task ${id}`, async (tx) => {
      const store = tx.objectStore('tasks');
      const changed = new Map<number, TaskRecord>();
      const removed: string[] = [];
      const r = await store.index('id').get(id);
      if (!r) throw new HalfsyncError('TASK_NOT_FOUND', `no task with id "${id}"; it was never deferred here or was already acknowledged`, { details: { id } });
      const refuse = (what: string): never => {
        throw new HalfsyncError('INVALID_TRANSITION', `cannot ${op} task "${r.name}" (${id}): it is ${r.status}; ${what}`, { details: { id, status: r.status } });
      };
      if (op === 'retry') {
        if (r.status !== 'failed') refuse('only failed tasks can be retried');
        const up = requeue(r, now);
        placeInLane(up, r.lane === undefined ? undefined : await store.index('lane').getKey(r.lane));
        changed.set(up.seq, up);
        await store.put(up);
      } else if (op === 'cancel') {
        if (r.status !== 'pending') refuse(r.status === 'running' ? 'wait for it to settle' : 'only pending tasks can be cancelled');
        const up = cancel(r, now, retention);
        changed.set(up.seq, up);
        await store.put(up);
      } else {
        if (r.status === 'pending' || r.status === 'running') refuse('cancel it or wait for it to finish first');
        removed.push(id);
        await store.delete(r.seq);
      }
      if (op !== 'retry' && r.lane !== undefined) await promote(tx, r.lane, now, changed);
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
