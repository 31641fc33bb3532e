import { describe, expect, it } from 'vitest';
import { freshDb } from './helpers.js';
import { TaskStore } from '../src/store/store.js';
import { SCHEMA_VERSION } from '../src/store/schema.js';
import { writeVersion1 } from './fixtures/v1.js';

describe('schema upgrade', () => {
  it('upgrades a version 1 database without losing a task, placing lane heads and finished tasks', async () => {
    const name = freshDb();
    await writeVersion1(indexedDB, name);
    const store = new TaskStore(name);
    const db = await store.db();
    expect(db.version).toBe(SCHEMA_VERSION);
    expect([...db.objectStoreNames].sort()).toEqual(['gate', 'inbox', 'payloads', 'quarantine', 'state', 'tasks']);
    expect([...db.transaction('tasks').store.indexNames].sort()).toEqual(['after', 'due', 'id', 'lane', 'name', 'orderKey', 'owner', 'priority', 'purge', 'status']);
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
