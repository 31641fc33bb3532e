import type { Workbox } from 'workbox-window';
import { HalfsyncError } from './errors.js';
import type { DrainSummary } from './executor.js';
import { type Task } from './record.js';
import { type AnyTaskDefinition, type TaskDefinition } from './task.js';
/**
 * Which path completes the deferred work in this tab:
 * - `sync`: a service worker woken by Background Sync (Chromium);
 * - `message`: a service worker woken by messages from pages (Firefox, Safari);
 * - `page`: no worker; a page runner elected by a Web Lock runs the same executor;
 * - `starting`: not decided yet (see {@link HalfsyncClient.ready}).
 */
export type ClientMode = 'starting' | 'sync' | 'message' | 'page';
/** A service worker to complete the work: its script URL, a `Workbox` instance, or `false` for none. */
export type ServiceWorkerOption = string | {
    url: string;
    scope?: string;
    type?: 'classic' | 'module';
} | Workbox | false;
/** Options of {@link createClient}. */
export interface ClientOptions {
    /** Every task this page may defer; the worker must be given the same list. */
    readonly tasks: readonly AnyTaskDefinition[];
    /** The IndexedDB database name. Default `"halfsync"`. */
    readonly dbName?: string;
    /** The service worker that runs the tasks. Default `false`: tasks run in a page runner. */
    readonly serviceWorker?: ServiceWorkerOption;
    /** The largest payload accepted by `defer`, approximately in bytes. Default 1 MiB. */
    readonly maxPayloadBytes?: number;
    /** Page runner: tasks run at once. Default 4. */
    readonly concurrency?: number;
    /** Page runner: the lease of a claimed task, in ms. Default 30 000. */
    readonly leaseMs?: number;
    /** Ask the browser for persistent storage so the queue is not evicted. Default true. */
    readonly persistStorage?: boolean;
    /** How long to wait for the worker's answer when choosing a path, in ms. Default 10 000. */
    readonly workerTimeoutMs?: number;
}
/** Options of {@link HalfsyncClient.defer}. */
export interface DeferOptions {
    /** Tasks with the same order key run one at a time in deferral order; overrides the task's own. */
    readonly orderKey?: string;
    /** Do not run before this many ms from now. */
    readonly delay?: number;
    /** The key the server deduplicates by. Default: the task id. */
    readonly idempotencyKey?: string;
}
/** What `defer` returns at once. */
export interface DeferHandle<Result> {
    /** The task's id. */
    readonly id: string;
    /** Resolves once the task is committed to IndexedDB with strict durability. */
    readonly persisted: Promise<Task>;
    /** Resolves with the handler's result; rejects with `TASK_FAILED` or `TASK_CANCELLED`. */
    readonly result: Promise<Result>;
}
/** The page's handle on the queue. Create one per database with {@link createClient}. */
export interface HalfsyncClient {
    /** The current path; see {@link ClientMode}. */
    readonly mode: ClientMode;
    /** Why the client fell back to the page runner, when it did. */
    readonly modeReason: HalfsyncError | undefined;
    /** Resolves with the chosen mode once the snapshot is loaded and the worker answered. */
    readonly ready: Promise<ClientMode>;
    /** Resolves with whether the browser granted persistent storage (false where it cannot say). */
    readonly persistentStorage: Promise<boolean>;
    /**
     * The async half: validates and stores `payload` for `task`, and returns at once. The task is in
     * the snapshot (status `pending`) before `defer` returns. Throws a {@link HalfsyncError} for bad
     * input, before anything is written.
     */
    defer<Payload, Result>(task: TaskDefinition<Payload, Result>, payload: Payload, options?: DeferOptions): DeferHandle<Result>;
    /** Every known task in commit order; a new array only when something changed. */
    getSnapshot(): readonly Task[];
    /** Calls `listener` after every change of the snapshot or mode; returns the unsubscribe function. */
    subscribe(listener: () => void): () => void;
    /** One task by id. */
    get(id: string): Task | undefined;
    /** Waits for a task's result (one deferred before a reload, say). */
    result<Result = unknown>(id: string): Promise<Result>;
    /** Runs a failed task again, with a fresh set of attempts. */
    retry(id: string): Promise<void>;
    /** Cancels a pending task. */
    cancel(id: string): Promise<void>;
    /** Deletes a finished (succeeded, failed or cancelled) task. */
    acknowledge(id: string): Promise<void>;
    /** Asks the runner to drain now and resolves with what it did. */
    drain(): Promise<DrainSummary>;
    /** Records moved aside because they could not be read. */
    quarantined(): Promise<Array<{
        seq: number;
        reason: string;
        at: number;
        record: unknown;
    }>>;
    /** Stops listening, releases the page runner and closes the database. */
    close(): void;
}
/**
 * Creates the page's client: it defers tasks, keeps a live snapshot of every task (from this tab,
 * other tabs and the worker), and wakes the runner that completes them.
 *
 * @example
 * ```ts
 * import { createClient } from '@halfsync/core';
 * import { sendEmail } from './tasks';
 * const client = createClient({ tasks: [sendEmail], serviceWorker: '/sw.js' });
 * const handle = client.defer(sendEmail, { to: 'a@example.com', subject: 'Hi' });
 * await handle.persisted; // on disk: survives a reload, a closed tab, a browser restart
 * ```
 */
export declare function createClient(options: ClientOptions): HalfsyncClient;
//# sourceMappingURL=client.d.ts.map