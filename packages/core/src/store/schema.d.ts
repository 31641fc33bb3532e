import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb';
import type { TaskRecord } from '../record.js';
/** A record moved aside because it did not validate. */
export interface QuarantinedRecord {
    /** The primary key it had in `tasks`. */
    seq: number;
    /** Why it was moved. */
    reason: string;
    /** When. */
    at: number;
    /** The record as it was read. */
    record: unknown;
}
/** The IndexedDB schema, current version. */
export interface HalfsyncSchema extends DBSchema {
    tasks: {
        key: number;
        value: TaskRecord;
        indexes: {
            id: string;
            due: number;
            lane: string;
            purge: number;
        };
    };
    quarantine: {
        key: number;
        value: QuarantinedRecord;
    };
}
/** The current schema version. */
export declare const SCHEMA_VERSION = 2;
type UpgradeTx = IDBPTransaction<HalfsyncSchema, StoreNames<HalfsyncSchema>[], 'versionchange'>;
type Migration = (db: IDBPDatabase<HalfsyncSchema>, tx: UpgradeTx) => Promise<void> | void;
/**
 * Upgrades, in order, from each version to the next. Version 1 was the first layout: one
 * `tasks` store keyed by an autoIncrement `seq`, with `id` and `status` indexes, and records that
 * carried `orderKey` only. Version 2 adds the executor's indexes (`due`, `lane`, `purge`), the
 * `quarantine` store, and fills the new fields of every record written by version 1.
 */
export declare const MIGRATIONS: readonly Migration[];
export {};
//# sourceMappingURL=schema.d.ts.map