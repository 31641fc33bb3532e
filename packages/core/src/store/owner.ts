import { next, type TaskRecord } from '../record.js';
import { failDescendants, placeInLane, promote, type Put } from './chain.js';
import { drop } from './payloads.js';
import { inTx, type TaskStore, type Tx } from './store.js';
import { ownerState, type OwnerState } from './owner-state.js';
import { ownerPending } from './schema.js';

export { ownerState, readOwnerState, type OwnerState } from './owner-state.js';

// Guarantee 10, "Run as its owner": who is signed in is durable state every runner reads (a worker
// with every tab closed too); a task runs only while its owner is the one signed in. The tasks of
// anyone else are held (out of the due index, so they cost the runner nothing) until their owner
// signs in again, or discarded with their payloads.

/** What changed in the store. */
export interface OwnerChange {
  readonly changed: TaskRecord[];
  readonly removed: string[];
  /** The owner before (undefined: signed out). */
  readonly previous: string | undefined;
  /** The state as committed. */
  readonly state: OwnerState;
}

/** The pending tasks of `owner` (undefined: work deferred signed out). */
async function pendingOf(tx: Tx, owner: string | undefined): Promise<TaskRecord[]> {
  const store = tx.objectStore('tasks');
  if (owner !== undefined) return store.index('ownerStatus').getAll(ownerPending(owner));
  // Work deferred signed out has no owner key: it is among the pending tasks (bounded by the work alive).
  return (await store.index('status').getAll(IDBKeyRange.bound(['pending', -Infinity], ['pending', Infinity]))).filter((r) => r.owner === undefined);
}

/** Every record of `owner`, whatever its status. */
async function allOf(tx: Tx, owner: string | undefined): Promise<TaskRecord[]> {
  const store = tx.objectStore('tasks');
  if (owner !== undefined) return store.index('owner').getAll(owner);
  const out: TaskRecord[] = [];
  for (let c = await store.openCursor(); c; c = await c.continue()) if (c.value.owner === undefined) out.push(c.value);
  return out;
}

/** Deletes records (and the quarantined records that were theirs) and lets the lanes they left move on. */
async function remove(tx: Tx, records: readonly TaskRecord[], owner: string | undefined | null, now: number, put: Put, removed: string[]): Promise<void> {
  const store = tx.objectStore('tasks');
  const lanes = new Set<string>();
  for (const r of records) {
    await failDescendants(tx, { ...r, status: 'cancelled' }, now, put);
    await store.delete(r.seq);
    drop(tx.objectStore('payloads'), r);
    removed.push(r.id);
    if (r.lane !== undefined) lanes.add(r.lane);
  }
  // The quarantine keeps records as they were read; those of this owner go too (null: all of them).
  const q = tx.objectStore('quarantine');
  for (let c = await q.openCursor(); c; c = await c.continue()) {
    const was = (c.value.record as { owner?: unknown } | null)?.owner;
    if (owner === null || was === owner) await c.delete();
  }
  for (const lane of lanes) await promote(tx, lane, now, put);
}

/**
 * Signs `owner` in (undefined: signs out), and moves the state's version on. The previous owner's
 * pending tasks are held (no due time) or, with `discard`, deleted with their payloads, the one
 * running too (its handler, which has its credentials already, finishes into nothing); the new
 * owner's held tasks may run again.
 */
export function setOwner(s: TaskStore, owner: string | undefined, now: number, discard: boolean): Promise<OwnerChange> {
  return inTx(s, 'strict', owner === undefined ? 'signing out' : 'signing in', async (tx, moved) => {
    const store = tx.objectStore('tasks');
    const before = await ownerState(tx);
    const previous = before.owner;
    // The inbox was moved into `tasks` first (inTx): the previous owner's plain tasks are held or discarded with the rest.
    const changed = new Map<number, TaskRecord>(moved.map((r) => [r.seq, r]));
    const removed: string[] = [];
    const put: Put = (r) => { changed.set(r.seq, r); void store.put(r); };
    const state: OwnerState = { owner, version: before.version + 1 };
    const row = { key: 'owner', value: owner ?? null, at: now, version: state.version };
    // The inbox admits defers under the same state (store/inbox.ts), written in this transaction.
    await Promise.all([tx.objectStore('state').put(row), tx.objectStore('gate').put(row)]);
    if (previous !== owner) {
      if (discard) {
        await remove(tx, await allOf(tx, previous), previous, now, put, removed);
      } else {
        for (const r of await pendingOf(tx, previous)) if (r.due !== undefined) put(next(r, now, { due: undefined }));
      }
      for (const r of await pendingOf(tx, owner)) {
        const up = next(r, now, {});
        placeInLane(up, up.lane === undefined ? undefined : await store.index('lane').getKey(up.lane));
        if (up.due !== r.due) put(up);
      }
    }
    return { changed: [...changed.values()].filter((r) => !removed.includes(r.id)), removed, previous, state };
  });
}

/**
 * Deletes every task of `owner` (null: of everyone), whatever its status, with its payload, its
 * result and its quarantined records: "delete my data on this device". A task running now settles
 * into nothing (its record is gone).
 */
export function purgeOwner(s: TaskStore, owner: string | undefined | null, now: number): Promise<{ changed: TaskRecord[]; removed: string[] }> {
  return inTx(s, 'strict', 'purging tasks', async (tx, moved) => {
    const store = tx.objectStore('tasks');
    const changed = new Map<number, TaskRecord>(moved.map((r) => [r.seq, r]));
    const removed: string[] = [];
    const put: Put = (r) => { changed.set(r.seq, r); void store.put(r); };
    if (owner === null) {
      const ids: string[] = [];
      for (let c = await store.index('id').openKeyCursor(); c; c = await c.continue()) ids.push(c.key);
      await store.clear();
      await tx.objectStore('payloads').clear();
      await tx.objectStore('quarantine').clear();
      // The periodic schedules' pointers name their owners: they go too (the runners start them anew).
      await tx.objectStore('state').delete(IDBKeyRange.bound('periodic:', 'periodic:\uffff'));
      return { changed: [], removed: ids };
    }
    await remove(tx, await allOf(tx, owner), owner, now, put, removed);
    return { changed: [...changed.values()].filter((r) => !removed.includes(r.id)), removed };
  });
}
