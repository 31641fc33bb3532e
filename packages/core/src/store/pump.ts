import { retryDelay, unreachableDelay } from '../backoff.js';
import type { Outcome } from '../failure.js';
import { failedTry, next, parentsDone, recordProblem, withTry, type TaskError, type TaskRecord } from '../record.js';
import { ownerState, type OwnerState } from './owner-state.js';
import { unwrap } from 'idb';
import { claim, hold, release, renew, retryLater, reviveNow, succeed, unreachableLater } from './transitions.js';
import { DEFAULT_RETENTION, DEFAULT_RETRY, type DefinedOptions, type LaneFailurePolicy, type RateLimit, type RetentionPolicy, type RetryPolicy } from '../task.js';
import { Buckets } from './rate.js';
import { dueInOrder } from './claim-order.js';
import { failFor, parentSucceeded, promote, settleLane } from './chain.js';
import { inTx, type TaskStore } from './store.js';
import { quarantineRecord } from './quarantine.js';
import { drop, join } from './payloads.js';
import type { ScheduleEntry } from './schedule.js';
import type { Schedule } from '../periodic.js';
import { uuid } from '../util.js';

// Guarantee 2, "At least once, never lost": the executor's side of the store. A claim leases a task,
// a settlement records its outcome, and a task leaves only by succeeding, failing for good, being
// cancelled or outliving its retention; a lease left by a dead runner expires and the task runs
// again. Kept apart from TaskStore's class so pages that never run tasks do not carry it.

export type { Outcome };

/** A finished run waiting to be written. */
export interface Settlement {
  readonly seq: number;
  readonly owner: string;
  readonly outcome: Outcome;
  /**
   * A batch member whose whole batch call failed or was cut (one error for every member): the
   * request may have reached the server, so the batch is sent again as it was, the same members
   * under the same key. Absent when the call answered per member: the members it did not settle
   * go out in a later batch, under a new key.
   */
  readonly wholeBatch?: boolean;
}

/** A task's policies as the executor knows them; undefined when the executor lacks the definition. */
export type PolicyOf = (name: string) => { retry: RetryPolicy; retention: RetentionPolicy; rateLimit?: RateLimit; schedule?: Schedule; options?: Pick<DefinedOptions<unknown, unknown>, 'laneFailure' | 'batch'> } | undefined;

/** The input of {@link pump}. */
export interface PumpInput {
  readonly now: number;
  readonly owner: string;
  readonly leaseMs: number;
  /** How many due tasks to claim. */
  readonly limit: number;
  readonly settlements: readonly Settlement[];
  /** Ids this executor is running or about to run: never claimed twice. */
  readonly skip: ReadonlySet<string>;
  readonly policy: PolicyOf;
  readonly random: () => number;
  /**
   * The priorities of the tasks this runner knows, highest first. With more than one, due tasks are
   * claimed by priority, and one slot of each claim goes to the task due longest (`byAge`).
   */
  readonly priorities?: readonly number[];
  /** With `limit` 1 and priorities: this claim's one slot goes to the task due longest (every other claim). */
  readonly byAge?: boolean;
  /** Also report `nextDueAt`. */
  readonly inspect?: boolean;
  /**
   * With `inspect`: the shortest `maxAgeMs` of the tasks this runner knows. Pending tasks older
   * than that which are not due (held for another owner, behind a lane or parents) are looked at
   * and fail with EXPIRED past their own retention, as due ones do when claimed.
   */
  readonly minMaxAgeMs?: number;
  /** Also count the tasks due now (`dueNow`); a count walks the index, so only when stopping early. */
  readonly countDue?: boolean;
  /**
   * The network is back: tasks waiting out an unreachable backoff due within this many ms become
   * due now. (No unreachable backoff is longer than the largest `maxUnreachableDelayMs`.)
   */
  readonly reviveWithinMs?: number;
  /** The periodic tasks this runner knows: each gets its next run when the last one has finished. */
  readonly schedules?: readonly ScheduleEntry[];
  /**
   * Move the inbox into `tasks` first (store/inbox.ts), so that this step claims what was deferred
   * since (the default). `false`: the step spans the working stores alone, and defers commit
   * meanwhile (the executor moves the inbox in a short transaction of its own).
   */
  readonly intake?: boolean;
}

