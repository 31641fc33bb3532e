import type { ChannelMessage } from './channel.js';
import { type DrainSummary } from './executor.js';
import type { TaskRecord } from './record.js';
import type { TaskStore } from './store/store.js';
import type { AnyTaskDefinition } from './task.js';
/** Options of {@link PageRunner}. */
export interface PageRunnerOptions {
    readonly store: TaskStore;
    readonly tasks: ReadonlyMap<string, AnyTaskDefinition>;
    /** Posts on the origin's BroadcastChannel (a no-op once the client is closed). */
    readonly post: (message: ChannelMessage) => void;
    readonly concurrency: number | undefined;
    readonly leaseMs: number | undefined;
    readonly onChange: (changed: readonly TaskRecord[], removed: readonly string[]) => void;
    readonly onDrained: (summary: DrainSummary) => void;
}
/**
 * The executor in a page, for when no service worker can run the tasks. The tabs of an origin
 * elect one runner with a Web Lock held for the tab's life; the others ask it to drain over the
 * BroadcastChannel. When the runner's tab closes, the lock passes to another tab.
 * Loaded lazily by the client, so pages with a worker never download it.
 */
export declare class PageRunner {
    private readonly options;
    private readonly executor;
    private leader;
    private draining;
    private again;
    private readonly stop;
    constructor(options: PageRunnerOptions);
    /** Whether this tab holds the runner lock. */
    get isLeader(): boolean;
    /** Drains here when this tab is the runner; otherwise asks the runner. */
    wake(): void;
    /** Drains here when this tab is the runner (coalescing requests that arrive during a drain). */
    wakeIfLeader(): void;
    /** Drains in this tab now, leader or not (the drain lock still keeps runners apart). */
    drainNow(): Promise<DrainSummary>;
    /** Stops draining and gives up the runner lock. */
    close(): void;
}
//# sourceMappingURL=page-runner.d.ts.map