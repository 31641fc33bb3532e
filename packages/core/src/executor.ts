import { HalfsyncError, PermanentError } from './errors.js';
import { browserOnline, classify, type Outcome } from './failure.js';
import type { TaskRecord } from './record.js';
import { CHUNK, settleInbox } from './store/inbox.js';
import { pump, renewLeases, type PolicyOf, type Settlement } from './store/pump.js';
import type { OwnerState } from './store/owner-state.js';
import { sweep } from './store/sweep.js';
import { journalCommitted, runnerKeeps } from './store/journal.js';
import type { TaskStore } from './store/store.js';
import type { ScheduleEntry } from './store/schedule.js';
import type { Schedule } from './periodic.js';
import { DEFAULT_PRIORITY, type AnyTaskDefinition, type TaskContext, type TaskDefinition } from './task.js';
import { uuid, withLock } from './util.js';

// Guarantee 4, "One runner at a time": an executor drains under a Web Lock per database, claims
// each task with a lease it renews while the handler runs, and gives up a task whose lease it lost.

/** Options of {@link Executor}. */
export interface ExecutorOptions {
  readonly store: TaskStore;
  readonly tasks: ReadonlyMap<string, AnyTaskDefinition>;
  /** Tasks run at once. Default 4. */
  readonly concurrency?: number;
  /** How long a claim holds a task before another runner may take it over, in ms. Default 30 000. The lease is renewed while the handler runs. */
  readonly leaseMs?: number;
  /** Called after every committed change, to broadcast it. */
  /** Records a step wrote and ids it deleted; `made`: ids of the records it created (no tab knows them). */
  readonly onChange?: (changed: readonly TaskRecord[], removed: readonly string[], made?: readonly string[]) => void;
  /** Called after leases were renewed, to broadcast the new lease times (so pages do not take a busy runner for a dead one). */
  readonly onRenew?: (leases: ReadonlyArray<{ id: string; rev: number; leaseUntil: number }>) => void;
  /** The clock; tests pass a manual one. */
  readonly now?: () => number;
  /** The jitter source; tests pass a fixed one. */
  readonly random?: () => number;
  /** Whether the network is there. Default: `navigator.onLine` (true where there is none). */
  readonly online?: () => boolean;
}

/** Options of one {@link Executor.drain}. */
export interface DrainOptions {
  /** Stops claiming and aborts running handlers (their tasks go back to pending, the attempt uncounted). */
  readonly signal?: AbortSignal;
  /** A time (ms since the epoch) at which to stop as if `signal` had fired. */
  readonly deadline?: number;
  /** Passed to handlers as `ctx.lastChance`. */
  readonly lastChance?: boolean;
  /**
   * The network has just come back: tasks waiting out the backoff of a try that could not reach
   * the server run now instead of at their due time.
   */
  readonly networkBack?: boolean;
}

/** What a drain did and what is left; the worker decides from it when it wants to be woken again. */
export interface DrainSummary {
  /** Handlers started. */
  readonly ran: number;
  readonly succeeded: number;
  /** Runs that failed and were scheduled again. */
  readonly retried: number;
  /** Tasks that became `failed`. */
  readonly failed: number;
  /** Unreadable records moved to quarantine. */
  readonly quarantined: number;
  /** Finished tasks deleted after their retention. */
  readonly purged: number;
  /** Tasks due now but not run (the drain was stopped). */
  readonly dueNow: number;
  /** The earliest time a task becomes due, if any task waits (a retry, a delay, an expired lease). */
  readonly nextDueAt: number | undefined;
  /**
   * Why the drain returned: `idle` (nothing due), `deadline`, `aborted`, or `offline` (the browser
   * went offline; nothing more is claimed until the network returns, so pages and the worker wait
   * for it instead of for `nextDueAt`).
   */
  readonly stopped: 'idle' | 'deadline' | 'aborted' | 'offline';
}

const SHUTDOWN = Symbol('halfsync.shutdown');

/** A task or a batch in flight: its members and the signal that stops its handler. */
interface Unit { readonly ids: string[]; readonly seqs: number[]; readonly controller: AbortController }
// Tasks claimed per free slot: a deeper queue means fewer transactions per task.
const AHEAD = 4;
/** How often a drain's steps move the inbox into `tasks` while tasks run (ms). */
const INTAKE_EVERY_MS = 100;

/**
 * Runs due tasks: one drain at a time across the worker and every tab (a Web Lock), each claimed
 * task leased in its record, at most `concurrency` handlers at once, order-key lanes one task at
 * a time. The same code runs in the service worker and, as a fallback, in a page.
 */
