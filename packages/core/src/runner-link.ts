import { runnerNews, type ChannelMessage } from './channel.js';
import { toTask } from './record.js';
import type { ClientOptions } from './client-api.js';
import { HalfsyncError, storageError } from './errors.js';
import type { DrainSummary } from './executor.js';
import type { TaskModel } from './model.js';
import { askWorker, choosePath, unusedWorker, type ClientMode, type WorkerLink } from './paths.js';
import type { PageRunner } from './page-runner.js';
import { loadPageRunner } from './page-runner-load.js';
import type { OwnerState } from './store/owner-state.js';
import type { TaskStore } from './store/store.js';
import type { AnyTaskDefinition } from './task.js';
import { Waker } from './waker.js';

// Where a client's tasks run, and waking it: the path chosen at start (the worker through
// Background Sync or messages, or the page runner), the fallback when the worker stops answering,
// the page runner itself, and the events that wake the runner (a commit, `online`, the tab shown).

/** What the link needs of its client. */
export interface RunnerHost {
  readonly db: string;
  readonly store: TaskStore;
  readonly registry: ReadonlyMap<string, AnyTaskDefinition>;
  readonly model: TaskModel;
  /** The first load of the snapshot. */
  readonly loading: Promise<void>;
  now(): number;
  post(message: ChannelMessage): void;
  /** Says (or clears, with undefined) the client's `lastError`. */
  problem(error: HalfsyncError | undefined): void;
  closed(): boolean;
}

/** A client's link to whatever runs its tasks. */
export class RunnerLink {
  mode: ClientMode = 'starting';
  modeReason: HalfsyncError | undefined;
  readonly waker: Waker;
  #link: WorkerLink | undefined;
  #runner: Promise<PageRunner> | undefined;
  readonly #cleanup: Array<() => void> = [];

  constructor(private readonly host: RunnerHost, private readonly options: ClientOptions) {
    this.waker = new Waker({
      db: host.db, model: host.model, autoRun: options.autoRun !== false, workerTimeoutMs: this.#workerTimeoutMs,
      now: host.now, mode: () => this.mode, link: () => this.#link, pageRunner: () => this.pageRunner(), post: (m) => host.post(m),
      workerLost: (reason) => this.#fallBack(reason),
      runnerError: (error) => host.problem(error),
    });
  }

  get #workerTimeoutMs(): number { return this.options.workerTimeoutMs ?? 10_000; }

  /** Chooses the path once the snapshot is loaded, starts the waker, and wakes the runner for work left by an earlier visit. */
  async start(): Promise<ClientMode> {
    const host = this.host;
    const path = await choosePath(this.options.serviceWorker, host.db, this.#workerTimeoutMs);
    await host.loading;
    if (host.closed()) return this.mode;
    this.#link = path.link;
    this.modeReason = path.reason;
    // No worker asked for: say so if a halfsync worker controls the page (a forgotten option).
    if (!this.options.serviceWorker) {
      void unusedWorker(host.db).then((reason) => {
        if (!reason || host.closed() || this.mode !== 'page' || this.modeReason) return;
        this.modeReason = reason;
        host.model.changed(false);
      });
    }
    this.mode = path.mode;
    host.model.changed(false);
    this.#listen();
    if (this.mode === 'page') await this.pageRunner();
    this.waker.start();
    // Work left by an earlier visit, or a periodic task whose next run the runner keeps.
    const periodic = [...host.registry.values()].some((t) => 'schedule' in t);
    let alive = periodic;
    for (const t of host.model.values()) if (t.status === 'pending' || t.status === 'running') { alive = true; break; }
    if (alive) this.waker.wake({ fresh: true });
    return this.mode;
  }

  /** Asks the runner to drain now and resolves with what it did. */
  async drain(ready: Promise<ClientMode>): Promise<DrainSummary> {
    const mode = await ready;
    if (mode === 'page' || !this.#link) return (await this.pageRunner()).drainNow();
    const reply = await askWorker(this.#link, this.host.db, 'drain', 330_000);
    if (reply.op !== 'drain') throw new HalfsyncError('WORKER_UNAVAILABLE', 'the service worker gave an unexpected answer to a drain request');
    return reply.summary;
  }

  /** A sign-in or sign-out committed: a page runner of this tab starts no task of anyone else. */
  ownerChanged(state: OwnerState): void {
    void this.#runner?.then((r) => r.ownerChanged(state));
  }

  /** The messages about running: a drain's end, a page's request to drain; false for the others. */
  heard(m: ChannelMessage): boolean {
    if (m.t === 'drained') { this.host.problem(undefined); this.waker.drained(m.summary); return true; }
    if (m.t === 'wake') {
      if (this.mode === 'page' && this.options.autoRun !== false) void this.pageRunner().then((r) => r.wakeIfLeader(m.networkBack === true));
      return true;
    }
    return false;
  }

  /** Wakes the runner when the network returns and when the tab comes back into view. */
  #listen(): void {
    // Typed loosely so this module also type-checks without the DOM lib (worker builds import it).
    const g = globalThis as unknown as { addEventListener?: EventTarget['addEventListener']; removeEventListener?: EventTarget['removeEventListener']; document?: EventTarget & { visibilityState: string } };
    const doc = g.document;
    if (!doc || !g.addEventListener || !g.removeEventListener) return;
    const onOnline = () => this.waker.online();
    const onVisible = () => { if (doc.visibilityState === 'visible') this.waker.wake(); };
    g.addEventListener('online', onOnline);
    doc.addEventListener('visibilitychange', onVisible);
    this.#cleanup.push(() => g.removeEventListener!('online', onOnline), () => doc.removeEventListener('visibilitychange', onVisible));
  }

  /** The worker stopped answering: the page runner takes over, and the client says why. */
  #fallBack(reason: HalfsyncError): void {
    if (this.host.closed() || this.mode === 'page') return;
    this.mode = 'page';
    this.modeReason = reason;
    this.#link = undefined;
    this.host.problem(reason);
    this.host.model.changed(false);
    this.waker.wake({ fresh: true });
  }

  /** The page runner, loaded on first use. */
  pageRunner(): Promise<PageRunner> {
    if (this.#runner) return this.#runner;
    const { host, options } = this;
    const loading = loadPageRunner({
      store: host.store, tasks: host.registry, post: (m) => host.post(m),
      concurrency: options.concurrency, leaseMs: options.leaseMs, now: host.now, online: options.online,
      autoRun: options.autoRun !== false,
      onChange: (changed, removed, made) => {
        host.model.apply(changed, removed, false);
        // Every record the step wrote, as the worker says them, whether or not this tab holds it: other tabs may.
        if (changed.length > 0 || removed.length > 0) for (const m of runnerNews(changed.map(toTask), removed, made)) host.post(m);
      },
      onRenew: (leases) => { host.model.renewLeases(leases); host.post({ t: 'leases', leases }); },
      onDrained: (summary) => { host.problem(undefined); this.waker.drained(summary); },
      onError: (error) => {
        const coded = error instanceof HalfsyncError ? error : storageError(error, 'draining in the page runner');
        host.problem(coded);
        host.post({ t: 'error', code: coded.code, message: coded.message });
      },
    }, (reason) => {
      // The next wake (a defer, `online`, the tab shown again, drain()) imports it again.
      if (this.#runner === loading) this.#runner = undefined;
      host.problem(reason);
    });
    this.#runner = loading;
    return loading;
  }

  close(): void {
    this.waker.close();
    for (const f of this.#cleanup) f();
    void this.#runner?.then((r) => r.close());
  }
}
