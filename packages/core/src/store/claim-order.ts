import type { PumpInput } from './pump.js';
import type { Tx } from './store.js';

// The order a claim takes due tasks in: by due time, or, where the runner knows several priorities,
// highest priority first with one slot for the task due longest (task.ts `priority`).

/**
 * The due tasks a claim looks at, in the order it takes them. One priority: by due time. Several:
 * highest priority first (each by due time), with the task due longest given one slot of the claim
 * (the last of several, or every other claim of one), so that no priority waits for ever.
 */
export async function dueInOrder(tx: Tx, input: Pick<PumpInput, 'now' | 'limit' | 'priorities' | 'byAge'>, want: number): Promise<unknown[]> {
  const byDue = tx.objectStore('tasks').index('due');
  const bands = input.priorities ?? [];
  if (bands.length <= 1) return byDue.getAll(IDBKeyRange.upperBound(input.now), want);
  const byPriority = tx.objectStore('tasks').index('priority');
  const ordered: unknown[] = [];
  for (const p of bands) {
    if (ordered.length >= want) break;
    ordered.push(...await byPriority.getAll(IDBKeyRange.bound([p, -Infinity], [p, input.now]), want - ordered.length));
  }
  const [oldest] = await byDue.getAll(IDBKeyRange.upperBound(input.now), 1);
  if (oldest === undefined) return ordered;
  const seq = (oldest as { seq: number }).seq;
  const at = ordered.findIndex((r) => (r as { seq: number }).seq === seq);
  const slot = input.limit > 1 ? input.limit - 1 : input.byAge ? 0 : -1;
  if (slot < 0 || (at >= 0 && at <= slot)) return ordered;
  if (at >= 0) ordered.splice(at, 1);
  ordered.splice(Math.min(slot, ordered.length), 0, oldest);
  return ordered;
}

