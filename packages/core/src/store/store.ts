import { openDB, unwrap, type IDBPDatabase, type IDBPTransaction } from 'idb';
import { HalfsyncError, storageError } from '../errors.js';
import { laneOf, type NewTaskRecord, type TaskRecord } from '../record.js';
import { DEFAULT_RETENTION, type RetentionPolicy } from '../task.js';
import { placeInLane, type Put } from './chain.js';
import { INBOX_FIRST_SEQ, MIGRATIONS, SCHEMA_VERSION, type HalfsyncSchema } from './schema.js';
import type { OpenInfo, StorageResetInfo } from './recovery.js';
import { ownerState, type OwnerState } from './owner-state.js';
import { intake } from './inbox.js';
import { split } from './payloads.js';

// Guarantee 1, "Durable": a deferred task is committed with strict durability, in one transaction
// per tick of defers, with its owner stamped from what committed; `persisted` resolves after that.

/** Notices and repairs a lost queue around an open (store/recovery.ts); pages and the worker pass one. */
export interface Recovery {
  /** Read before the open: whether this origin had a queue (a marker kept outside IndexedDB). */
  before(): Promise<unknown>;
  /**
   * Inside the open's upgrade (synchronous): the reset to record at once if the open shows a loss,
   * so that anyone opening the database after it reads the loss before anything is restored.
   */
  noticed(info: OpenInfo, before: unknown, now: number): StorageResetInfo | undefined;
  /** After the open: restores what the journal holds and records what it did. */
  after(db: IDBPDatabase<HalfsyncSchema>, info: OpenInfo, before: unknown, noticed: StorageResetInfo | undefined): Promise<StorageResetInfo | undefined>;
}

/** A readwrite transaction (its scope: see {@link Scope}). */
export type Tx = IDBPTransaction<HalfsyncSchema, ('tasks' | 'quarantine' | 'state' | 'inbox' | 'gate' | 'payloads')[], 'readwrite'>;

/**
 * Which stores a transaction spans. `all`: every store, and the inbox is moved into `tasks` first,
 * so the body sees every task there (a user's operation, a sign-in, an insert with parents).
 * `working`: `tasks`, `quarantine`, `state` and `payloads`, a runner's step and its renewals,
 * which never wait behind a defer. `inbox`: the inbox and its gate, a plain insert, which never
 * waits behind a runner. `move`: `tasks`, `quarantine`, the inbox and `payloads`, one chunk of the
 * inbox moved on (store/inbox.ts's `settleInbox`).
 */
export type Scope = 'all' | 'working' | 'inbox' | 'move';
const STORES = {
  all: ['tasks', 'quarantine', 'state', 'inbox', 'gate', 'payloads'],
  working: ['tasks', 'quarantine', 'state', 'payloads'],
  inbox: ['inbox', 'gate'],
  move: ['tasks', 'quarantine', 'inbox', 'payloads'],
} as const;

const isCloneError = (error: unknown) => (error as { name?: string } | null)?.name === 'DataCloneError';
/** A payload the browser would not store (add() threw a DataCloneError): the task is refused, the batch's others keep their place. */
const refused = (r: NewTaskRecord, error: unknown) =>
  new HalfsyncError('PAYLOAD_NOT_CLONEABLE', `task "${r.name}": this browser refused to store the payload (${(error as Error).message})`, { cause: error });

/**
 * Group commit: every record of one tick in one transaction. If the batch as a whole fails (a full
 * quota, say), each record is committed on its own, in order, so every one that fits keeps its
 * place and only the others are refused, each with its coded error.
 */
export async function commitBatch(store: TaskStore, records: readonly NewTaskRecord[], retentionOf: (name: string) => RetentionPolicy, linked?: LinkedInsert, expected?: readonly OwnerExpected[]): Promise<Inserted> {
  try {
    return await store.insert(records, retentionOf, linked, expected);
  } catch (error) {
    if (records.length === 1) return { results: [storageError(error, 'storing a deferred task')], changed: [], owner: undefined };
    const results: Array<TaskRecord | HalfsyncError> = [];
    const changed: TaskRecord[] = [];
    let owner: OwnerState | undefined;
    for (const [i, r] of records.entries()) {
      try {
        const one = await store.insert([r], retentionOf, linked, expected && [expected[i]]);
        results.push(...one.results);
        changed.push(...one.changed);
        owner = one.owner;
      } catch (e) { results.push(storageError(e, 'storing a deferred task')); }
    }
    return { results, changed, owner };
  }
}

