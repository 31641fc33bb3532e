import { onlineTag, type ChannelMessage } from './channel.js';
import { HalfsyncError } from './errors.js';
import type { DrainSummary } from './executor.js';
import type { TaskModel, TaskSlice } from './model.js';
import type { PageRunner } from './page-runner.js';
import { askWorker, type ClientMode, type WorkerLink } from './paths.js';

// Waking whatever runs the tasks: a Background Sync registration (one per drain's worth of
// commits), a message to the worker, or the page runner; and the timers for retries coming due and leases left by a dead
// runner. Timers run in one tab only, elected with a Web Lock, so N tabs do not wake the runner N
// times for the same due time.

/** What the waker needs from its client. */
export interface WakerHost {
  readonly db: string;
  readonly model: TaskModel;
  readonly autoRun: boolean;
  readonly workerTimeoutMs: number;
  now(): number;
  mode(): ClientMode;
  link(): WorkerLink | undefined;
  pageRunner(): Promise<PageRunner>;
  post(message: ChannelMessage): void;
  /** The worker stopped answering: fall back to the page runner. */
  workerLost(reason: HalfsyncError): void;
  /** A runner reported an error, or recovered (undefined). */
  runnerError(error: HalfsyncError | undefined): void;
}

/** How long after a lease runs out a waker looks for its task (the runner may be finishing it). */
const LEASE_GRACE_MS = 50;
/** How long after waking the runner for an orphaned lease the waker looks again, if nothing changed. */
const ORPHAN_RECHECK_MS = 5_000;
/** How long commits are folded into the wake-up of a drain that has not ended (a runner that died says nothing). */
const COMMIT_WAKE_WAIT_MS = 2_000;

export class Waker {
  /** This tab schedules the timers (holds the waker lock, or there are no Web Locks). */
  private elected = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = Infinity;
  /** The next due time the last drain reported (undefined: nothing waits, or offline). */
  private nextDueAt: number | undefined;
  private tagCount = 0;
  private lastTag: string | undefined;
  private readonly stop = new AbortController();
  private unsubscribe: (() => void) | undefined;
  private closed = false;
  /** When this tab last woke the runner for its commits (undefined: that drain has ended). */
  private waiting: number | undefined;
  /** Commits made since, waiting for that drain to end. */
  private commitsSince = false;
  private foldTimer: ReturnType<typeof setTimeout> | undefined;
  /** Orphaned leases already woken for: task id → the lease it had, and when to look again. */
  private readonly orphans = new Map<string, { leaseUntil: number; again: number }>();
  /** The running tasks this tab holds: the only ones with leases to watch. */
  private readonly running: TaskSlice;

  constructor(private readonly host: WakerHost) {
    this.running = host.model.select({ status: 'running' });
  }

