import { HalfsyncError } from '../errors.js';
import { cancel, laneOf, next, requeue, type NewTaskRecord, type TaskRecord } from '../record.js';
import type { RetentionPolicy } from '../task.js';
import { dependencyFailed, failDescendants, placeInLane, promote, reviveDescendants, type Put } from './chain.js';
import { add, inTx, type TaskStore, type Tx } from './store.js';
import { drop, split } from './payloads.js';

// What only a page does to the store, loaded when first needed: the user's operations on one task
// (retry, cancel, acknowledge, update) and defers with parents or a supersede key. The worker, and
// pages that never use them, do not carry this code.

/** Inserts a record with parents or a supersede key (see `TaskStore.insert`). */
export async function insertLinked(tx: Tx, r: NewTaskRecord, retentionOf: (name: string) => RetentionPolicy, put: Put): Promise<TaskRecord | HalfsyncError> {
  const store = tx.objectStore('tasks');
  const now = r.createdAt;
  if (r.after) {
    for (const pid of r.after) {
      const p = await store.index('id').get(pid);
      if (!p) {
        return new HalfsyncError('DEPENDENCY_UNKNOWN', `task "${r.name}" runs after task ${pid}, which is not stored (acknowledged or purged); nothing was stored`, { details: { id: r.id, after: pid } });
      }
      // The parent learns it has dependents: only such parents look for them when they succeed.
      if (!p.dependents) put(next(p, now, { dependents: true }));
      if (p.status === 'succeeded') r.parentResults = { ...r.parentResults, [pid]: { name: p.name, result: p.result } };
      else if (p.status === 'failed' || p.status === 'cancelled' || p.status === 'superseded') {
        // It may still run: retrying the parent revives it.
        Object.assign(r, { status: 'failed', lastError: dependencyFailed(p, now) });
        delete r.due;
        delete r.lane;
      }
    }
  }
  if (r.supersede !== undefined && r.status === 'pending' && r.lane !== undefined) {
    const replaced = (await store.index('lane').getAll(r.lane)).filter((m) => m.status === 'pending' && m.name === r.name && m.supersede === r.supersede);
    // The tasks that ran after a replaced one will run after its replacement: refused if the
    // replacement runs after one of them (directly or not), which would be a cycle.
    const children = (await Promise.all(replaced.map((m) => store.index('after').getAll(m.id)))).flat();
    const cycle = await reachesAny(tx, r.after ?? [], new Set(children.map((c) => c.id)));
    if (cycle) {
      return new HalfsyncError('DEPENDENCY_CYCLE', `task "${r.name}" would replace (supersede key ${JSON.stringify(r.supersede)}) a task that ${cycle} runs after, while itself running after ${cycle}: that is a cycle, none of them could run; nothing was stored`, { details: { id: r.id, task: r.name, supersede: r.supersede, after: cycle } });
    }
    for (const m of replaced) {
      put(next(m, now, { status: 'superseded', supersededBy: r.id, lane: undefined, due: undefined, purgeAt: now + retentionOf(m.name).finishedMs }));
      for (const c of await store.index('after').getAll(m.id)) {
        put(next(c, now, { after: c.after!.map((x) => (x === m.id ? r.id : x)) }));
        // The replacement has dependents now: when it succeeds it hands them its result.
        r.dependents = true;
      }
    }
  }
  if (r.status === 'pending') placeInLane(r, r.lane === undefined ? undefined : await store.index('lane').getKey(r.lane));
  return add(tx, r);
}

/** The first of `targets` reached from `ids` by following `after` links upward (a task's parents, theirs...), if any. */
async function reachesAny(tx: Tx, ids: readonly string[], targets: ReadonlySet<string>): Promise<string | undefined> {
  if (targets.size === 0) return undefined;
  const seen = new Set<string>();
  const queue = [...ids];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    if (targets.has(id)) return id;
    if (seen.has(id)) continue;
    seen.add(id);
    const p = await tx.objectStore('tasks').index('id').get(id);
    if (p?.after) queue.push(...p.after);
  }
  return undefined;
}

/** The tasks that failed with DEPENDENCY_FAILED because `root` did not succeed, and theirs in turn. */
async function failedBecauseOf(tx: Tx, root: TaskRecord): Promise<TaskRecord[]> {
  if (root.status === 'succeeded') return [];
  const out: TaskRecord[] = [];
  const seen = new Set([root.id]);
  const queue = [root];
  for (let p = queue.shift(); p; p = queue.shift()) {
    for (const c of await tx.objectStore('tasks').index('after').getAll(p.id)) {
      if (seen.has(c.id) || c.status !== 'failed' || c.lastError?.code !== 'DEPENDENCY_FAILED') continue;
      seen.add(c.id);
      out.push(c);
      queue.push(c);
    }
  }
  return out;
}

