import type { Task } from '@halfsync/core';

/** One minute of the timeline. */
export interface Minute {
  /** The minute's start (ms since the epoch). */
  readonly at: number;
  /** Tasks deferred and not yet finished at the minute's end. */
  readonly depth: number;
  /** Tasks that succeeded during the minute. */
  readonly succeeded: number;
  /** Tasks that failed for good during the minute. */
  readonly failed: number;
}

const MINUTE = 60_000;
const done = (t: Task) => t.status !== 'pending' && t.status !== 'running';

/**
 * The last `minutes` minutes, oldest first: queue depth and outcomes per minute, from the tasks'
 * `createdAt` and `updatedAt` (a finished task's `updatedAt` is when it finished). It sees only
 * the tasks given: finished ones beyond the client's window are not in it.
 */
export function timeline(tasks: readonly Task[], now: number, minutes = 60): Minute[] {
  const first = Math.floor(now / MINUTE) * MINUTE - (minutes - 1) * MINUTE;
  const depth = new Array<number>(minutes).fill(0);
  const succeeded = new Array<number>(minutes).fill(0);
  const failed = new Array<number>(minutes).fill(0);
  const index = (at: number) => Math.floor((at - first) / MINUTE);
  for (const t of tasks) {
    const end = done(t) ? t.updatedAt : Infinity;
    // Counted in each minute at whose end it was deferred and not yet finished.
    const from = Math.max(0, index(t.createdAt));
    const to = Math.min(minutes - 1, end === Infinity ? minutes - 1 : index(end) - 1);
    for (let i = from; i <= to; i++) depth[i]!++;
    if (end !== Infinity) {
      const i = index(end);
      if (i >= 0 && i < minutes) {
        if (t.status === 'succeeded') succeeded[i]!++;
        else if (t.status === 'failed') failed[i]!++;
      }
    }
  }
  return depth.map((d, i) => ({ at: first + i * MINUTE, depth: d, succeeded: succeeded[i]!, failed: failed[i]! }));
}
