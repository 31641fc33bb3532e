import { unwrap, type IDBPObjectStore, type StoreNames } from 'idb';
import type { HalfsyncSchema } from './schema.js';
import type { TaskRecord } from '../record.js';
import { inTx, type TaskStore, type Tx } from './store.js';
import { separate } from './payloads.js';

// The inbox: plain tasks as their defers committed (store/store.ts's insert), in a store of their
// own, so that a defer's transaction (the inbox and its gate) never waits behind a runner's steps
// over `tasks`, nor a runner's step behind a burst of defers. They move into `tasks` at the start
// of every transaction over all stores (a user's operation, a sign-in, an insert with parents),
// and a chunk at a time in short transactions of their own (`settleInbox`): a runner's before its
// steps (executor.ts), a tab's before a page of history or a count, and after its defers pause.
// A tab's load reads them where they wait (store/load.ts).

/** Inbox records read per request while moving them, and moved per transaction by `settleInbox`. */
export const CHUNK = 500;

/**
 * Moves the tasks in the inbox (every one, or `limit` of them, chosen by priority) into `tasks`,
 * in commit order. Each gets a key from `tasks` (after every task already there) and its revision
 * moved on, so tabs holding it take the new key. A record `tasks` refuses (an id already there: written by hand)
 * goes to the quarantine, with why.
 */
export async function intake(tx: Tx, limit = Infinity): Promise<TaskRecord[]> {
  const inbox = tx.objectStore('inbox');
  const raw = unwrap(tx.objectStore('tasks')) as IDBObjectStore;
  const quarantine = tx.objectStore('quarantine');
  const payloads = tx.objectStore('payloads');
  const moved: TaskRecord[] = [];
  for (;;) {
    const want = Math.min(CHUNK, limit - moved.length);
    const batch = want > 0 ? await nextChunk(inbox, want) : [];
    if (batch.length === 0) return moved;
    const adds = batch.map((r) => new Promise<void>((resolve) => {
      const { seq: was, ...rest } = r;
      // An unreadable record moves as it is: the runner quarantines it when it comes due.
      const up = (typeof r.rev === 'number' ? { ...rest, rev: r.rev + 1 } : rest) as TaskRecord;
      // The inbox keeps a record whole; in `tasks`, a large payload is kept apart (put once the
      // record is in: a refused one must not overwrite the payload of the task holding its id).
      const { record, row, stale } = separate(up);
      const req = raw.add(record);
      req.onsuccess = () => {
        if (row) void payloads.put(row);
        else if (stale) void payloads.delete(up.id);
        up.seq = req.result as number;
        moved.push(up);
        resolve();
      };
      req.onerror = (event) => {
        // Refused (an id already in `tasks`): quarantined, and the transaction goes on.
        event.preventDefault();
        event.stopPropagation();
        void quarantine.put({ seq: was, reason: `it could not move from the inbox: ${req.error?.message ?? 'refused'}`, at: Date.now(), record: r });
        resolve();
      };
    }));
    await Promise.all(adds);
    // One range when the chunk is all the inbox holds between its first and last key (one
    // priority, the usual case); otherwise one by one.
    const range = IDBKeyRange.bound(batch[0]!.seq, batch.at(-1)!.seq);
    if ((await inbox.count(range)) === batch.length) await inbox.delete(range);
    else {
      const rawInbox = unwrap(inbox) as IDBObjectStore;
      for (const r of batch) rawInbox.delete(r.seq);
    }
    if (batch.length < want) return moved;
  }
}

/**
 * The next `want` records of the inbox: chosen by priority, highest first, each priority in commit
 * order (so a payment deferred after a day of queued statistics moves in the first chunk, and is
 * claimed first), then any record no priority indexes (one written by hand).
 */
async function nextChunk(inbox: IDBPObjectStore<HalfsyncSchema, ArrayLike<StoreNames<HalfsyncSchema>>, 'inbox', 'readwrite'>, want: number): Promise<TaskRecord[]> {
  const byPriority = inbox.index('priority');
  // The priorities present, highest first: the last key below the one before, one seek each
  // (usually one or two), not ten reads; not a `prevunique` walk, which passes every duplicate.
  const out: TaskRecord[] = [];
  let below: IDBKeyRange | null = null;
  while (out.length < want) {
    const top = await byPriority.openKeyCursor(below, 'prev');
    if (!top) break;
    out.push(...await byPriority.getAll(top.key, want - out.length));
    below = IDBKeyRange.upperBound(top.key, true);
  }
  if (out.length < want) {
    // Every indexed record is taken: what is left has no priority the index holds.
    const taken = new Set(out.map((r) => r.seq));
    for (const r of await inbox.getAll(undefined, want + out.length)) if (out.length < want && !taken.has(r.seq)) out.push(r);
  }
  // Within the chunk, commit order: the moved tasks' keys keep it, and the claim's slot for the
  // task due longest still sees which came first.
  return out.sort((a, b) => a.seq - b.seq);
}

/**
 * Moves `limit` tasks of the inbox (default: all; the highest priority first) into `tasks`, in
 * transactions of at most {@link CHUNK} each, so no one transaction holds the queue for long: a
 * runner before its steps, a tab before a page of history or a count. Returns what moved.
 */
export async function settleInbox(store: TaskStore, limit = Infinity): Promise<TaskRecord[]> {
  // Whether anything waits: one key read (a count would walk a long inbox, at every move).
  if ((await (await store.db()).getAllKeys('inbox', undefined, 1)).length === 0) return [];
  const moved: TaskRecord[] = [];
  while (moved.length < limit) {
    const chunk = Math.min(CHUNK, limit - moved.length);
    const some = await inTx(store, 'relaxed', 'moving deferred tasks into the queue', (tx) => intake(tx, chunk), 'move');
    moved.push(...some);
    if (some.length < chunk) break;
  }
  return moved;
}
