import { laneOf, next, parentsDone, type NewTaskRecord, type TaskError, type TaskRecord } from '../record.js';
import type { LaneFailurePolicy } from '../task.js';
import type { Tx } from './store.js';

// Guarantee 5, "Order where asked" (lanes), and work that depends on work, as store transitions: a task runs after its parents (`after`) and its
// lane's head; a parent's success hands its result to its children; a parent that fails for good
// (or is cancelled, or replaced) fails them with DEPENDENCY_FAILED, and retrying it revives them.
// Only the modules of store/ call these, inside their own transaction.

/** Collects the records a transaction writes, and writes them. */
export type Put = (r: TaskRecord) => void;

/** Sets `due` of a pending record by whether it may run: it heads its lane (`head` is the lane's first key) and its parents succeeded. */
export function placeInLane(r: TaskRecord | NewTaskRecord, head: number | undefined): void {
  if (r.status !== 'pending') return;
  const heads = r.lane === undefined || head === undefined || ('seq' in r && head === r.seq);
  if (heads && parentsDone(r)) r.due = r.nextRunAt;
  else delete r.due;
}

/** After records left a lane: lets its new head run (if its parents succeeded). Issue after the writes that changed the lane. */
export async function promote(tx: Tx, lane: string, now: number, put: Put): Promise<void> {
  const head = await tx.objectStore('tasks').index('lane').get(lane);
  if (head && head.status === 'pending' && head.due === undefined && parentsDone(head)) put(next(head, now, { due: head.nextRunAt }));
}

/** Makes sure only the head of `lane` is due (a batch settled several members at once). */
export async function settleLane(tx: Tx, lane: string, now: number, put: Put): Promise<void> {
  const members = await tx.objectStore('tasks').index('lane').getAll(lane);
  members.forEach((m, i) => {
    if (i > 0 && m.status === 'pending' && m.due !== undefined) put(next(m, now, { due: undefined }));
  });
  const head = members[0];
  if (head && head.status === 'pending' && head.due === undefined && parentsDone(head)) put(next(head, now, { due: head.nextRunAt }));
}

/** The failure a child records when a parent will not succeed. */
export const dependencyFailed = (parent: Pick<TaskRecord, 'id' | 'name' | 'status'>, now: number): TaskError => ({
  code: 'DEPENDENCY_FAILED',
  message: `it runs after task "${parent.name}" (${parent.id}), which ${parent.status === 'cancelled' ? 'was cancelled' : parent.status === 'superseded' ? 'was replaced' : 'failed'}; retry that task to run this one`,
  permanent: true, kind: 'permanent', at: now,
});

const childrenOf = (tx: Tx, id: string): Promise<TaskRecord[]> => tx.objectStore('tasks').index('after').getAll(id);

/** A parent succeeded: its children record its result; a child whose parents all succeeded may run. */
export async function parentSucceeded(tx: Tx, parent: TaskRecord, now: number, put: Put): Promise<void> {
  for (const c of await childrenOf(tx, parent.id)) {
    if (c.status !== 'pending') continue;
    const up = next(c, now, { parentResults: { ...c.parentResults, [parent.id]: { name: parent.name, result: parent.result } } });
    placeInLane(up, up.lane === undefined ? undefined : await tx.objectStore('tasks').index('lane').getKey(up.lane));
    put(up);
  }
}

/**
 * A task will not succeed (failed for good, cancelled, replaced): every task that runs after it,
 * directly or not, fails with DEPENDENCY_FAILED and leaves its lane (it never ran: nothing behind
 * it should wait for it).
 */
export async function failDescendants(tx: Tx, root: TaskRecord, now: number, put: Put): Promise<void> {
  const queue = [root];
  const seen = new Set<string>([root.id]);
  const lanes = new Set<string>();
  for (let p = queue.shift(); p; p = queue.shift()) {
    for (const c of await childrenOf(tx, p.id)) {
      if (seen.has(c.id) || c.status !== 'pending') continue;
      seen.add(c.id);
      if (c.lane !== undefined) lanes.add(c.lane);
      const up = next(c, now, { status: 'failed', lastError: dependencyFailed(p, now), due: undefined, lane: undefined });
      put(up);
      queue.push(up);
    }
  }
  for (const lane of lanes) await promote(tx, lane, now, put);
}

/** A task runs again (retried): the tasks DEPENDENCY_FAILED by it wait for it again, in their lanes. */
export async function reviveDescendants(tx: Tx, root: TaskRecord, now: number, put: Put): Promise<void> {
  const queue = [root];
  const seen = new Set<string>([root.id]);
  for (let p = queue.shift(); p; p = queue.shift()) {
    for (const c of await childrenOf(tx, p.id)) {
      if (seen.has(c.id) || c.status !== 'failed' || c.lastError?.code !== 'DEPENDENCY_FAILED') continue;
      seen.add(c.id);
      const up = next(c, now, { status: 'pending', attempts: 0, unreachable: undefined, crashes: undefined, lane: laneOf(c), due: undefined, nextRunAt: now });
      put(up);
      queue.push(up);
    }
  }
}

/**
 * A task fails for good: writes it, applies its lane's policy to the tasks behind it, and fails
 * the tasks that run after it. Returns the record as written.
 */
export async function failFor(tx: Tx, r: TaskRecord, error: TaskError, policy: LaneFailurePolicy, now: number, put: Put): Promise<TaskRecord> {
  let up = next(r, now, { status: 'failed', lastError: error, leaseOwner: undefined, leaseUntil: undefined, due: undefined, batch: undefined });
  put(up);
  if (up.lane !== undefined && policy !== 'hold') up = await applyLanePolicy(tx, up, policy, now, put);
  await failDescendants(tx, up, now, put);
  return up;
}

/** What a task failing for good at the head of its lane does to the tasks behind it (it is written already). */
async function applyLanePolicy(tx: Tx, failed: TaskRecord, policy: LaneFailurePolicy, now: number, put: Put): Promise<TaskRecord> {
  const lane = failed.lane!;
  const left = next(failed, now, { lane: undefined });
  put(left);
  if (policy === 'fail') {
    const error: TaskError = { code: 'LANE_FAILED', message: `task "${failed.name}" (${failed.id}) ahead of it in order key "${lane}" failed for good`, permanent: true, kind: 'permanent', at: now };
    for (const m of await tx.objectStore('tasks').index('lane').getAll(lane)) {
      if (m.seq === failed.seq || m.status !== 'pending') continue;
      const up = next(m, now, { status: 'failed', lastError: error, lane: undefined, due: undefined });
      put(up);
      await failDescendants(tx, up, now, put);
    }
  }
  await promote(tx, lane, now, put);
  return left;
}