/** What a pump did. */
export interface PumpOutput {
  /** Records written (for broadcasting), in write order. */
  readonly changed: TaskRecord[];
  /** Ids of records deleted (purged or quarantined). */
  readonly removed: string[];
  /** Ids of records this step made (a periodic task's next run): no tab knows them yet. */
  readonly made: string[];
  /** Records claimed for running. */
  readonly claimed: TaskRecord[];
  /** Tasks whose unreachable backoff was cut short because the network is back. */
  readonly revived: number;
  /** Who is signed in, as this step read it (only that owner's tasks were claimed). */
  readonly owner: OwnerState;
  readonly succeeded: number;
  readonly retried: number;
  readonly failed: number;
  readonly quarantined: number;
  readonly purged: number;
  /** With `inspect`: the earliest future time a task becomes due. */
  readonly nextDueAt?: number | undefined;
  /** With `countDue`: how many tasks are due now and unclaimed. */
  readonly dueNow?: number;
}

const UNKNOWN_TASK_DELAY_MS = 60_000;

/** The members of a batch: the head (`seq`) and the consecutive members after it, at most `max`. */
function takeWhileFrom(members: TaskRecord[], seq: number, max: number): TaskRecord[] {
  const at = members.findIndex((m) => m.seq === seq);
  return at === -1 ? [] : members.slice(at, at + max);
}
const laneFailureOf = (policy: PolicyOf, name: string): LaneFailurePolicy => policy(name)?.options?.laneFailure ?? 'hold';
/** A task whose runner dies this many times while running it fails with CRASHED: it may be the cause. */
export const MAX_CRASHES = 10;
const PURGE_BATCH = 50;
// Due records read per claim beyond the limit, to make up for those skipped (in flight, unknown).
const SLACK = 8;

const policyOrDefault = (policy: PolicyOf, name: string) => policy(name) ?? { retry: DEFAULT_RETRY, retention: DEFAULT_RETENTION };
const isCloneError = (error: unknown) => (error as { name?: string } | null)?.name === 'DataCloneError';

/**
 * One executor step in one transaction: writes the settlements, lets the next task of each lane
 * they freed run, purges expired finished tasks, quarantines unreadable records and claims up to
 * `limit` due tasks. Requests are issued in batches, not one round trip at a time.
 */