/**
 * Who a tab believed was signed in when a task was deferred (`{ owner }`), or undefined where it
 * holds no belief (a tab still loading, a defer in the worker): the insert stamps the committed owner.
 */
export type OwnerExpected = { readonly owner: string | undefined } | undefined;

const ownerChanged = (r: NewTaskRecord, expected: string | undefined, now: OwnerState) => new HalfsyncError(
  'OWNER_CHANGED',
  `task "${r.name}" was deferred while ${expected === undefined ? 'nobody was' : `"${expected}" was`} signed in, and ${now.owner === undefined ? 'a sign-out' : `"${now.owner}"'s sign-in`} committed first (in another tab); nothing was stored, so it is never run as someone else: let the user act again`,
  { details: { task: r.name, expected, owner: now.owner } },
);

/** A batch stamped with a tab's belief found another owner committed: its transaction is aborted. */
class OwnerMoved extends HalfsyncError {
  constructor(readonly state: OwnerState) {
    super('OWNER_CHANGED', 'a sign-in or sign-out committed before this batch of defers');
  }
}

/** The record as stored: the committed owner stamped in (none when signed out), and its lane within that owner's work. */
function stamp(record: NewTaskRecord, owner: string | undefined): TaskRecord {
  const r = { ...record } as TaskRecord;
  if (owner === undefined) delete r.owner;
  else r.owner = owner;
  const lane = laneOf(r);
  if (lane === undefined) delete r.lane;
  else r.lane = lane;
  return r;
}

/** Inserts one record with parents or a supersede key inside an insert's transaction (`insertLinked` of store/ops.ts). */
export type LinkedInsert = (tx: Tx, r: NewTaskRecord, retentionOf: (name: string) => RetentionPolicy, put: Put) => Promise<TaskRecord | HalfsyncError>;

/** What `TaskStore.insert` did: each record stored (or why not), and the other records it changed (those it replaced). */
export interface Inserted {
  readonly results: Array<TaskRecord | HalfsyncError>;
  readonly changed: TaskRecord[];
  /** Who was signed in when the records committed (undefined when nothing committed). */
  readonly owner: OwnerState | undefined;
}

/**
 * Adds a record to `tasks` (a large payload apart, in `payloads`); a payload the browser refuses
 * comes back as a coded error, the batch's other records keep their place.
 */
export function add(tx: Tx, r: NewTaskRecord): Promise<TaskRecord | HalfsyncError> {
  try {
    return tx.objectStore('tasks').add(split(tx.objectStore('payloads'), r as TaskRecord)).then((seq) => ({ ...r, seq }) as TaskRecord);
  } catch (error) {
    // add() throws at once for a value the browser refuses (DataCloneError).
    if (!isCloneError(error)) throw error;
    return Promise.resolve(refused(r, error));
  }
}

/**
 * Runs `body` in a fresh transaction and waits for it to commit; on any failure aborts it and
 * rethrows as a coded storage error. Requests inside `body` are issued without waiting for each
 * other where they do not depend on each other: IndexedDB runs them in order anyway, and a round
 * trip per request is what makes a naive store slow.
 */