  /** Joins the election once the mode is known (page mode: the page runner's leader wakes itself). */
  start(): void {
    if (!this.host.autoRun) return;
    const locks = typeof navigator === 'undefined' ? undefined : (navigator as { locks?: LockManager }).locks;
    const win = () => {
      this.elected = true;
      // Replan whenever a running task changes (claimed, renewed, settled): at most once per task.
      this.unsubscribe = this.running.subscribe(() => this.plan());
      this.plan();
    };
    if (!locks) { win(); return; }
    locks.request(`halfsync:${this.host.db}:waker`, { signal: this.stop.signal }, () => {
      if (this.closed) return undefined;
      win();
      return new Promise<void>((resolve) => this.stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    }).catch(() => {});
  }

  /** Whether this tab is the one that wakes the runner on timers and on the network's return. */
  get isElected(): boolean {
    return this.elected;
  }

  /**
   * Wakes the runner now. `fresh` asks Background Sync for a new tag (a tag waiting for the
   * browser's retry ignores a new registration); `networkBack` says the network has just returned.
   */
  wake({ fresh = false, networkBack = false } = {}): void {
    if (this.closed) return;
    const mode = this.host.mode();
    if (mode === 'page') {
      if (this.host.autoRun) void this.host.pageRunner().then((r) => r.wake(networkBack));
      return;
    }
    if (mode === 'starting') return; // the client wakes once the mode is known
    const sync = mode === 'sync' ? this.host.link()?.registration.sync : undefined;
    if (!sync) { this.message(networkBack); return; }
    // Online, a new tag each time (it fires at once and is gone); offline, the last one again (it
    // waits for the network, and reusing it keeps the list of tags short).
    const online = typeof navigator === 'undefined' || navigator.onLine;
    const stamp = `${Date.now().toString(36)}-${(this.tagCount++).toString(36)}`;
    if (networkBack) {
      sync.register(`${onlineTag(this.host.db)}:${stamp}`).catch(() => this.message(true));
      return;
    }
    if (fresh || online || !this.lastTag) this.lastTag = `halfsync:${this.host.db}:${stamp}`;
    sync.register(this.lastTag).catch(() => this.message());
  }

  /**
   * Asks the worker to drain. A worker that neither answers nor is busy (a ping within the
   * worker timeout) is given up for the page runner, with the reason in `modeReason`.
   */
  private message(networkBack = false): void {
    const link = this.host.link();
    if (!link) return;
    let answered = false;
    const watchdog = setTimeout(() => {
      if (answered || this.closed) return;
      askWorker(link, this.host.db, 'ping', this.host.workerTimeoutMs).catch((error: unknown) => {
        if (answered || this.closed) return;
        this.host.workerLost(new HalfsyncError('WORKER_UNAVAILABLE', `the service worker stopped answering (${(error as Error)?.message ?? String(error)}); tasks run in the page instead`, { cause: error }));
      });
    }, this.host.workerTimeoutMs);
    // A drain may rightly take minutes (a slow backend, many tasks); browsers cap a worker's
    // event at about 5 minutes.
    askWorker(link, this.host.db, 'drain', 330_000, networkBack).then(
      () => { answered = true; clearTimeout(watchdog); },
      (error: unknown) => {
        answered = true;
        clearTimeout(watchdog);
        this.host.runnerError(error instanceof HalfsyncError ? error : new HalfsyncError('WORKER_UNAVAILABLE', String(error), { cause: error }));
      },
    );
  }

  /**
   * Tasks were committed: wake the runner, once per drain. While a wake-up this tab asked for has
   * not yet been answered by a drain's end, further commits are folded into one wake-up at that
   * end (the drain under way may well pick them up; the next one surely does).
   */
  committed(): void {
    if (this.closed) return;
    if (this.waiting !== undefined && Date.now() - this.waiting < COMMIT_WAKE_WAIT_MS) {
      this.commitsSince = true;
      // No drain ended in time (a runner that died): the folded commits wake it themselves.
      this.foldTimer ??= setTimeout(() => {
        this.foldTimer = undefined;
        if (this.commitsSince) { this.waiting = undefined; this.committed(); }
      }, COMMIT_WAKE_WAIT_MS);
      return;
    }
    this.waiting = Date.now();
    this.commitsSince = false;
    this.wake();
  }

  /** A drain ended somewhere (this tab's runner, another tab's, the worker). */
  drained(summary: DrainSummary): void {
    this.waiting = undefined;
    if (this.commitsSince) { this.commitsSince = false; this.committed(); }
    // Offline, the next due time means nothing: the network's return wakes the runner.
    this.nextDueAt = summary.stopped === 'offline' ? undefined : summary.nextDueAt;
    this.plan();
  }

  /** The network returned: the elected tab wakes the runner, cutting short backoffs that waited for it. */
  online(): void {
    if (this.elected || this.host.mode() === 'page') this.wake({ fresh: true, networkBack: true });
  }

  /** Sets the timer for the earliest of the next due time and the first lease to run out. */
  private plan(): void {
    if (!this.elected || this.closed) return;
    let at = this.nextDueAt ?? Infinity;
    const running = this.running.getSnapshot();
    if (this.orphans.size > 0) {
      const ids = new Set(running.map((t) => t.id));
      for (const id of this.orphans.keys()) if (!ids.has(id)) this.orphans.delete(id);
    }
    for (const t of running) {
      const look = this.leaseCheckAt(t);
      if (look !== undefined && look < at) at = look;
    }
    if (at === this.timerAt) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    // Timers in pages are throttled and capped; a later load or online event wakes the runner too.
    this.timer = setTimeout(() => this.fire(), Math.min(Math.max(0, at - this.host.now()), 2_147_483_647));
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.host.now();
    const due = this.nextDueAt !== undefined && this.nextDueAt <= now;
    // A lease renewed since the timer was set is not a dead runner: no false wake for it.
    let orphan = false;
    for (const t of this.running.getSnapshot()) {
      const look = this.leaseCheckAt(t);
      if (look === undefined || look > now) continue;
      orphan = true;
      this.orphans.set(t.id, { leaseUntil: t.leaseUntil!, again: now + ORPHAN_RECHECK_MS });
    }
    if (due || orphan) {
      if (due) this.nextDueAt = undefined; // the drain will say when next
      this.wake({ fresh: true });
    }
    this.plan();
  }

  /** When to look at a running task's lease (undefined: not running). */
  private leaseCheckAt(t: { id: string; status: string; leaseUntil: number | undefined }): number | undefined {
    if (t.status !== 'running' || t.leaseUntil === undefined) {
      this.orphans.delete(t.id);
      return undefined;
    }
    const woken = this.orphans.get(t.id);
    if (woken && woken.leaseUntil === t.leaseUntil) return woken.again;
    if (woken) this.orphans.delete(t.id);
    return t.leaseUntil + LEASE_GRACE_MS;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.foldTimer);
    this.unsubscribe?.();
    this.stop.abort();
  }
}