/**
 * Retries a failed task. One failed because a parent failed retries that parent instead (which
 * revives it); a parent that succeeded is never run again.
 */
async function retryChain(tx: Tx, r: TaskRecord, now: number, put: Put, seen: Set<string>): Promise<void> {
  if (seen.has(r.id)) return;
  seen.add(r.id);
  const store = tx.objectStore('tasks');
  if (r.lastError?.code === 'DEPENDENCY_FAILED' && r.after) {
    let parentRetried = false;
    for (const pid of r.after) {
      const p = await store.index('id').get(pid);
      if (p?.status === 'failed') { await retryChain(tx, p, now, put, seen); parentRetried = true; }
      else if (!p || p.status === 'cancelled' || p.status === 'superseded') {
        throw new HalfsyncError('INVALID_TRANSITION', `cannot retry task "${r.name}" (${r.id}): it runs after task ${pid}, which ${p ? `was ${p.status}` : 'is gone'}; defer it again`, { details: { id: r.id, after: pid } });
      }
    }
    if (parentRetried) return; // the parent's retry revived this task
  }
  const up = requeue(r, now);
  const lane = laneOf(r);
  if (lane !== undefined) up.lane = lane;
  placeInLane(up, up.lane === undefined ? undefined : await store.index('lane').getKey(up.lane));
  put(up);
  await reviveDescendants(tx, up, now, put);
}


/**
 * A user's operation on one task, by id: `retry` (failed → pending, and the tasks that failed
 * because of it wait for it again; a task failed by a parent retries its failed parents),
 * `cancel` (pending → cancelled, and the tasks after it fail), `acknowledge` (a finished task is
 * deleted, with the tasks that failed because of it: dismissing a chain's head settles the chain),
 * or `update` (a pending task's payload is replaced).
 */
export async function modify(s: TaskStore, id: string, op: 'retry' | 'cancel' | 'acknowledge' | 'update', now: number, retention: RetentionPolicy, payload?: unknown): Promise<{ changed: TaskRecord[]; removed: string[] }> {
  return inTx(s, 'strict', `${op} of task ${id}`, async (tx, moved) => {
    const store = tx.objectStore('tasks');
    const changed = new Map<number, TaskRecord>(moved.map((r) => [r.seq, r]));
    const removed: string[] = [];
    const put: Put = (r) => { changed.set(r.seq, r); void store.put(r); };
    const payloads = tx.objectStore('payloads');
    const r = await store.index('id').get(id);
    if (!r) throw new HalfsyncError('TASK_NOT_FOUND', `no task with id "${id}"; it was never deferred here or was already acknowledged`, { details: { id } });
    const refuse = (what: string): never => {
      throw new HalfsyncError('INVALID_TRANSITION', `cannot ${op} task "${r.name}" (${id}): it is ${r.status}; ${what}`, { details: { id, status: r.status } });
    };
    if (op === 'retry') {
      if (r.status !== 'failed') refuse('only failed tasks can be retried');
      // Its schedule already made the next run: a second one alive would run twice in a period.
      if (r.every !== undefined) refuse('it is a periodic run, and its schedule has made the next one; acknowledge it');
      await retryChain(tx, r, now, put, new Set());
    } else if (op === 'cancel') {
      if (r.status !== 'pending') refuse(r.status === 'running' ? 'wait for it to settle' : 'only pending tasks can be cancelled');
      const up = cancel(r, now, retention);
      put(up);
      await failDescendants(tx, up, now, put);
      if (r.lane !== undefined) await promote(tx, r.lane, now, put);
    } else if (op === 'update') {
      if (r.status !== 'pending') refuse(r.status === 'running' ? 'it is being sent; defer a new one (a supersede key makes it replace the last)' : 'only pending tasks can be changed');
      // The new payload is stored by its size, wherever the old one was kept (store/payloads.ts).
      // (Set after `next`, which drops a field patched to undefined: an undefined payload is one.)
      const up: TaskRecord = { ...next(r, now, {}), payload };
      changed.set(up.seq, up);
      void store.put(split(payloads, up));
    } else {
      if (r.status === 'pending' || r.status === 'running') refuse('cancel it or wait for it to finish first');
      // The tasks that failed because of it (DEPENDENCY_FAILED, directly or not) go with it: they
      // could only run again through it, and it is gone.
      const lanes = new Set<string>();
      for (const x of [r, ...await failedBecauseOf(tx, r)]) {
        removed.push(x.id);
        changed.delete(x.seq);
        await store.delete(x.seq);
        drop(payloads, x);
        if (x.lane !== undefined) lanes.add(x.lane);
      }
      for (const lane of lanes) await promote(tx, lane, now, put);
    }
    return { changed: [...changed.values()], removed };
  });
}

