import { type IDBPDatabase } from 'idb';
import { HalfsyncError } from '../errors.js';
import { type NewTaskRecord, type TaskError, type TaskRecord } from '../record.js';
import { type RetentionPolicy, type RetryPolicy } from '../task.js';
import { type HalfsyncSchema } from './schema.js';
/** How a run ended, as the executor reports it to the store. */
export type Outcome = {
    readonly kind: 'ok';
    readonly result: unknown;
} | {
    readonly kind: 'retry';
    readonly error: TaskError;
    readonly retryAfterMs?: number | undefined;
} | {
    readonly kind: 'fail';
    readonly error: TaskError;
} | {
    readonly kind: 'release';
};
/** A finished run waiting to be written. */
export interface Settlement {
    readonly seq: number;
    readonly owner: string;
    readonly outcome: Outcome;
}
/** A task's policies as the executor knows them; undefined when the executor lacks the definition. */
export type PolicyOf = (name: string) => {
    retry: RetryPolicy;
    retention: RetentionPolicy;
} | undefined;
/** The input of {@link TaskStore.pump}. */
export interface PumpInput {
    readonly now: number;
    readonly owner: string;
    readonly leaseMs: number;
    /** How many due tasks to claim. */
    readonly limit: number;
    readonly settlements: readonly Settlement[];
    /** Ids this executor is running: never claimed twice. */
    readonly skip: ReadonlySet<string>;
    readonly policy: PolicyOf;
    readonly random: () => number;
    /** Also report `nextDueAt` and `dueNow`. */
    readonly inspect?: boolean;
}
/** What a pump did. */
export interface PumpOutput {
    /** Records written (for broadcasting), in write order. */
    readonly changed: TaskRecord[];
    /** Ids of records deleted (purged or quarantined). */
    readonly removed: string[];
    /** Records claimed for running. */
    readonly claimed: TaskRecord[];
    readonly succeeded: number;
    readonly retried: number;
    readonly failed: number;
    readonly quarantined: number;
    readonly purged: number;
    /** With `inspect`: the earliest future time a task becomes due. */
    readonly nextDueAt?: number | undefined;
    /** With `inspect`: how many tasks are due now and unclaimed. */
    readonly dueNow?: number;
}
/**
 * The one owner of halfsync's IndexedDB records: every state transition happens here, each in
 * one transaction. Defers commit with strict durability (they are the user's only copy); the
 * executor's claims and settlements commit relaxed, because losing one in a crash only means the
 * task runs again, which at-least-once with idempotency keys already allows.
 */
export declare class TaskStore {
    readonly name: string;
    private readonly factory?;
    private opening;
    constructor(name: string, factory?: IDBFactory | undefined);
    /** Opens (or reopens after another tab's upgrade closed it) the database. */
    db(): Promise<IDBPDatabase<HalfsyncSchema>>;
    private forget;
    /** Closes the connection. */
    close(): void;
    private tx;
    /** Sets `due` for a pending record by whether it heads its lane. */
    private placeInLane;
    /** After a record left a lane: lets the new head run. */
    private promote;
    /** Commits a batch of new tasks in one transaction with strict durability. */
    insert(records: readonly NewTaskRecord[]): Promise<Array<TaskRecord | HalfsyncError>>;
    /**
     * One executor step in one transaction: writes the settlements, purges expired finished tasks,
     * quarantines unreadable records and claims up to `limit` due tasks.
     */
    pump(input: PumpInput): Promise<PumpOutput>;
    /** Extends the leases this owner holds; returns the records renewed (missing ones were lost). */
    renew(seqs: readonly number[], owner: string, now: number, leaseMs: number): Promise<TaskRecord[]>;
    /**
     * A user's operation on one task, by id: `retry` (failed → pending), `cancel` (pending →
     * cancelled) or `acknowledge` (a finished task is deleted).
     */
    modify(id: string, op: 'retry' | 'cancel' | 'acknowledge', now: number, retention: RetentionPolicy): Promise<{
        changed: TaskRecord[];
        removed: string[];
    }>;
    /** Reads every task in commit order; unreadable records are moved to quarantine. */
    loadAll(now: number): Promise<TaskRecord[]>;
    /** Reads the quarantine. */
    quarantined(): Promise<Array<{
        seq: number;
        reason: string;
        at: number;
        record: unknown;
    }>>;
}
//# sourceMappingURL=store.d.ts.map