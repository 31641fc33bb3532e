import type { DrainSummary } from './executor.js';
import type { Task } from './record.js';
/** What every tab and the worker say on the origin's BroadcastChannel. */
export type ChannelMessage = 
/** Committed changes: tasks written and ids deleted. */
{
    readonly t: 'changed';
    readonly tasks: readonly Task[];
    readonly removed: readonly string[];
}
/** A drain ended; `nextDueAt` tells pages when to wake the runner again. */
 | {
    readonly t: 'drained';
    readonly summary: DrainSummary;
}
/** A sync event ended (`browser-retry`: the worker rejected it so the browser retries). */
 | {
    readonly t: 'sync';
    readonly tag: string;
    readonly lastChance: boolean;
    readonly outcome: 'done' | 'browser-retry' | 'error';
}
/** A page without a runner asks the elected page runner to drain. */
 | {
    readonly t: 'wake';
};
/** A page's request to the worker, sent with `postMessage` and answered on `ports[0]`. */
export interface WorkerRequest {
    readonly halfsync: 1;
    readonly op: 'ping' | 'drain' | 'status';
    /** The database the page uses; the worker refuses a request for another one. */
    readonly db: string;
}
/** The worker's answer to a {@link WorkerRequest}. */
export type WorkerReply = {
    readonly ok: true;
    readonly op: 'ping';
    readonly tasks: readonly string[];
    readonly sync: boolean;
} | {
    readonly ok: true;
    readonly op: 'drain';
    readonly summary: DrainSummary;
} | {
    readonly ok: true;
    readonly op: 'status';
    readonly counts: Readonly<Record<string, number>>;
} | {
    readonly ok: false;
    readonly code: string;
    readonly message: string;
};
/** The BroadcastChannel name for a database. */
export declare const channelName: (db: string) => string;
/** Opens the channel where BroadcastChannel exists. */
export declare function openChannel(db: string, onMessage?: (m: ChannelMessage) => void): BroadcastChannel | undefined;
//# sourceMappingURL=channel.d.ts.map