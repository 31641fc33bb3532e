import type { IDBPDatabase, IDBPIndex, IDBPObjectStore } from 'idb';
import { storageError } from '../errors.js';
import { FINISHED, recordProblem, type TaskRecord, type TaskStatus } from '../record.js';
import { ownerPending, type HalfsyncSchema } from './schema.js';
import { join } from './payloads.js';

// Guarantee 11 at a tab's start: what a tab holds is read in one transaction through index ranges,
// whole-range reads (`getAll`), counts and keys, a few requests in all, whoever else's work the
// store holds. A step of a cursor is a request of its own: the one cursor walk left takes the head
// of each lane, when the user's pending work goes beyond the window.

type Db = IDBPDatabase<HalfsyncSchema>;
type StatusIndex = IDBPIndex<HalfsyncSchema, ['tasks', 'inbox', 'payloads'], 'tasks', 'status', 'readonly'>;
type OwnerIndex = IDBPIndex<HalfsyncSchema, ['tasks', 'inbox', 'payloads'], 'tasks', 'ownerStatus', 'readonly'>;
type TasksStore = IDBPObjectStore<HalfsyncSchema, ['tasks', 'inbox', 'payloads'], 'tasks', 'readonly'>;

/** How many inbox records one read takes while filling the window. */
const INBOX_BATCH = 256;

/** What a tab's load read: the records to hold, those it could not read, and whether pending work was left in the store. */
export interface Loaded {
  readonly records: TaskRecord[];
  readonly bad: Array<{ raw: unknown; reason: string }>;
  /** Pending tasks of the user signed in that the window left in the store (paged with `history`). */
  readonly pendingBeyond: boolean;
  /** The ids of the pending tasks read (the window). */
  readonly window: string[];
}

const statusRange = (s: TaskStatus, from = -Infinity) => IDBKeyRange.bound([s, from], [s, Infinity]);

/**
 * The `limit` newest finished records by (createdAt, seq), whoever's they are. Per status, three
 * requests: a key cursor from the newest end, one `advance` to the `limit`-th entry, and a read of
 * the range from there (records deferred in the same millisecond as that entry included, then cut).
 */
async function newestFinished(index: StatusIndex, limit: number): Promise<unknown[]> {
  const per = await Promise.all(FINISHED.map(async (s) => {
    let c = await index.openKeyCursor(statusRange(s), 'prev');
    if (c && limit > 1) c = await c.advance(limit - 1);
    const from = c ? (c.key as [string, number])[1] : -Infinity;
    return index.getAll(statusRange(s, from));
  }));
  const newestFirst = (a: unknown, b: unknown) => {
    const x = a as TaskRecord;
    const y = b as TaskRecord;
    return y.createdAt - x.createdAt || y.seq - x.seq;
  };
  return per.flat().filter((r) => !recordProblem(r)).sort(newestFirst).slice(0, limit);
}

/** Whose work a tab holds: the user signed in (`owner` undefined: work deferred signed out). Omitted: everyone's. */
export type Holder = { readonly owner: string | undefined } | undefined;

/** The owners of the tasks in the store, found by one seek each. */
async function ownersIn(index: OwnerIndex): Promise<string[]> {
  const owners: string[] = [];
  for (let c = await index.openKeyCursor(); c;) {
    const owner = (c.key as [string, string, number])[0];
    owners.push(owner);
    // The next owner: past every key of this one (an array sorts after any status string).
    c = await index.openKeyCursor(IDBKeyRange.lowerBound([owner, []], true));
  }
  return owners;
}

/** How much work deferred signed out is looked for among the newest pending tasks first. */
const TAIL_MAX = 10_000;

/**
 * The work deferred signed out, pending, oldest first: `limit` of it and whether there is more,
 * when another user's pending work lies among the oldest (held for them). Counts first: none of
 * it (the usual case after a sign-out) costs an index count per owner. Then the newest pending
 * tasks, twice as many as there is of it: work deferred after the other user signed out is all
 * there. Otherwise the keys of every pending task less those of an owner (`ownerStatus` holds
 * only owned ones) are the work deferred signed out, in order: keys are read, and only the
 * records taken.
 */
async function pendingSignedOut(tasks: TasksStore, limit: number): Promise<{ records: unknown[]; beyond: boolean }> {
  const status = tasks.index('status');
  const byOwner = tasks.index('ownerStatus');
  const owners = await ownersIn(byOwner);
  const [total, ...owned] = await Promise.all([status.count(statusRange('pending')), ...owners.map((o) => byOwner.count(ownerPending(o)))]);
  // A record without an owner, readable or not, is counted here and not by owner.
  const signedOut = total - owned.reduce((a, b) => a + b, 0);
  if (signedOut <= 0) return { records: [], beyond: false };
  const unowned = (r: unknown) => (r as { owner?: unknown }).owner === undefined;
  if (signedOut <= TAIL_MAX) {
    let c = await status.openKeyCursor(statusRange('pending'), 'prev');
    const span = Math.min(total, 2 * signedOut + 64);
    if (c && span > 1) c = await c.advance(span - 1);
    const tail = (await status.getAll(statusRange('pending', c ? (c.key as [string, number])[1] : -Infinity))).filter(unowned);
    if (tail.length >= signedOut) return { records: tail.slice(0, limit), beyond: tail.length > limit };
  }
  const [all, ...ownedKeys] = await Promise.all([status.getAllKeys(statusRange('pending')), ...owners.map((o) => byOwner.getAllKeys(ownerPending(o)))]);
  const others = new Set(ownedKeys.flat());
  const mine = all.filter((k) => !others.has(k));
  const read = await Promise.all(mine.slice(0, limit).map((k) => tasks.get(k)));
  return { records: read.filter((r) => r !== undefined), beyond: mine.length > limit };
}

