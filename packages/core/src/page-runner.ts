import type { ChannelMessage } from './channel.js';
import { Executor, type DrainSummary } from './executor.js';
import type { TaskRecord } from './record.js';
import type { TaskStore } from './store/store.js';
import type { OwnerState } from './store/owner-state.js';
import type { AnyTaskDefinition } from './task.js';

/** Options of {@link PageRunner}. */
export interface PageRunnerOptions {
  readonly store: TaskStore;
  readonly tasks: ReadonlyMap<string, AnyTaskDefinition>;
  /** Posts on the origin's BroadcastChannel (a no-op once the client is closed). */
  readonly post: (message: ChannelMessage) => void;
  readonly concurrency: number | undefined;
  readonly leaseMs: number | undefined;
  readonly now: () => number;
  readonly online: (() => boolean) | undefined;
  /** Drain when elected and when woken; false leaves draining to explicit drainNow() calls. */
  readonly autoRun: boolean;
  readonly onChange: (changed: readonly TaskRecord[], removed: readonly string[], made?: readonly string[]) => void;
  readonly onRenew: (leases: ReadonlyArray<{ id: string; rev: number; leaseUntil: number }>) => void;
  readonly onDrained: (summary: DrainSummary) => void;
  /** A drain failed (IndexedDB refused, say); another is tried after a backoff. */
  readonly onError: (error: unknown) => void;
}

/** Backoff of drains that failed: 1 s doubling to 1 minute. */
const FAILED_DRAIN_MS = [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000];

/**
 * The executor in a page, for when no service worker can run the tasks. The tabs of an origin
 * elect one runner with a Web Lock held for the tab's life; the others ask it to drain over the
 * BroadcastChannel. When the runner's tab closes, the lock passes to another tab.
 * Loaded lazily by the client, so pages with a worker never download it.
 */
export class PageRunner {
  private readonly executor: Executor;
  private leader = false;
  private draining: Promise<void> | undefined;
  private again = false;
  private networkBack = false;
  private failures = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly stop = new AbortController();

  constructor(private readonly options: PageRunnerOptions) {
    this.executor = new Executor({
      store: options.store, tasks: options.tasks, concurrency: options.concurrency, leaseMs: options.leaseMs,
      now: options.now, online: options.online, onChange: options.onChange, onRenew: options.onRenew,
    });
    const locks = typeof navigator === 'undefined' ? undefined : (navigator as { locks?: LockManager }).locks;
    if (!locks) { this.leader = true; return; }
    locks.request(`halfsync:${options.store.name}:runner`, { signal: this.stop.signal }, () => {
      this.leader = true;
      if (options.autoRun) this.wake();
      return new Promise<void>((resolve) => this.stop.signal.addEventListener('abort', () => resolve(), { once: true }));
    }).catch(() => {});
  }

  /** Drains here when this tab is the runner; otherwise asks the runner. `networkBack`: the network has just returned. */
  wake(networkBack = false): void {
    if (this.leader) this.wakeIfLeader(networkBack);
    else this.options.post(networkBack ? { t: 'wake', networkBack } : { t: 'wake' });
  }

  /** Drains here when this tab is the runner (coalescing requests that arrive during a drain). */
  wakeIfLeader(networkBack = false): void {
    if (!this.leader || this.stop.signal.aborted) return;
    this.networkBack ||= networkBack;
    if (this.draining) { this.again = true; return; }
    this.draining = (async () => {
      do {
        this.again = false;
        const back = this.networkBack;
        this.networkBack = false;
        try {
          await this.drainNow(back);
          this.failures = 0;
        } catch (error) {
          // Nothing vanishes: the failure is reported and the drain tried again later.
          this.options.onError(error);
          const wait = FAILED_DRAIN_MS[Math.min(this.failures++, FAILED_DRAIN_MS.length - 1)]!;
          clearTimeout(this.retryTimer);
          this.retryTimer = setTimeout(() => this.wakeIfLeader(), wait);
        }
      } while (this.again && !this.stop.signal.aborted);
      this.draining = undefined;
    })();
  }

  /** Drains in this tab now, leader or not (the drain lock still keeps runners apart). */
  async drainNow(networkBack = false): Promise<DrainSummary> {
    const summary = await this.executor.drain({ signal: this.stop.signal, networkBack });
    this.options.post({ t: 'drained', summary });
    this.options.onDrained(summary);
    return summary;
  }

  /** Someone's sign-in or sign-out committed: only their tasks start from now on. */
  ownerChanged(state: OwnerState): void {
    this.executor.ownerChanged(state);
  }

  /** Stops draining and gives up the runner lock. */
  close(): void {
    clearTimeout(this.retryTimer);
    this.stop.abort();
  }
}
