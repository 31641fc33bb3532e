import { type TaskRecord } from './record.js';
import type { Outcome, TaskStore } from './store/store.js';
import type { AnyTaskDefinition } from './task.js';
/** Options of {@link Executor}. */
export interface ExecutorOptions {
    readonly store: TaskStore;
    readonly tasks: ReadonlyMap<string, AnyTaskDefinition>;
    /** Tasks run at once. Default 4. */
    readonly concurrency?: number;
    /** How long a claim holds a task before another runner may take it over, in ms. Default 30 000. The lease is renewed while the handler runs. */
    readonly leaseMs?: number;
    /** Called after every committed change, to broadcast it. */
    readonly onChange?: (changed: readonly TaskRecord[], removed: readonly string[]) => void;
    /** The clock; tests pass a manual one. */
    readonly now?: () => number;
    /** The jitter source; tests pass a fixed one. */
    readonly random?: () => number;
}
/** Options of one {@link Executor.drain}. */
export interface DrainOptions {
    /** Stops claiming and aborts running handlers (their tasks go back to pending, the attempt uncounted). */
    readonly signal?: AbortSignal;
    /** A time (ms since the epoch) at which to stop as if `signal` had fired. */
    readonly deadline?: number;
    /** Passed to handlers as `ctx.lastChance`. */
    readonly lastChance?: boolean;
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
    /** Why the drain returned. */
    readonly stopped: 'idle' | 'deadline' | 'aborted';
}
/** Decides whether a thrown value is permanent; works across realms by name too. */
export declare function classify(error: unknown, now: number): Outcome;
/**
 * Runs due tasks: one drain at a time across the worker and every tab (a Web Lock), each claimed
 * task leased in its record, at most `concurrency` handlers at once, order-key lanes one task at
 * a time. The same code runs in the service worker and, as a fallback, in a page.
 */
export declare class Executor {
    private readonly options;
    readonly owner: string;
    private readonly concurrency;
    private readonly leaseMs;
    private readonly now;
    private readonly random;
    private readonly policy;
    constructor(options: ExecutorOptions);
    /** Runs every due task, then returns what it did. Waits for the drain lock if another runner holds it. */
    drain(options?: DrainOptions): Promise<DrainSummary>;
    private run;
    private renew;
}
//# sourceMappingURL=executor.d.ts.map