export async function inTx<T>(store: TaskStore, durability: 'strict' | 'relaxed', what: string, body: (tx: Tx, moved: TaskRecord[]) => Promise<T>, scope: Scope = 'all'): Promise<T> {
  const tx = await store.tx(durability, scope);
  try {
    const out = await body(tx, scope === 'all' ? await intake(tx) : []);
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
  private closed = false;
  /** The inbox's key generator is known to be past INBOX_FIRST_SEQ (set by the first plain insert). */
  private inboxKeys = false;

  /** What the last open noticed: the browser lost the previous database (undefined: it did not). */
  reset: StorageResetInfo | undefined;

  /**
   * `blockedMs`: how long an upgrade may wait for another tab to let go of the old version before
   * the open fails with STORAGE_BLOCKED. `recovery`: what to read before an open, record in its
   * upgrade and do after it when it created the database or the engine flagged it (notice a lost
   * queue, restore it: store/recovery.ts); pages and the worker pass one, tests may pass none.
   */
  constructor(readonly name: string, private readonly blockedMs = 5_000, private readonly recovery?: Recovery) {}

  /** Opens (or reopens after another tab's upgrade closed it) the database. */
  db(): Promise<IDBPDatabase<HalfsyncSchema>> {
    if (this.opening) return this.opening;
    // Closed for good: a read still under way must not open (and so create) a database deleted since.
    if (this.closed) return Promise.reject(new HalfsyncError('CLIENT_CLOSED', `the connection to "${this.name}" was closed; create a new client`));
    const opening = this.open();
    this.opening = opening;
    opening.catch(() => { if (this.opening === opening) this.opening = undefined; });
    return opening;
  }

  private async open(): Promise<IDBPDatabase<HalfsyncSchema>> {
    if (typeof indexedDB === 'undefined') {
      throw new HalfsyncError('STORAGE_UNAVAILABLE', 'IndexedDB is not available in this context; halfsync needs it to store deferred work');
    }
    const before = await this.recovery?.before().catch(() => undefined);
    let noticed: StorageResetInfo | undefined;
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
        // A loss is recorded in the same transaction that creates the new database.
        noticed = this.recovery?.noticed(info, before, Date.now());
        if (noticed) chain = chain.then(async () => { await tx.objectStore('state').put({ key: 'reset', value: noticed, at: noticed!.at }); });
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
        if (this.recovery && (info.created || info.dataLoss === 'total')) {
          this.reset = await this.recovery.after(db, info, before, noticed).catch(() => noticed) ?? this.reset;
        }
        return db;
      },
      (error: unknown) => {
        if (error instanceof HalfsyncError && error.code === 'STORAGE_BLOCKED') { abandoned = true; throw error; }
        if ((error as { name?: string })?.name === 'UnknownError') {
          throw new HalfsyncError(
            'STORAGE_CORRUPT',
            `the browser cannot open the database "${this.name}" (UnknownError): its files are damaged, and the browser neither repairs nor discards it; call recoverStorage(${JSON.stringify(this.name)}) from @halfsync/core to delete it (the next open reports STORAGE_RESET and restores the unfinished tasks from the journal)`,
            { cause: error },
          );
        }
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

  /** Closes the connection for good. */
  close(): void {
    this.closed = true;
    this.forget();
  }

  /** A readwrite transaction over the stores of `scope` (for this module and the executor's pump). */
  async tx(durability: 'strict' | 'relaxed', scope: Scope = 'all'): Promise<Tx> {
    const db = await this.db();
    try {
      return db.transaction([...STORES[scope]], 'readwrite', { durability }) as unknown as Tx;
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
  insert(records: readonly NewTaskRecord[], retentionOf: (name: string) => RetentionPolicy = () => DEFAULT_RETENTION, linked?: LinkedInsert, expected?: readonly OwnerExpected[]): Promise<Inserted> {
    // Plain tasks (the common case) go to the inbox: no lane or parent to look up in `tasks`.
    const plain = records.every((r) => r.after === undefined && r.supersede === undefined && r.orderKey === undefined);
    // A tab's plain defers, all made under one belief (the usual case): stamped with it at once,
    // and checked against the gate in the same transaction (the read and the adds go out together).
    const belief = plain && expected?.length === records.length && expected.every((e) => e !== undefined && e.owner === expected[0]!.owner) ? expected[0] : undefined;
    const inserting = inTx(this, 'strict', 'storing deferred tasks', async (tx, moved): Promise<Inserted> => {
      const store = tx.objectStore(plain ? 'inbox' : 'tasks');
      // Guarantee 10: the owner is the one committed when the task commits, read in this
      // transaction; a defer made under another belief is refused, never recorded as someone else's.
      const reading = ownerState(tx, plain ? 'gate' : 'state');
      reading.catch(() => {}); // an add that throws aborts the transaction before it is awaited
      const owner = belief ? { owner: belief.owner, version: -1 } : await reading;
      const stamped = records.map((r, i) => {
        const e = expected?.[i];
        return e && e.owner !== owner.owner ? ownerChanged(r, e.owner, owner) : stamp(r, owner.owner);
      });
      if (!records.every((r) => r.after === undefined && r.supersede === undefined)) {
        // Chains and supersedes: one record after the other, each seeing what the last one wrote.
        const results: Array<TaskRecord | HalfsyncError> = [];
        const changed = new Map<number, TaskRecord>(moved.map((r) => [r.seq, r]));
        const put: Put = (x) => { changed.set(x.seq, x); void store.put(split(tx.objectStore('payloads'), x)); };
        if (!linked) throw new TypeError('insert: a record with after or supersede needs the linked insert (store/ops.ts)');
        for (const r of stamped) results.push(r instanceof HalfsyncError ? r : await linked(tx, r, retentionOf, put));
        return { results, changed: [...changed.values()], owner };
      }
      // Which lanes already have an active task: their new tasks queue behind it.
      const lanes = [...new Set(stamped.flatMap((r) => (r instanceof HalfsyncError || r.lane === undefined ? [] : [r.lane])))];
      const heads = await Promise.all(lanes.map((lane) => tx.objectStore('tasks').index('lane').getKey(lane)));
      const taken = new Set<string>();
      lanes.forEach((lane, i) => { if (heads[i] !== undefined) taken.add(lane); });
      // Straight on the IndexedDB requests (a promise per add is what a burst of a thousand
      // pays most for): each key lands in its record as the add succeeds, before the commit.
      const raw = unwrap(store) as IDBObjectStore;
      if (plain && !this.inboxKeys) {
        // Once per connection: the inbox's keys start above the tasks' (a key put by hand moves
        // its key generator past it). Not in the upgrade, which then writes nothing.
        const last = await tx.objectStore('inbox').openKeyCursor(null, 'prev');
        if (!last || last.key < INBOX_FIRST_SEQ) { raw.put({ seq: INBOX_FIRST_SEQ }); raw.delete(INBOX_FIRST_SEQ); }
        tx.done.then(() => { this.inboxKeys = true; }, () => {});
      }
      const results = stamped.map((r): TaskRecord | HalfsyncError => {
        if (r instanceof HalfsyncError) return r;
        if (r.lane !== undefined) placeInLane(r, taken.has(r.lane) ? -1 : undefined);
        try {
          // Into `tasks`, a large payload goes apart; the inbox keeps the record whole until it moves.
          const req = raw.add(plain ? r : split(tx.objectStore('payloads'), r));
          req.onsuccess = () => {
            r.seq = req.result as number;
          };
        } catch (error) {
          if (!isCloneError(error)) throw error;
          return refused(r, error);
        }
        if (r.lane !== undefined) taken.add(r.lane);
        return r;
      });
      if (belief) {
        // Another tab's sign-in or sign-out committed first: nothing of this batch is kept.
        const committed = await reading;
        if (committed.owner !== belief.owner) throw new OwnerMoved(committed);
        return { results, changed: moved, owner: committed };
      }
      return { results, changed: moved, owner };
    }, plain ? 'inbox' : 'all');
    if (!belief) return inserting;
    return inserting.catch((error: unknown) => {
      if (!(error instanceof OwnerMoved)) throw error;
      return { results: records.map((r) => ownerChanged(r, belief.owner, error.state)), changed: [], owner: error.state };
    });
  }

  /** Reads the quarantine. */
  async quarantined(): Promise<Array<{ seq: number; reason: string; at: number; record: unknown; payload?: unknown }>> {
    return (await this.db()).getAll('quarantine');
  }
}
