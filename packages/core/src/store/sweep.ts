import { recordProblem, next, parentsDone, type TaskRecord } from '../record.js';
import { inTx, type TaskStore } from './store.js';

// Guarantee 8, "Safe by default": a record read back is validated, and a corrupt one is
// quarantined, never trusted. Most corrupt records are met where they are read (a claim, a page
// load); this finds the ones no index reaches, or that an index reaches with a key of the wrong
// type, so they cannot sit unseen or make a runner spin. Runs once per runner start, off the
// tab's start-up path, and walks the whole store only when the counts say strays exist.

/** What a sweep did. */
export interface SweepResult {
  /** Ids of the records quarantined (where they had one). */
  readonly removed: string[];
  /** Records repaired so they can run (a pending task no runner would ever claim). */
  readonly repaired: TaskRecord[];
  readonly quarantined: number;
}

/** Keys that are not numbers: every Date, string, binary and array key sorts after all numbers. */
const notANumber = () => IDBKeyRange.lowerBound(new Date(-8_640_000_000_000_000));
const STATUSES = ['pending', 'running', 'succeeded', 'failed', 'cancelled', 'superseded'] as const;

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
    // A pending task outside every lane with no due time would never be claimed: make it due.
    const repaired: TaskRecord[] = [];
    for (const raw of await store.index('status').getAll(IDBKeyRange.bound(['pending', -Infinity], ['pending', Infinity])) as unknown[]) {
      const r = raw as TaskRecord;
      if (strays.has(r.seq) || recordProblem(raw)) continue;
      if (r.due === undefined && r.lane === undefined && parentsDone(r)) repaired.push(next(r, now, { due: r.nextRunAt }));
    }

    const writes: Array<Promise<unknown>> = [];
    const removed: string[] = [];
    for (const [seq, { raw, reason }] of strays) {
      writes.push(tx.objectStore('quarantine').put({ seq, reason, at: now, record: raw }), store.delete(seq));
      const id = (raw as { id?: unknown }).id;
      if (typeof id === 'string') removed.push(id);
    }
    for (const r of repaired) writes.push(store.put(r));
    await Promise.all(writes);
    return { removed, repaired, quarantined: strays.size };
  });
}
