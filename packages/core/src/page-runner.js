import { Executor } from './executor.js';
/**
 * The executor in a page, for when no service worker can run the tasks. The tabs of an origin
 * elect one runner with a Web Lock held for the tab's life; the others ask it to drain over the
 * BroadcastChannel. When the runner's tab closes, the lock passes to another tab.
 * Loaded lazily by the client, so pages with a worker never download it.
 */
export class PageRunner {
    options;
    executor;
    leader = false;
    draining;
    again = false;
    stop = new AbortController();
    constructor(options) {
        this.options = options;
        this.executor = new Executor({
            store: options.store, tasks: options.tasks, concurrency: options.concurrency, leaseMs: options.leaseMs,
            onChange: options.onChange,
        });
        const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
        if (!locks) {
            this.leader = true;
            return;
        }
        locks.request(`halfsync:${options.store.name}:runner`, { signal: this.stop.signal }, () => {
            this.leader = true;
            this.wake();
            return new Promise((resolve) => this.stop.signal.addEventListener('abort', () => resolve(), { once: true }));
        }).catch(() => { });
    }
    /** Whether this tab holds the runner lock. */
    get isLeader() {
        return this.leader;
    }
    /** Drains here when this tab is the runner; otherwise asks the runner. */
    wake() {
        if (this.leader)
            this.wakeIfLeader();
        else
            this.options.post({ t: 'wake' });
    }
    /** Drains here when this tab is the runner (coalescing requests that arrive during a drain). */
    wakeIfLeader() {
        if (!this.leader || this.stop.signal.aborted)
            return;
        if (this.draining) {
            this.again = true;
            return;
        }
        this.draining = (async () => {
            do {
                this.again = false;
                await this.drainNow().catch(() => { });
            } while (this.again && !this.stop.signal.aborted);
            this.draining = undefined;
        })();
    }
    /** Drains in this tab now, leader or not (the drain lock still keeps runners apart). */
    async drainNow() {
        const summary = await this.executor.drain({ signal: this.stop.signal });
        this.options.post({ t: 'drained', summary });
        this.options.onDrained(summary);
        return summary;
    }
    /** Stops draining and gives up the runner lock. */
    close() {
        this.stop.abort();
    }
}
//# sourceMappingURL=page-runner.js.map