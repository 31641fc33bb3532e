import { recordProblem, next, parentsDone, STATUSES, type TaskError, type TaskRecord } from '../record.js';
import { failDescendants, type Put } from './chain.js';
import { ownerState } from './owner-state.js';
import { inTx, type TaskStore } from './store.js';
import { quarantineRecord } from './quarantine.js';

// Guarantee 8, "Safe by default": a record read back is validated, and a corrupt one is
// quarantined, never trusted. Most corrupt records are met where they are read (a claim, a page
// load); this finds the ones no index reaches, or that an index reaches with a key of the wrong
// type, so they cannot sit unseen or make a runner spin; and records that read well but would
// wait for ever (a parent no record has, a cycle of links, a lane head with no due time, a lease
// ending absurdly late), which it fails with a code or repairs. Runs once per runner start, off
// the tab's start-up path; it reads the pending and running tasks through the status index, and
// walks the whole store only when the counts say strays exist.

/** What a sweep did. */
export interface SweepResult {
  /** Ids of the records quarantined (where they had one). */
  readonly removed: string[];
  /** Records changed so nothing waits for ever: made due, treated as crashed, or failed with a code (a missing parent, a cycle). */
  readonly repaired: TaskRecord[];
  readonly quarantined: number;
}

/** Keys that are not numbers: every Date, string, binary and array key sorts after all numbers. */
const notANumber = () => IDBKeyRange.lowerBound(new Date(-8_640_000_000_000_000));
/** No runner leases a task for longer than this: a lease ending later is a corrupt time. */
const MAX_LEASE_MS = 24 * 60 * 60_000;

export function sweep(s: TaskStore, now: number): Promise<SweepResult> {
  return inTx(s, 'relaxed', 'sweeping for unreadable records', async (tx) => {
    const store = tx.objectStore('tasks');
    const strays = new Map<number, { raw: unknown; reason: string }>();
    const note = (raw: unknown, reason: string) => strays.set((raw as { seq: number }).seq, { raw, reason });

    // Times that are not numbers: never due, yet they would look due "after" every number.
    for (const index of ['due', 'purge'] as const) {
      for (const raw of await store.index(index).getAll(notANumber()) as unknown[]) note(raw, recordProblem(raw) ?? `${index} is not a number`);
    }
    // Records outside the status index (a status or defer time that is not one): only a walk finds them.
    const [total, ...counts] = await Promise.all([
      store.count(),
      ...STATUSES.map((st) => store.index('status').count(IDBKeyRange.bound([st, -Infinity], [st, Infinity]))),
    ]);
    if (total > counts.reduce((a, b) => a + b, 0)) {
      for (let c = await store.openCursor(); c; c = await c.continue()) {
        const problem = recordProblem(c.value);
        if (problem) note(c.value, problem);
      }
    }
    // Records that read well but would wait for ever: repaired, or failed with a code.
    const changed = new Map<number, TaskRecord>();
    const put: Put = (r) => { changed.set(r.seq, r); };
    const signedIn = (await ownerState(tx)).owner;
    const pending = (await store.index('status').getAll(IDBKeyRange.bound(['pending', -Infinity], ['pending', Infinity])) as unknown[])
      .filter((raw) => !strays.has((raw as TaskRecord).seq) && !recordProblem(raw)) as TaskRecord[];
    const byId = new Map(pending.map((r) => [r.id, r]));
    const fail = async (r: TaskRecord, error: TaskError) => {
      const up = next(changed.get(r.seq) ?? r, now, { status: 'failed', lastError: error, due: undefined, lane: undefined });
      put(up);
      await failDescendants(tx, up, now, (x) => { put(x); void store.put(x); });
    };
    for (const r of pending) {
      if (!r.after || parentsDone(r)) continue;
      // A parent id no record has (a corrupt link, or one lost with a restore): it never succeeds.
      for (const pid of r.after) {
        if (Object.hasOwn(r.parentResults ?? {}, pid) || byId.has(pid) || await store.index('id').getKey(pid) !== undefined) continue;
        await fail(r, { code: 'DEPENDENCY_UNKNOWN', message: `it runs after task ${pid}, which is not stored: it can never run; defer it again`, permanent: true, kind: 'permanent', at: now });
        break;
      }
    }
    // A cycle of pending tasks, each after the next (written into IndexedDB: defer never makes one).
    for (const r of pending) {
      const seen: string[] = [];
      let at: TaskRecord | undefined = r;
      while (at && at.status === 'pending' && !seen.includes(at.id)) {
        seen.push(at.id);
        at = (at.after ?? []).filter((pid) => !Object.hasOwn(at!.parentResults ?? {}, pid)).map((pid) => byId.get(pid)).find((p) => p !== undefined);
      }
      if (at && at.id === r.id && (changed.get(r.seq)?.status ?? r.status) === 'pending') {
        await fail(r, { code: 'DEPENDENCY_CYCLE', message: `it runs after tasks that run after it (${seen.join(' → ')}): none of them can ever run; defer them again`, permanent: true, kind: 'permanent', at: now });
      }
    }
    // A task that may run but has no due time (outside every lane, or its lane's head) would never
    // be claimed: make it due. Another user's held tasks stay held.
    for (const r of pending) {
      if (changed.get(r.seq)?.status === 'failed' || r.due !== undefined || r.owner !== signedIn || !parentsDone(r)) continue;
      if (r.lane === undefined || (await store.index('lane').getKey(r.lane)) === r.seq) put(next(r, now, { due: r.nextRunAt }));
    }
    // A running task whose lease ends absurdly late (a corrupt time) would hold its lane for ever:
    // treat it as crashed, due now.
    for (const raw of await store.index('status').getAll(IDBKeyRange.bound(['running', -Infinity], ['running', Infinity])) as unknown[]) {
      const r = raw as TaskRecord;
      if (strays.has(r.seq) || recordProblem(raw)) continue;
      if ((r.leaseUntil ?? 0) > now + MAX_LEASE_MS) put(next(r, now, { leaseUntil: now, due: now }));
    }
    const repaired = [...changed.values()];

    const writes: Array<Promise<unknown>> = [];
    const removed: string[] = [];
    for (const { raw, reason } of strays.values()) {
      writes.push(quarantineRecord(tx, raw, reason, now));
      const id = (raw as { id?: unknown }).id;
      if (typeof id === 'string') removed.push(id);
    }
    for (const r of repaired) writes.push(store.put(r));
    await Promise.all(writes);
    return { removed, repaired, quarantined: strays.size };
  }, 'working');
}
