import type { Schedule } from '../periodic.js';
import type { NewTaskRecord, TaskRecord } from '../record.js';
import { DEFAULT_PRIORITY } from '../task.js';
import { uuid } from '../util.js';
import type { Tx } from './store.js';
import { drop, split } from './payloads.js';

// Periodic work, as stored state every runner shares: for each periodic definition and each user,
// the `state` store points at the one run of it that is waiting or running. Every executor step
// (the worker's, any tab's page runner, after any restart) looks in its own transaction: when that
// run has finished, or was never made, it adds the next one, when `schedule.nextAfter` says: `every`
// after the last run ended, inside the window (a daily run in a window: the window's opening on the
// next day). One run at a time, the next made only once the last has ended: at most one per
// period, and a missed week is one run.

/** A periodic definition as the executor passes it to its steps. */
export interface ScheduleEntry {
  readonly name: string;
  readonly schedule: Schedule;
  readonly priority: number | undefined;
}

/** The store's side of a schedule, carried by the definition so that only apps with periodic tasks bundle it. */
export type KeepSchedule = typeof keepSchedule;

/** What the state store keeps per definition and user: the current run, when it was due, and the last run that failed. */
interface Current { seq: number; id: string; due: number; failed?: number }

const keyOf = (name: string, owner: string | undefined) => (owner === undefined ? `periodic:${name}` : `periodic:${name}\u0000${owner}`);

/** What {@link keepSchedule} did: the run it made, and the ids of runs it deleted. */
export interface Kept {
  readonly made?: TaskRecord;
  readonly removed: string[];
}

/**
 * Adds the next run of a schedule whose current run (for the user signed in) has finished or is
 * missing. A run that failed stays, to be seen and acknowledged, until a later run ends: one
 * failed run per schedule at most, not one per period of an outage. Runs in the executor step's
 * transaction.
 */
export async function keepSchedule(tx: Tx, entry: ScheduleEntry, owner: string | undefined, now: number): Promise<Kept> {
  const { name, schedule, priority } = entry;
  const state = tx.objectStore('state');
  const tasks = tx.objectStore('tasks');
  const key = keyOf(name, owner);
  const row = await state.get(key);
  const current = row?.value as Partial<Current> | undefined;
  const removed: string[] = [];
  let due: number;
  let failed: number | undefined;
  if (typeof current?.seq === 'number' && typeof current.due === 'number') {
    const r = (await tasks.get(current.seq)) as TaskRecord | undefined;
    if (r && r.id === current.id) {
      if (r.status === 'pending' || r.status === 'running') return { removed };
      // Finished (succeeded, failed for good, cancelled): the next comes `every` after it ended.
      due = schedule.nextAfter(r.updatedAt, now);
      if (r.status === 'failed') failed = r.seq;
    } else {
      // Gone (purged, quarantined): it may have run as late as its due time.
      due = schedule.nextAfter(current.due, now);
    }
    // The failure before is replaced by this run's outcome.
    if (typeof current.failed === 'number' && current.failed !== failed) {
      const old = (await tasks.get(current.failed)) as TaskRecord | undefined;
      if (old && old.status === 'failed' && old.every !== undefined) {
        await tasks.delete(old.seq);
        drop(tx.objectStore('payloads'), old);
        removed.push(old.id);
      }
    }
  } else {
    // Never run here: the first run is due now (or at the window's next opening).
    due = schedule.startFrom(now);
  }
  const id = uuid();
  const record: NewTaskRecord = {
    id, name, payload: schedule.input, status: 'pending', attempts: 0, createdAt: now, updatedAt: now,
    nextRunAt: due, due, idempotencyKey: id, rev: 1, priority: priority ?? DEFAULT_PRIORITY, every: schedule.everyMs,
    ...(owner !== undefined ? { owner } : {}),
  };
  const seq = await tasks.add(split(tx.objectStore('payloads'), record as TaskRecord));
  await state.put({ key, value: { seq, id, due, ...(failed !== undefined ? { failed } : {}) } satisfies Current, at: now });
  return { made: { ...record, seq } as TaskRecord, removed };
}
