import { describe, expect, it } from 'vitest';
import { freshDb, openAsSchema } from './helpers.js';
import { TaskStore } from '../src/store/store.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { loadAlive } from '../src/store/load.js';
import type { TaskRecord } from '../src/record.js';
import { writeVersion1 } from './fixtures/v1.js';

describe('schema upgrade', () => {
  it('upgrades a version 1 database without losing a task, placing lane heads and finished tasks', async () => {
    const name = freshDb();
    await writeVersion1(indexedDB, name);
    const store = new TaskStore(name);
    const db = await store.db();
    expect(db.version).toBe(SCHEMA_VERSION);
    expect([...db.objectStoreNames].sort()).toEqual(['gate', 'inbox', 'payloads', 'quarantine', 'state', 'tasks']);
    expect([...db.transaction('tasks').store.indexNames].sort()).toEqual(['after', 'due', 'id', 'lane', 'name', 'orderKey', 'owner', 'ownerStatus', 'priority', 'purge', 'status']);
    const all = await db.getAll('tasks');
    expect(all.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd', 'e']);
    const by = Object.fromEntries(all.map((r) => [r.id, r]));
    expect(by.a).toMatchObject({ lane: 'stats', due: 1_000, rev: 1 });
    expect(by.b).toMatchObject({ lane: 'stats' });
    expect(by.b!.due).toBeUndefined();
    expect(by.c).toMatchObject({ due: 1_000 });
    expect(by.c!.lane).toBeUndefined();
    expect(by.d!.purgeAt).toBeGreaterThan(0);
    expect(by.e).toMatchObject({ status: 'running', due: 5_000 });
    // Version 7: every task that may still run has the default priority, and is in the priority index.
    for (const id of ['a', 'b', 'c', 'e']) expect(by[id]!.priority).toBe(5);
    expect(by.d!.priority).toBeUndefined();
    const due = await db.getAllFromIndex('tasks', 'priority', IDBKeyRange.bound([5, -Infinity], [5, Infinity]));
    expect(due.map((r) => r.id).sort()).toEqual(['a', 'c', 'e']);
    store.close();
  });
});

describe('schema 11: the migration from schema 10', () => {
  it('keeps every record as it was and indexes each owned one by owner, status and defer time; a tab reads its user\'s pending work through it', async () => {
    const name = freshDb();
    const old = await openAsSchema(name, 10);
    const rec = (k: number, owner: string | undefined, status: TaskRecord['status']): TaskRecord => ({
      seq: k + 1, id: `r${k}`, name: 'echo', payload: { n: k }, status, attempts: 0, createdAt: 1_000 + k, updatedAt: 1_000 + k, nextRunAt: 1_000 + k,
      idempotencyKey: `key-${k}`, rev: 1, priority: 5, ...(owner === undefined ? {} : { owner }),
    } as TaskRecord);
    const records = [rec(0, 'bob', 'pending'), rec(1, 'alice', 'succeeded'), rec(2, 'alice', 'pending'), rec(3, undefined, 'pending'), rec(4, 'bob', 'pending'), rec(5, 'alice', 'pending')];
    for (const r of records) await old.put('tasks', r);
    old.close();
    const store = new TaskStore(name);
    const db = await store.db();
    expect(db.version).toBe(SCHEMA_VERSION);
    expect(await db.getAll('tasks')).toEqual(records);
    expect(await db.getAllKeysFromIndex('tasks', 'ownerStatus', IDBKeyRange.bound(['alice', 'pending', -Infinity], ['alice', 'pending', Infinity]))).toEqual([3, 6]);
    expect(await db.countFromIndex('tasks', 'ownerStatus')).toBe(5);
    const alice = await loadAlive(db, 0, 1, { owner: 'alice' });
    expect(alice.records.map((r) => r.id)).toEqual(['r2']);
    expect(alice.pendingBeyond).toBe(true);
    const signedOut = await loadAlive(db, 0, 1, { owner: undefined });
    expect(signedOut.records.map((r) => r.id)).toEqual(['r3']);
    expect(signedOut.pendingBeyond).toBe(false);
    store.close();
  });
});