export class Executor {
  readonly owner = uuid();
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly policy: PolicyOf;
  private readonly online: () => boolean;
  /** The longest unreachable backoff of any task: how far ahead `networkBack` looks. */
  private readonly reviveWithinMs: number;
  /** The shortest retention of any task: how old a pending task must be for an idle step to look at it. */
  private readonly minMaxAgeMs: number | undefined;
  /** This executor saw the browser offline: its next drain online is a return of the network. */
  private wasOffline = false;
  /** Whether this executor has swept the store for records no index reaches (once per runner). */
  private swept = false;
  /**
   * Who is signed in, as last committed: read by every step inside its claim, or heard from the
   * tab that committed a change since (the higher version wins). Only their tasks start.
   */
  private signedIn: OwnerState = { owner: undefined, version: -1 };

  private readonly priorities: readonly number[];
  /** The periodic tasks known here. */
  private readonly schedules: readonly ScheduleEntry[];
  /** Claims made: with one slot and several priorities, every other one goes to the task due longest. */
  private claims = 0;

  constructor(private readonly options: ExecutorOptions) {
    this.concurrency = options.concurrency ?? 4;
    this.leaseMs = options.leaseMs ?? 30_000;
    if (!(Number.isInteger(this.concurrency) && this.concurrency > 0)) {
      throw new HalfsyncError('INVALID_OPTIONS', `concurrency must be a positive integer, got ${String(options.concurrency)}`);
    }
    if (!(this.leaseMs >= 100)) throw new HalfsyncError('INVALID_OPTIONS', `leaseMs must be at least 100, got ${String(options.leaseMs)}`);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.policy = (name) => options.tasks.get(name);
    // The priorities known here, highest first (the default's too: a task of a newer page may have it).
    const levels = new Set([DEFAULT_PRIORITY, ...[...options.tasks.values()].map((t) => t.options.priority ?? DEFAULT_PRIORITY)]);
    this.priorities = [...levels].sort((a, b) => b - a);
    this.schedules = [...options.tasks.values()].flatMap((t) => {
      const schedule = (t as { schedule?: Schedule }).schedule;
      return schedule ? [{ name: t.name, schedule, priority: t.options.priority }] : [];
    });
    this.online = options.online ?? browserOnline;
    let within = 0;
    let maxAge = Infinity;
    for (const t of options.tasks.values()) {
      within = Math.max(within, Math.min(t.retry.maxDelayMs, t.retry.maxUnreachableDelayMs));
      maxAge = Math.min(maxAge, t.retention.maxAgeMs);
    }
    this.reviveWithinMs = within;
    this.minMaxAgeMs = Number.isFinite(maxAge) ? maxAge : undefined;
  }

  /** Runs every due task, then returns what it did. Waits for the drain lock if another runner holds it. */
  drain(options: DrainOptions = {}): Promise<DrainSummary> {
    return withLock(`halfsync:${this.options.store.name}:drain`, options.signal, () => this.run(options)).catch((error: unknown) => {
      if (options.signal?.aborted && (error as { name?: string })?.name === 'AbortError') {
        return { ran: 0, succeeded: 0, retried: 0, failed: 0, quarantined: 0, purged: 0, dueNow: 0, nextDueAt: undefined, stopped: 'aborted' } as const;
      }
      throw error;
    });
  }

  private async run({ signal, deadline, lastChance = false, networkBack = false }: DrainOptions): Promise<DrainSummary> {
    const { store, tasks, onChange } = this.options;
    // What runs now, by unit: a task, or a batch (its members run in one handler call).
    const inflight = new Map<string, Unit>();
    // Claimed ahead of a free slot, so a finished handler is followed at once, not after a round
    // trip to IndexedDB, and each transaction settles and claims several tasks. Their leases are
    // renewed like those of the running ones.
    const ready: TaskRecord[] = [];
    const settled: Settlement[] = [];
    const totals = { ran: 0, succeeded: 0, retried: 0, failed: 0, quarantined: 0, purged: 0 };
    let wake: (() => void) | undefined;
    const poke = () => { const w = wake; wake = undefined; w?.(); };
    let stopped: DrainSummary['stopped'] = 'idle';
    const stop = (why: 'deadline' | 'aborted') => {
      if (stopped !== 'idle') return;
      stopped = why;
      for (const u of inflight.values()) u.controller.abort(SHUTDOWN);
      poke();
    };
    const onAbort = () => stop('aborted');
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) stopped = 'aborted';
    const deadlineTimer = deadline === undefined ? undefined : setTimeout(() => stop('deadline'), Math.max(0, deadline - this.now()));
    const heartbeat = setInterval(() => void this.renew(inflight, ready), Math.max(50, this.leaseMs / 3));

