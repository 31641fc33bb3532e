import { DEFAULT_RETENTION } from '../task.js';
/** The current schema version. */
export const SCHEMA_VERSION = 2;
/**
 * Upgrades, in order, from each version to the next. Version 1 was the first layout: one
 * `tasks` store keyed by an autoIncrement `seq`, with `id` and `status` indexes, and records that
 * carried `orderKey` only. Version 2 adds the executor's indexes (`due`, `lane`, `purge`), the
 * `quarantine` store, and fills the new fields of every record written by version 1.
 */
export const MIGRATIONS = [
    // 0 → 1
    (db) => {
        const tasks = db.createObjectStore('tasks', { keyPath: 'seq', autoIncrement: true });
        tasks.createIndex('id', 'id', { unique: true });
        // Version 1 had a status index; version 2 removes it.
        tasks.createIndex('status', 'status');
    },
    // 1 → 2
    async (db, tx) => {
        const tasks = tx.objectStore('tasks');
        tasks.deleteIndex('status');
        tasks.createIndex('due', 'due');
        tasks.createIndex('lane', 'lane');
        tasks.createIndex('purge', 'purgeAt');
        db.createObjectStore('quarantine', { keyPath: 'seq' });
        const lanes = new Set();
        for (let cursor = await tasks.openCursor(); cursor; cursor = await cursor.continue()) {
            const r = cursor.value;
            const upgraded = { ...r, rev: typeof r.rev === 'number' ? r.rev : 1 };
            const active = r.status === 'pending' || r.status === 'running' || r.status === 'failed';
            if (active && typeof r.orderKey === 'string')
                upgraded.lane = r.orderKey;
            if (r.status === 'running')
                upgraded.due = r.leaseUntil ?? 0;
            else if (r.status === 'pending' && !(upgraded.lane !== undefined && lanes.has(upgraded.lane)))
                upgraded.due = r.nextRunAt;
            else if (r.status === 'succeeded' || r.status === 'cancelled')
                upgraded.purgeAt = r.updatedAt + DEFAULT_RETENTION.finishedMs;
            if (upgraded.lane !== undefined)
                lanes.add(upgraded.lane);
            await cursor.update(upgraded);
        }
    },
];
//# sourceMappingURL=schema.js.map