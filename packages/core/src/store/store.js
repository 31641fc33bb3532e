import { openDB } from 'idb';
import { HalfsyncError, storageError } from '../errors.js';
import { retryDelay } from '../backoff.js';
import { claim, fail, recordProblem, release, renew, requeue, retryLater, succeed, cancel, } from '../record.js';
import { DEFAULT_RETENTION, DEFAULT_RETRY } from '../task.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema.js';
const UNKNOWN_TASK_DELAY_MS = 60_000;
const PURGE_BATCH = 50;
const policyOrDefault = (policy, name) => policy(name) ?? { retry: DEFAULT_RETRY, retention: DEFAULT_RETENTION };
/**
 * The one owner of halfsync's IndexedDB records: every state transition happens here, each in
 * one transaction. Defers commit with strict durability (they are the user's only copy); the
 * executor's claims and settlements commit relaxed, because losing one in a crash only means the
 * task runs again, which at-least-once with idempotency keys already allows.
 */
export class TaskStore {
    name;
    factory;
    opening;
    constructor(name, factory) {
        this.name = name;
        this.factory = factory;
    }
    /** Opens (or reopens after another tab's upgrade closed it) the database. */
    db() {
        if (this.opening)
            return this.opening;
        const factory = this.factory ?? (typeof indexedDB === 'undefined' ? undefined : indexedDB);
        if (!factory) {
            return Promise.reject(new HalfsyncError('STORAGE_UNAVAILABLE', 'IndexedDB is not available in this context; halfsync needs it to store deferred work'));
        }
        const original = globalThis.indexedDB;
        // idb opens through the global; point it at the injected factory for the duration of the call.
        if (this.factory && original !== this.factory)
            globalThis.indexedDB = this.factory;
        let opening;
        try {
            opening = openDB(this.name, SCHEMA_VERSION, {
                upgrade: (db, oldVersion, _newVersion, tx) => {
                    let chain = Promise.resolve();
                    for (let v = oldVersion; v < SCHEMA_VERSION; v++)
                        chain = chain.then(() => MIGRATIONS[v](db, tx));
                    chain.catch(() => tx.abort());
                },
                blocking: () => this.forget(),
                terminated: () => this.forget(),
            });
        }
        finally {
            if (this.factory && original !== this.factory)
                globalThis.indexedDB = original;
        }
        this.opening = opening.then((db) => {
            db.addEventListener('close', () => this.forget());
            return db;
        }, (error) => {
            this.opening = undefined;
            if (error?.name === 'VersionError') {
                throw new HalfsyncError('STORAGE_UNAVAILABLE', `the database "${this.name}" was upgraded by a newer version of this app; reload the page to load it`, { cause: error });
            }
            throw storageError(error, `opening the database "${this.name}"`);
        });
        return this.opening;
    }
    forget() {
        const opening = this.opening;
        this.opening = undefined;
        opening?.then((db) => db.close(), () => { });
    }
    /** Closes the connection. */
    close() {
        this.forget();
    }
    async tx(durability) {
        const db = await this.db();
        try {
            return db.transaction(['tasks', 'quarantine'], 'readwrite', { durability });
        }
        catch (error) {
            this.forget();
            throw storageError(error, 'starting a transaction');
        }
    }
    /** Sets `due` for a pending record by whether it heads its lane. */
    async placeInLane(tx, r) {
        if (r.lane === undefined || r.status !== 'pending')
            return;
        const head = await tx.objectStore('tasks').index('lane').getKey(r.lane);
        const isHead = head === undefined || ('seq' in r && head === r.seq);
        if (isHead)
            r.due = r.nextRunAt;
        else
            delete r.due;
    }
    /** After a record left a lane: lets the new head run. */
    async promote(tx, lane, now, changed) {
        const cursor = await tx.objectStore('tasks').index('lane').openCursor(lane);
        if (!cursor)
            return;
        const head = cursor.value;
        if (head.status === 'pending' && head.due === undefined) {
            const up = { ...head, due: head.nextRunAt, rev: head.rev + 1, updatedAt: now };
            await cursor.update(up);
            changed.set(up.seq, up);
        }
    }
    /** Commits a batch of new tasks in one transaction with strict durability. */
    async insert(records) {
        const tx = await this.tx('strict');
        const store = tx.objectStore('tasks');
        const out = [];
        try {
            for (const record of records) {
                const r = { ...record };
                await this.placeInLane(tx, r);
                try {
                    const seq = await store.add(r);
                    out.push({ ...r, seq });
                }
                catch (error) {
                    // add() throws synchronously for a value the browser refuses (DataCloneError); the
                    // other records of the batch keep their place.
                    if (error?.name !== 'DataCloneError')
                        throw error;
                    out.push(new HalfsyncError('PAYLOAD_NOT_CLONEABLE', `task "${r.name}": this browser refused to store the payload (${error.message})`, { cause: error }));
                }
            }
            await tx.done;
        }
        catch (error) {
            tx.done.catch(() => { });
            try {
                tx.abort();
            }
            catch { /* already finished */ }
            throw storageError(error, 'storing deferred tasks');
        }
        return out;
    }
    /**
     * One executor step in one transaction: writes the settlements, purges expired finished tasks,
     * quarantines unreadable records and claims up to `limit` due tasks.
     */
    async pump(input) {
        const { now, owner, leaseMs, policy } = input;
        const tx = await this.tx('relaxed');
        const store = tx.objectStore('tasks');
        const changed = new Map();
        const removed = [];
        const claimed = [];
        const counts = { succeeded: 0, retried: 0, failed: 0, quarantined: 0, purged: 0 };
        const leftLanes = new Set();
        const put = async (r) => { await store.put(r); changed.set(r.seq, r); };
        const quarantine = async (seq, raw, reason) => {
            await tx.objectStore('quarantine').put({ seq, reason, at: now, record: raw });
            await store.delete(seq);
            counts.quarantined++;
            const id = raw?.id;
            if (typeof id === 'string')
                removed.push(id);
        };
        try {
            for (const s of input.settlements) {
                const r = await store.get(s.seq);
                // Lease lost: another runner took the task over and will settle it.
                if (!r || r.status !== 'running' || r.leaseOwner !== s.owner)
                    continue;
                const { retry, retention } = policyOrDefault(policy, r.name);
                let up;
                const o = s.outcome;
                if (o.kind === 'ok') {
                    up = succeed(r, now, o.result, retention);
                    counts.succeeded++;
                }
                else if (o.kind === 'release')
                    up = release(r, now);
                else if (o.kind === 'fail' || r.attempts >= retry.maxAttempts) {
                    up = fail(r, now, o.error);
                    counts.failed++;
                }
                else {
                    up = retryLater(r, now, o.error, retryDelay(r.attempts, retry, o.retryAfterMs, input.random));
                    counts.retried++;
                }
                try {
                    await put(up);
                }
                catch (error) {
                    if (error?.name !== 'DataCloneError')
                        throw error;
                    up = fail(r, now, { code: 'RESULT_NOT_CLONEABLE', message: `the handler's result cannot be stored: ${error.message}; return plain data`, permanent: true, at: now });
                    counts.succeeded--;
                    counts.failed++;
                    await put(up);
                }
                if (r.lane !== undefined && up.lane === undefined)
                    leftLanes.add(r.lane);
            }
            // Promote before claiming, so the next task of a lane can run in this same step.
            for (const lane of leftLanes)
                await this.promote(tx, lane, now, changed);
            for (let cursor = await store.index('purge').openCursor(IDBKeyRange.upperBound(now)), n = 0; cursor && n < PURGE_BATCH; cursor = await cursor.continue(), n++) {
                removed.push(cursor.value.id);
                counts.purged++;
                await cursor.delete();
            }
            if (input.limit > 0) {
                for (let cursor = await store.index('due').openCursor(IDBKeyRange.upperBound(now)); cursor && claimed.length < input.limit; cursor = await cursor.continue()) {
                    const raw = cursor.value;
                    const problem = recordProblem(raw);
                    if (problem) {
                        await quarantine(cursor.primaryKey, raw, problem);
                        continue;
                    }
                    const r = cursor.value;
                    if (input.skip.has(r.id))
                        continue;
                    const known = policy(r.name);
                    if (r.status !== 'pending' && r.status !== 'running') {
                        await put({ ...r, due: undefined, rev: r.rev + 1 });
                        continue;
                    }
                    if (!known) {
                        const error = { code: 'UNKNOWN_TASK', message: `this executor has no definition of task "${r.name}"; import it in the worker's tasks list`, permanent: false, at: now };
                        await put({ ...r, status: 'pending', lastError: error, nextRunAt: now + UNKNOWN_TASK_DELAY_MS, due: now + UNKNOWN_TASK_DELAY_MS, rev: r.rev + 1, updatedAt: now, leaseOwner: undefined, leaseUntil: undefined });
                        continue;
                    }
                    if (now - r.createdAt > known.retention.maxAgeMs) {
                        await put(fail(r, now, { code: 'EXPIRED', message: `the task is older than its retention (${known.retention.maxAgeMs} ms) and was not run again`, permanent: true, at: now }));
                        counts.failed++;
                        continue;
                    }
                    if (r.status === 'running' && r.attempts >= known.retry.maxAttempts) {
                        await put(fail(r, now, { code: 'CRASHED', message: `the runner stopped during each of ${r.attempts} attempts`, permanent: true, at: now }));
                        counts.failed++;
                        continue;
                    }
                    const up = claim(r, now, owner, leaseMs);
                    await put(up);
                    claimed.push(up);
                }
            }
            let nextDueAt;
            let dueNow;
            if (input.inspect) {
                nextDueAt = (await store.index('due').openKeyCursor(IDBKeyRange.lowerBound(now, true)))?.key;
                dueNow = await store.index('due').count(IDBKeyRange.upperBound(now));
            }
            await tx.done;
            return { changed: [...changed.values()], removed, claimed, ...counts, nextDueAt, dueNow };
        }
        catch (error) {
            tx.done.catch(() => { });
            try {
                tx.abort();
            }
            catch { /* already finished */ }
            throw storageError(error, 'running the executor');
        }
    }
    /** Extends the leases this owner holds; returns the records renewed (missing ones were lost). */
    async renew(seqs, owner, now, leaseMs) {
        const tx = await this.tx('relaxed');
        const store = tx.objectStore('tasks');
        const out = [];
        for (const seq of seqs) {
            const r = await store.get(seq);
            if (r && r.status === 'running' && r.leaseOwner === owner) {
                const up = renew(r, now, leaseMs);
                await store.put(up);
                out.push(up);
            }
        }
        await tx.done;
        return out;
    }
    /**
     * A user's operation on one task, by id: `retry` (failed → pending), `cancel` (pending →
     * cancelled) or `acknowledge` (a finished task is deleted).
     */
    async modify(id, op, now, retention) {
        const tx = await this.tx('strict');
        const store = tx.objectStore('tasks');
        const changed = new Map();
        const removed = [];
        try {
            const r = await store.index('id').get(id);
            if (!r)
                throw new HalfsyncError('TASK_NOT_FOUND', `no task with id "${id}"; it was never deferred here or was already acknowledged`, { details: { id } });
            const refuse = (what) => {
                throw new HalfsyncError('INVALID_TRANSITION', `cannot ${op} task "${r.name}" (${id}): it is ${r.status}; ${what}`, { details: { id, status: r.status } });
            };
            if (op === 'retry') {
                if (r.status !== 'failed')
                    refuse('only failed tasks can be retried');
                const up = requeue(r, now);
                await this.placeInLane(tx, up);
                await store.put(up);
                changed.set(up.seq, up);
            }
            else if (op === 'cancel') {
                if (r.status !== 'pending')
                    refuse(r.status === 'running' ? 'wait for it to settle' : 'only pending tasks can be cancelled');
                const up = cancel(r, now, retention);
                await store.put(up);
                changed.set(up.seq, up);
                if (r.lane !== undefined)
                    await this.promote(tx, r.lane, now, changed);
            }
            else {
                if (r.status === 'pending' || r.status === 'running')
                    refuse('cancel it or wait for it to finish first');
                await store.delete(r.seq);
                removed.push(id);
                if (r.lane !== undefined)
                    await this.promote(tx, r.lane, now, changed);
            }
            await tx.done;
        }
        catch (error) {
            tx.done.catch(() => { });
            try {
                tx.abort();
            }
            catch { /* already finished */ }
            throw storageError(error, `${op} of task ${id}`);
        }
        return { changed: [...changed.values()], removed };
    }
    /** Reads every task in commit order; unreadable records are moved to quarantine. */
    async loadAll(now) {
        const db = await this.db();
        let all;
        try {
            all = await db.getAll('tasks');
        }
        catch (error) {
            throw storageError(error, 'reading tasks');
        }
        const good = [];
        const bad = [];
        for (const raw of all) {
            const problem = recordProblem(raw);
            if (problem)
                bad.push({ raw, reason: problem });
            else
                good.push(raw);
        }
        if (bad.length > 0) {
            const tx = await this.tx('relaxed');
            for (const { raw, reason } of bad) {
                // The key path guarantees that seq is a valid key, even when the rest of the record is not.
                const seq = raw.seq;
                await tx.objectStore('quarantine').put({ seq, reason, at: now, record: raw });
                await tx.objectStore('tasks').delete(seq);
            }
            await tx.done;
        }
        return good;
    }
    /** Reads the quarantine. */
    async quarantined() {
        return (await this.db()).getAll('quarantine');
    }
}
//# sourceMappingURL=store.js.map