    const start = (members: TaskRecord[]) => {
      const r = members[0]!;
      const def = tasks.get(r.name)!;
      const controller = new AbortController();
      const unit: Unit = { ids: members.map((m) => m.id), seqs: members.map((m) => m.seq), controller };
      const key = r.batch ?? r.id;
      inflight.set(key, unit);
      totals.ran += members.length;
      const base = { attempt: Math.max(...members.map((m) => m.attempts)), signal: controller.signal, lastChance, orderKey: r.orderKey, createdAt: r.createdAt, owner: r.owner };
      void (async () => {
        let outcomes: Outcome[];
        let whole = false;
        const failed = (error: unknown): Outcome => (controller.signal.reason === SHUTDOWN ? { kind: 'release' } : classify(error, this.now(), this.online()));
        try {
          if (r.batch !== undefined && def.options.runBatch) {
            const out = await def.options.runBatch(members.map((m) => m.payload), {
              ...base, ids: unit.ids, metas: members.map((m) => m.meta), idempotencyKey: r.batch,
            });
            if (!Array.isArray(out) || out.length !== members.length) {
              throw new PermanentError(`the batch handler of "${r.name}" returned ${Array.isArray(out) ? out.length : typeof out} entries for ${members.length} payloads; return one per payload`, { code: 'BATCH_MISMATCH' });
            }
            outcomes = out.map((x: unknown) => (x instanceof Error ? failed(x) : { kind: 'ok', result: x }));
          } else {
            const parents = r.after ?? [];
            const ctx: TaskContext = {
              ...base, id: r.id, idempotencyKey: r.idempotencyKey, meta: r.meta,
              parentResults: parents.map((id) => r.parentResults?.[id]?.result),
              parents: Object.fromEntries(parents.map((id) => [id, r.parentResults?.[id]?.result])),
              resultOf: <P, R>(t: TaskDefinition<P, R>) => parents.map((id) => r.parentResults?.[id]).find((x) => x?.name === t.name)?.result as R | undefined,
            };
            outcomes = [{ kind: 'ok', result: await def.options.run(r.payload, ctx) }];
          }
        } catch (error) {
          outcomes = members.map(() => failed(error));
          whole = r.batch !== undefined;
        }
        inflight.delete(key);
        members.forEach((m, i) => settled.push({ seq: m.seq, owner: this.owner, outcome: outcomes[i]!, ...(whole ? { wholeBatch: true } : {}) }));
        fill();
        poke();
      })();
    };
    /** The next unit of the ready queue: a task, or every member of its batch. */
    const takeUnit = (): TaskRecord[] => {
      const first = ready.shift()!;
      const unit = [first];
      while (first.batch !== undefined && ready[0]?.batch === first.batch) unit.push(ready.shift()!);
      return unit;
    };
    // Offline, nothing new starts: a try now could only fail, and would tell nobody anything. A
    // task of someone no longer signed in never starts: it goes back, held for its owner.
    const fill = () => {
      while (stopped === 'idle' && inflight.size < this.concurrency && ready.length > 0 && this.online()) {
        const unit = takeUnit();
        if (unit[0]!.owner !== this.signedIn.owner) unit.forEach(release);
        else start(unit);
      }
    };

    const release = (r: TaskRecord) => settled.push({ seq: r.seq, owner: this.owner, outcome: { kind: 'release' }, wholeBatch: true });