/**
 * Reads, in one transaction, what a tab holds: the running and failed tasks, the oldest
 * `pendingWindow` pending tasks of the user signed in (`holder`), the head of each of that user's
 * lanes, and the `recent` newest finished ones. A queue of 100,000 pending events costs a tab its
 * window, not the whole queue, and another user's queue costs it nothing; the rest is paged like
 * finished history.
 */
export async function loadAlive(db: Db, recent: number, pendingWindow = Infinity, holder?: Holder): Promise<Loaded> {
  let raw: unknown[];
  let finished: TaskRecord[] = [];
  let pendingBeyond = false;
  const visible = (r: TaskRecord) => holder === undefined || r.owner === holder.owner;
  // A record that cannot be read is kept, to be quarantined.
  const keep = (r: unknown) => !!recordProblem(r) || visible(r as TaskRecord);
  const limit = Number.isFinite(pendingWindow) ? pendingWindow : undefined;
  try {
    // One transaction: a task that settles meanwhile is seen once, alive or finished.
    const tx = db.transaction(['tasks', 'inbox', 'payloads'], 'readonly');
    const tasks = tx.objectStore('tasks');
    const index = tasks.index('status');
    const owned = holder?.owner;
    const [running, failed, first] = await Promise.all([
      index.getAll(statusRange('running')), index.getAll(statusRange('failed')),
      // One more than the window: whether there is more beyond it.
      owned === undefined
        ? index.getAll(statusRange('pending'), limit === undefined ? undefined : limit + 1)
        : tasks.index('ownerStatus').getAll(ownerPending(owned), limit === undefined ? undefined : limit + 1),
    ]);
    let pending: unknown[] = first.filter(keep);
    if (limit !== undefined && first.length > limit) {
      if (pending.length === first.length || owned !== undefined) {
        // The window is full of this user's work.
        pending.length = limit;
        pendingBeyond = true;
      } else {
        // Signed out, and another user's pending work lies among the oldest.
        const signedOut = await pendingSignedOut(tasks, limit);
        pending = signedOut.records;
        pendingBeyond = signedOut.beyond;
      }
    }
    raw = [...running, ...failed, ...pending];
    if (pendingBeyond) {
      // The head of every lane of this user's, so that what holds a lane back is always in view.
      const held = new Set(raw.map((r) => (r as TaskRecord).seq));
      let lane = await tasks.index('lane').openCursor(null, 'nextunique');
      for (let n = 0; lane && limit !== undefined && n < limit; lane = await lane.continue()) {
        const head = lane.value;
        if (held.has(head.seq) || !keep(head)) continue;
        raw.push(head);
        n++;
      }
    }
    if (!pendingBeyond) {
      // Plain tasks not yet moved on by a runner (store/inbox.ts): the oldest pending, read where
      // they wait (a load writes nothing), as many as the window has room for, a batch at a time.
      let room = pendingWindow - raw.filter((r) => !recordProblem(r) && (r as TaskRecord).status === 'pending' && visible(r as TaskRecord)).length;
      const inbox = tx.objectStore('inbox');
      let after: number | undefined;
      for (;;) {
        const count = Number.isFinite(room) ? Math.max(1, Math.min(INBOX_BATCH, room + 1)) : undefined;
        const batch = await inbox.getAll(after === undefined ? undefined : IDBKeyRange.lowerBound(after, true), count);
        for (const r of batch) {
          // An unreadable one is quarantined once it moves on and comes due.
          if (recordProblem(r) || !visible(r)) continue;
          if (room <= 0) { pendingBeyond = true; break; }
          raw.push(r);
          room--;
        }
        if (pendingBeyond || count === undefined || batch.length < count) break;
        after = (batch.at(-1) as TaskRecord).seq;
      }
    }
    if (recent > 0) finished = await newestFinished(index, recent) as TaskRecord[];
    // The payloads kept apart, read in the same transaction (store/payloads.ts).
    const payloads = tx.objectStore('payloads');
    [raw, finished] = await Promise.all([join(payloads, raw as TaskRecord[]), join(payloads, finished)]);
  } catch (error) {
    throw storageError(error, 'reading tasks');
  }
  const records: TaskRecord[] = [];
  const bad: Array<{ raw: unknown; reason: string }> = [];
  for (const r of raw) {
    const reason = recordProblem(r);
    if (reason) bad.push({ raw: r, reason });
    else records.push(r as TaskRecord);
  }
  records.push(...finished);
  records.sort((a, b) => a.seq - b.seq);
  return { records, bad, pendingBeyond, window: records.filter((r) => r.status === 'pending').map((r) => r.id) };
}