export function pump(s: TaskStore, input: PumpInput): Promise<PumpOutput> {
  const { now, owner, leaseMs, policy } = input;
  return inTx(s, 'relaxed', 'running the executor', async (tx, moved) => {
    const store = tx.objectStore('tasks');
    const changed = new Map<number, TaskRecord>(moved.map((r) => [r.seq, r]));
    const removed: string[] = [];
    const claimed: TaskRecord[] = [];
    const counts = { succeeded: 0, retried: 0, failed: 0, quarantined: 0, purged: 0 };
    const writes: Array<Promise<unknown>> = [];
    // Writes go straight on the IndexedDB requests (no promise each): the commit waits for them all.
    const rawTasks = unwrap(store) as IDBObjectStore;
    // Records read from `tasks` are put back as read: a payload kept apart is not rewritten.
    const put = (r: TaskRecord) => { changed.set(r.seq, r); rawTasks.put(r); };
    const payloads = tx.objectStore('payloads');

    // 1. Settlements.
    const leftLanes = new Set<string>();
    const batchLanes = new Set<string>();
    const succeededNow: TaskRecord[] = [];
    const failures: Array<{ r: TaskRecord; error: TaskError }> = [];
    // Who is signed in, as committed: only their tasks are claimed, and a task given back that is
    // someone else's is held for its owner, not made due again.
    const [signed, ...current] = await Promise.all([ownerState(tx), ...input.settlements.map((x) => store.get(x.seq))]);
    const signedIn = signed.owner;
    // Rate limits: the buckets of the definitions this step takes from (store/rate.ts).
    const buckets = new Buckets(tx, now);
    const blocks: Array<() => Promise<void>> = [];
    // The members of a batch sent again together wait out one delay, so they come due together.
    const batchDelays = new Map<string, number>();
    input.settlements.forEach((x, i) => {
      const r = current[i] as TaskRecord | undefined;
      // Lease lost: another runner took the task over and will settle it.
      if (!r || r.status !== 'running' || r.leaseOwner !== x.owner) return;
      const { retry, retention } = policyOrDefault(policy, r.name);
      const o = x.outcome;
      if (r.batch !== undefined && r.lane !== undefined) batchLanes.add(r.lane);
      if (o.kind === 'fail' || ((o.kind === 'retry') && r.attempts >= retry.maxAttempts)) {
        failures.push({ r: { ...r, tries: withTry(r, failedTry(o.error, now)) }, error: o.error });
        return;
      }
      let up: TaskRecord;
      const delay = (compute: () => number): number => {
        if (r.batch === undefined || !x.wholeBatch) return compute();
        const d = batchDelays.get(r.batch) ?? compute();
        batchDelays.set(r.batch, d);
        return d;
      };
      if (o.kind === 'ok') up = succeed(r, now, o.result, retention);
      else if (o.kind === 'release') up = r.owner === signedIn ? release(r, now) : hold(release(r, now), now);
      else if (o.kind === 'unreachable') up = unreachableLater(r, now, o.error, delay(() => unreachableDelay((r.unreachable ?? 0) + 1, retry, input.random)));
      else up = retryLater(r, now, o.error, delay(() => retryDelay(r.attempts, retry, o.retryAfterMs, input.random)));
      // A server's Retry-After on a limited task holds every task of its definition until then.
      const limit = policy(r.name)?.rateLimit;
      if (o.kind === 'retry' && o.retryAfterMs !== undefined && limit) blocks.push(() => buckets.block(r.name, limit, now + o.retryAfterMs!));
      // Answered per member: what is left goes out in a later batch, under a new key.
      if (up.batch !== undefined && !x.wholeBatch) delete up.batch;
      // Every try that ended is kept (a release is a try that never ran to its end).
      if (o.kind === 'ok') up.tries = withTry(r, { at: now, outcome: 'succeeded' });
      else if (o.kind !== 'release') up.tries = withTry(r, failedTry(o.error, now));
      try {
        put(up);
      } catch (error) {
        if (!isCloneError(error)) throw error;
        failures.push({ r, error: { code: 'RESULT_NOT_CLONEABLE', message: `the handler's result cannot be stored: ${(error as Error).message}; return plain data`, permanent: true, kind: 'permanent', at: now } });
        return;
      }
      if (up.status === 'succeeded') { counts.succeeded++; succeededNow.push(up); }
      else if (o.kind === 'retry' || o.kind === 'unreachable') counts.retried++;
      if (r.lane !== undefined && up.lane === undefined) leftLanes.add(r.lane);
    });
    // Failures for good: the lane's policy, and the tasks that run after them.
    for (const { r, error } of failures) {
      const up = await failFor(tx, r, error, laneFailureOf(policy, r.name), now, put);
      counts.failed++;
      if (r.lane !== undefined && up.lane === undefined) leftLanes.add(r.lane);
    }
    // Successes hand their results to the tasks that run after them (only parents marked as having any).
    for (const r of succeededNow) if (r.dependents) await parentSucceeded(tx, r, now, put);
    // 2. The next task of each lane a settlement left may run (in this same step).
    for (const lane of leftLanes) await promote(tx, lane, now, put);
    for (const lane of batchLanes) await settleLane(tx, lane, now, put);
    // Periodic tasks: the next run of each whose last run finished, for the user signed in.
    const made: string[] = [];
    for (const entry of input.schedules ?? []) {
      const kept = await entry.schedule.keep(tx, entry, signedIn, now);
      if (kept.made) { changed.set(kept.made.seq, kept.made); made.push(kept.made.id); }
      removed.push(...kept.removed);
    }

    // 3. The network is back: what waits out an unreachable backoff runs now, not at its due time.
    let revived = 0;
    if (input.reviveWithinMs !== undefined && input.reviveWithinMs > 0) {
      const waiting: unknown[] = await store.index('due').getAll(IDBKeyRange.bound(now, now + input.reviveWithinMs, true, false));
      for (const raw of waiting) {
        if (recordProblem(raw)) continue; // quarantined when it comes due
        const r = raw as TaskRecord;
        if (r.status !== 'pending' || r.lastError?.kind !== 'unreachable' || input.skip.has(r.id)) continue;
        put(reviveNow(r, now));
        revived++;
      }
    }

    // 4. Purge finished tasks past their retention.
    const expired = await store.index('purge').getAll(IDBKeyRange.upperBound(now), PURGE_BATCH);
    for (const r of expired) {
      removed.push(r.id);
      counts.purged++;
      writes.push(store.delete(r.seq));
      drop(payloads, r);
    }

    for (const block of blocks) await block();

    // 5. Claim due tasks (pending ones, and running ones whose runner's lease ran out), of the owner signed in.
    if (input.limit > 0) {
      const due = await dueInOrder(tx, input, input.limit + input.skip.size + SLACK);
      const seen = new Set<string>();
      for (const raw of due) {
        if (claimed.length >= input.limit) break;
        if (seen.has((raw as { id?: string }).id ?? '')) continue; // claimed with its batch
        const problem = recordProblem(raw);
        if (problem) {
          writes.push(quarantineRecord(tx, raw, problem, now));
          counts.quarantined++;
          const id = (raw as { id?: unknown }).id;
          if (typeof id === 'string') removed.push(id);
          continue;
        }
        const r = raw as TaskRecord;
        if (input.skip.has(r.id)) continue;
        if (r.owner !== signedIn && (r.status === 'pending' || r.status === 'running')) {
          // Another user's work: held (out of the due index) until its owner signs in again.
          put(hold(r, now));
          continue;
        }
        if (r.status !== 'pending' && r.status !== 'running') {
          const { due: _drop, ...rest } = r;
          put({ ...rest, rev: r.rev + 1 });
          continue;
        }
        if (r.status === 'pending' && !parentsDone(r)) {
          // Due before its parents succeeded (a corrupt link, an edited record): it never runs early.
          // It waits for them (they learn they have dependents), or fails if one is not stored.
          const parents = await Promise.all(r.after!.filter((pid) => !Object.hasOwn(r.parentResults ?? {}, pid)).map((pid) => store.index('id').get(pid)));
          if (parents.some((p) => p === undefined)) {
            await failFor(tx, r, { code: 'DEPENDENCY_UNKNOWN', message: 'it runs after a task that is not stored: it can never run; defer it again', permanent: true, kind: 'permanent', at: now }, laneFailureOf(policy, r.name), now, put);
            counts.failed++;
          } else {
            put(next(r, now, { due: undefined }));
            for (const p of parents) if (p && !p.dependents) put(next(p, now, { dependents: true }));
          }
          continue;
        }
        const known = policy(r.name);
        if (!known) {
          // A newer page's task the worker does not know yet (it updates soon): wait, for a while.
          if (now - r.createdAt > DEFAULT_RETENTION.maxAgeMs) {
            await failFor(tx, r, { code: 'UNKNOWN_TASK', message: `no runner has a definition of task "${r.name}" (for ${DEFAULT_RETENTION.maxAgeMs} ms); import it in the worker's tasks list, then retry`, permanent: true, kind: 'permanent', at: now }, 'hold', now, put);
            counts.failed++;
            continue;
          }
          const error: TaskError = { code: 'UNKNOWN_TASK', message: `this executor has no definition of task "${r.name}"; import it in the worker's tasks list`, permanent: false, kind: 'transient', at: now };
          const { leaseOwner: _o, leaseUntil: _u, ...rest } = r;
          put({ ...rest, status: 'pending', lastError: error, nextRunAt: now + UNKNOWN_TASK_DELAY_MS, due: now + UNKNOWN_TASK_DELAY_MS, rev: r.rev + 1, updatedAt: now });
          continue;
        }
        // A periodic run never expires: its schedule made it, and the next one waits for it.
        if (now - r.createdAt > known.retention.maxAgeMs && r.every === undefined) {
          await failFor(tx, r, { code: 'EXPIRED', message: `the task is older than its retention (${known.retention.maxAgeMs} ms) and was not run again`, permanent: true, kind: 'permanent', at: now }, laneFailureOf(policy, r.name), now, put);
          counts.failed++;
          continue;
        }
        if (r.status === 'running' && (r.attempts >= known.retry.maxAttempts || (r.crashes ?? 0) + 1 >= MAX_CRASHES)) {
          await failFor(tx, { ...r, tries: withTry(r, { at: now, outcome: 'crashed' }) }, { code: 'CRASHED', message: `the runner stopped during ${(r.crashes ?? 0) + 1} runs of this task (${r.attempts} attempts); it may be what stops it (memory, a hang): retry it once the cause is fixed`, permanent: true, kind: 'permanent', at: now }, laneFailureOf(policy, r.name), now, put);
          counts.failed++;
          continue;
        }
        // A periodic run due outside its daily window (the device slept through it): the next opening.
        const opens = r.every !== undefined && r.status === 'pending' ? known.schedule?.startFrom(now) ?? now : now;
        if (opens > now) {
          put(next(r, now, { due: opens, nextRunAt: opens }));
          continue;
        }
        if (known.rateLimit) {
          // Over its definition's limit: it waits, pending, for the next token; not an attempt.
          const until = await buckets.take(r.name, known.rateLimit);
          if (until !== undefined) {
            put(next(r, now, r.status === 'pending' ? { due: until, nextRunAt: until, limited: until } : { due: until }));
            continue;
          }
        }
        const batch = known.options?.batch;
        if (batch && r.lane !== undefined) {
          // A batch: the head and the members behind it in its lane; or a batch sent before (its runner
          // died, or the whole call failed): the same members again, under the same key.
          const members = (await store.index('lane').getAll(r.lane, r.batch ? undefined : batch.max + 1))
            .filter((m) => (r.batch
              ? m.batch === r.batch && (m.status === 'running' || m.status === 'pending') && !input.skip.has(m.id)
              : m.seq === r.seq || (m.status === 'pending' && m.batch === undefined && m.name === r.name && m.owner === r.owner && parentsDone(m) && !input.skip.has(m.id))));
          const group = r.batch ? members : takeWhileFrom(members, r.seq, batch.max);
          const id = r.batch ?? uuid();
          for (const m of group) {
            const up = claim({ ...m, batch: id }, now, owner, leaseMs);
            put(up);
            claimed.push(up);
            seen.add(m.id);
          }
          continue;
        }
        const up = claim(r, now, owner, leaseMs);
        put(up);
        claimed.push(up);
      }
    }

    // 6. Idle: pending tasks out of the due index that outlived their retention expire too.
    if (input.inspect && input.minMaxAgeMs !== undefined) {
      const old: unknown[] = await store.index('status').getAll(IDBKeyRange.bound(['pending', -Infinity], ['pending', now - input.minMaxAgeMs]), PURGE_BATCH);
      for (const raw of old) {
        if (recordProblem(raw)) continue; // the sweep quarantines it
        const r = changed.get((raw as TaskRecord).seq) ?? (raw as TaskRecord);
        const known = policy(r.name);
        if (r.status !== 'pending' || r.due !== undefined || !known || now - r.createdAt <= known.retention.maxAgeMs) continue;
        await failFor(tx, r, { code: 'EXPIRED', message: `the task waited longer than its retention (${known.retention.maxAgeMs} ms) without running${r.owner !== signedIn ? ', held for its owner, who did not sign in again' : ''}`, permanent: true, kind: 'permanent', at: now }, laneFailureOf(policy, r.name), now, put);
        counts.failed++;
      }
    }

    let nextDueAt: number | undefined;
    let dueNow: number | undefined;
    // Numbers only: a corrupt due time of another type sorts after every number (the sweep quarantines it).
    if (input.inspect) nextDueAt = (await store.index('due').openKeyCursor(IDBKeyRange.bound(now, Infinity, true, false)))?.key;
    if (input.countDue) dueNow = await store.index('due').count(IDBKeyRange.upperBound(now));
    writes.push(...buckets.save());
    // The claimed tasks are handed to their handlers with their payloads.
    const [handed] = await Promise.all([join(payloads, claimed), ...writes]);
    return { changed: [...changed.values()], removed, made, claimed: handed, revived, owner: signed, ...counts, nextDueAt, dueNow };
  }, input.intake === false ? 'working' : 'all');
}

/** Extends the leases this owner holds; returns the records renewed (missing ones were lost). */
export function renewLeases(s: TaskStore, seqs: readonly number[], owner: string, now: number, leaseMs: number): Promise<TaskRecord[]> {
  return inTx(s, 'relaxed', 'renewing leases', async (tx) => {
    const store = tx.objectStore('tasks');
    const current = await Promise.all(seqs.map((seq) => store.get(seq)));
    const out = current.filter((r): r is TaskRecord => !!r && r.status === 'running' && r.leaseOwner === owner).map((r) => renew(r, now, leaseMs));
    await Promise.all(out.map((r) => store.put(r)));
    return out;
  }, 'working');
}