    try {
      let revive = networkBack || this.wasOffline;
      // The inbox (store/inbox.ts) moves into `tasks` before the first step, and now and then while
      // tasks run (its transaction waits for the defers under way, and they for it). A defer made
      // during a drain is followed by another drain: its tab's waker wakes the runner when this one
      // ends (waker.ts), and a tab moves the inbox on itself once its defers pause (client.ts).
      let intakeNext = true;
      let lastIntake = 0;
      // The last move took a full chunk: more wait (a long queue deferred offline). The next chunk
      // moves when the tasks moved before have been claimed, not on the timer.
      let backlog = false;
      for (;;) {
        const offline = !this.online();
        if (offline) this.wasOffline = true;
        const claiming = stopped === 'idle' && !offline;
        if (!claiming) ready.splice(0).forEach(release);
        const idle = inflight.size === 0 && ready.length === 0;
        const limit = claiming ? AHEAD * this.concurrency - inflight.size - ready.length : 0;
        const intake = intakeNext || (!backlog && this.now() - lastIntake >= INTAKE_EVERY_MS);
        if (intake) {
          lastIntake = this.now();
          // In a transaction of its own, a chunk at a time: defers wait for it, not for a whole step,
          // and a long inbox (days recorded offline) never holds up the first claim.
          const moved = await settleInbox(store, CHUNK);
          if (moved.length > 0) onChange?.(moved, []);
          backlog = moved.length === CHUNK;
        }
        intakeNext = false;
        const out = await pump(store, {
          now: this.now(), owner: this.owner, leaseMs: this.leaseMs, settlements: settled.splice(0),
          limit,
          skip: new Set([...[...inflight.values()].flatMap((u) => u.ids), ...ready.map((r) => r.id)]), policy: this.policy, random: this.random,
          inspect: idle, minMaxAgeMs: this.minMaxAgeMs, countDue: idle && !claiming, reviveWithinMs: revive && !offline ? this.reviveWithinMs : undefined,
          priorities: this.priorities, byAge: claiming && this.claims++ % 2 === 1, schedules: this.schedules, intake: false,
        });
        if (!offline && revive) { revive = false; this.wasOffline = false; }
        // What this step read is the truth as of now (a belief from a newer read wins only until here).
        this.signedIn = out.owner;
        for (const key of Object.keys(totals) as (keyof typeof totals)[]) if (key !== 'ran') totals[key] += out[key];
        if (out.changed.length > 0 || out.removed.length > 0) {
          onChange?.(out.changed, out.removed, out.made);
          // The journal follows what committed: finished tasks leave it, children record their parents' results.
          void journalCommitted(store.name, out.changed, out.removed, runnerKeeps).catch(() => {});
        }
        // What was moved has all been claimed: the next chunk, before the next step.
        if (backlog && limit > 0 && out.claimed.length < limit) intakeNext = true;
        if (claiming) ready.push(...out.claimed);
        else out.claimed.forEach(release);
        fill();
        const progress = out.claimed.length + out.changed.length + out.removed.length > 0;
        // A step taken idle that only wrote settlements and found nothing to claim, purge or revive
        // has already read what comes next (in the same transaction, after its writes): another
        // step would find the same.
        const settledOnly = idle && out.claimed.length === 0 && out.removed.length === 0 && out.revived === 0;
        if (inflight.size === 0 && ready.length === 0 && settled.length === 0 && (!progress || settledOnly)) {
          // The inbox holds more: the next chunk, while this drain may claim it (a drain stopped or
          // offline leaves it where it waits).
          if (backlog && claiming) { intakeNext = true; continue; }
          if (!this.swept) {
            this.swept = true;
            const swept = await sweep(store, this.now());
            totals.quarantined += swept.quarantined;
            if (swept.removed.length > 0 || swept.repaired.length > 0) {
              onChange?.(swept.repaired, swept.removed);
              // A repaired task is due now: run it in this drain.
              if (swept.repaired.length > 0) continue;
            }
          }
          return { ...totals, dueNow: out.dueNow ?? 0, nextDueAt: out.nextDueAt, stopped: stopped === 'idle' && offline ? 'offline' : stopped };
        }
        if (settled.length === 0 && inflight.size > 0) await new Promise<void>((resolve) => { wake = resolve; });
      }
    } finally {
      clearInterval(heartbeat);
      clearTimeout(deadlineTimer);
      signal?.removeEventListener('abort', onAbort);
      for (const u of inflight.values()) u.controller.abort(SHUTDOWN);
    }
  }

  /**
   * Someone's sign-in or sign-out committed, as read from the store after the tab that committed
   * it said so: from now on only their tasks start, and the claimed ones of anyone else go back,
   * held for their owner. A state older than the one known is ignored.
   */
  ownerChanged(state: OwnerState): void {
    if (state.version >= this.signedIn.version) this.signedIn = state;
  }

  private async renew(inflight: Map<string, Unit>, ready: readonly TaskRecord[]): Promise<void> {
    if (inflight.size === 0 && ready.length === 0) return;
    const held = [...inflight.entries()];
    try {
      const seqs = [...held.flatMap(([, u]) => u.seqs), ...ready.map((r) => r.seq)];
      const renewed = await renewLeases(this.options.store, seqs, this.owner, this.now(), this.leaseMs);
      if (renewed.length > 0) this.options.onRenew?.(renewed.map((r) => ({ id: r.id, rev: r.rev, leaseUntil: r.leaseUntil! })));
      const kept = new Set(renewed.map((r) => r.id));
      for (const [key, u] of held) {
        if (u.ids.some((id) => !kept.has(id)) && inflight.get(key) === u) {
          u.controller.abort(new HalfsyncError('LEASE_LOST', `task ${key}: this runner lost its lease; another runner has taken the task over`));
        }
      }
    } catch {
      // A failed renewal is retried at the next beat; the lease still covers the gap.
    }
  }
}
