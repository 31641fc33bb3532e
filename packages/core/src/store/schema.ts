import type { DBSchema, IDBPDatabase, IDBPTransaction, StoreNames } from 'idb';
import { laneOf, parentsDone, type TaskRecord } from '../record.js';
import { DEFAULT_PRIORITY, DEFAULT_RETENTION } from '../task.js';
import { small } from './payloads.js';

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
  /** The payload the record kept apart (store/payloads.ts), if it did. */
  payload?: unknown;
}

/** The IndexedDB schema, current version. */
export interface HalfsyncSchema extends DBSchema {
  tasks: {
    key: number;
    value: TaskRecord;
    indexes: { id: string; due: number; lane: string; purge: number; status: [string, number]; name: [string, number]; orderKey: [string, number]; after: string; owner: string; priority: [number, number]; ownerStatus: [string, string, number] };
  };
  quarantine: { key: number; value: QuarantinedRecord };
  /** Small durable facts every runner reads: `owner`, who is signed in (a worker reads it with every tab closed). */
  state: { key: string; value: StateRow };
  /**
   * Plain tasks (no lane, parents or supersede key) as their defers committed, until a runner or a
   * tab moves them into `tasks` (store/inbox.ts). A defer writes here only, so it never waits
   * behind a drain's transactions over `tasks`.
   */
  inbox: { key: number; value: TaskRecord; indexes: { id: string; priority: number } };
  /** The owner state the inbox admits defers under: written by a sign-in or sign-out in the same transaction as `state`'s. */
  gate: { key: string; value: StateRow };
  /**
   * The payloads of tasks in `tasks` whose payload is large (store/payloads.ts), by task id: a
   * claim, a renewal and a settlement rewrite the task's record, not its payload.
   */
  payloads: { key: string; value: PayloadRow };
}

/** A row of the `payloads` store: one task's payload. */
export interface PayloadRow { id: string; payload: unknown }

/** A row of the `state` and `gate` stores. */
export interface StateRow { key: string; value: unknown; at: number; version?: number }

/**
 * Where the inbox's keys start: above every key `tasks` gives out, so a task still in the inbox
 * sorts after every task moved on (it committed later). Its key changes when it moves. (The first
 * insert moves the key generator up: store.ts. An upgrade writes nothing, so the browser's view of
 * the free space is not taken before the app's first write.)
 */
export const INBOX_FIRST_SEQ = 2 ** 40;

/** The range of `ownerStatus` that holds `owner`'s pending tasks, oldest first. */
export const ownerPending = (owner: string): IDBKeyRange => IDBKeyRange.bound([owner, 'pending', -Infinity], [owner, 'pending', Infinity]);

/** The current schema version. */
export const SCHEMA_VERSION = 11;

type UpgradeTx = IDBPTransaction<HalfsyncSchema, StoreNames<HalfsyncSchema>[], 'versionchange'>;
type Migration = (db: IDBPDatabase<HalfsyncSchema>, tx: UpgradeTx) => Promise<void> | void;

/**
 * Upgrades, in order, from each version to the next. Version 1 was the first layout: one
 * `tasks` store keyed by an autoIncrement `seq`, with `id` and `status` indexes, and records that
 * carried `orderKey` only. Version 2 adds the executor's indexes (`due`, `lane`, `purge`), the
 * `quarantine` store, and fills the new fields of every record written by version 1. Version 3
 * adds the indexes a bounded client reads through: `status`, `name` and `orderKey`, each with
 * `createdAt` second, so a tab loads only what is alive and pages the rest newest first (the
 * browser builds them from the records already there: nothing is rewritten). Version 4 adds
 * `after`, a multi-entry index from each parent id to the tasks that run after it. Version 5 adds
 * the `owner` index (whose action a task was) and the `state` store (who is signed in). Version 6
 * makes lanes per owner (`laneOf`): each owned task's lane is rewritten in lane order, and a pending
 * task of the owner signed in that now heads its lane becomes due (another user's held task no
 * longer stands in front of it). Version 7 adds the `priority` index (priority, then due time), and
 * gives every task that may still run (pending, running, failed) the default priority, 5. Version 8
 * adds the `inbox` store (keys from {@link INBOX_FIRST_SEQ}) and the `gate` store, with the owner
 * state as committed; no task record is rewritten. Version 9 adds the `payloads` store, and moves
 * each large payload of `tasks` there (store/payloads.ts's `split`); small ones stay in their record.
 * Version 10 adds the inbox's `priority` index, so that the move takes the highest priority first
 * (the browser builds it from the records there: nothing is rewritten). Version 11 adds
 * `ownerStatus` (owner, status, then `createdAt`), so that a tab reads the pending work of the user
 * signed in without passing over another user's (nothing is rewritten).
 */
export const MIGRATIONS: readonly Migration[] = [
  // 0 → 1
  (db) => {
    const tasks = db.createObjectStore('tasks', { keyPath: 'seq', autoIncrement: true });
    tasks.createIndex('id', 'id', { unique: true });
    // Version 1 had a status index; version 2 removes it.
    (tasks as unknown as IDBObjectStore).createIndex('status', 'status');
  },
  // 1 → 2
  async (db, tx) => {
    const tasks = tx.objectStore('tasks');
    (tasks as unknown as IDBObjectStore).deleteIndex('status');
    tasks.createIndex('due', 'due');
    tasks.createIndex('lane', 'lane');
    tasks.createIndex('purge', 'purgeAt');
    db.createObjectStore('quarantine', { keyPath: 'seq' });
    const lanes = new Set<string>();
    for (let cursor = await tasks.openCursor(); cursor; cursor = await cursor.continue()) {
      const r = cursor.value as TaskRecord & { rev?: number };
      const upgraded: TaskRecord = { ...r, rev: typeof r.rev === 'number' ? r.rev : 1 };
      const active = r.status === 'pending' || r.status === 'running' || r.status === 'failed';
      if (active && typeof r.orderKey === 'string') upgraded.lane = r.orderKey;
      if (r.status === 'running') upgraded.due = r.leaseUntil ?? 0;
      else if (r.status === 'pending' && !(upgraded.lane !== undefined && lanes.has(upgraded.lane))) upgraded.due = r.nextRunAt;
      else if (r.status === 'succeeded' || r.status === 'cancelled') upgraded.purgeAt = r.updatedAt + DEFAULT_RETENTION.finishedMs;
      if (upgraded.lane !== undefined) lanes.add(upgraded.lane);
      await cursor.update(upgraded);
    }
  },
  // 2 → 3
  (_db, tx) => {
    const tasks = tx.objectStore('tasks');
    tasks.createIndex('status', ['status', 'createdAt']);
    tasks.createIndex('name', ['name', 'createdAt']);
    tasks.createIndex('orderKey', ['orderKey', 'createdAt']);
  },
  // 3 → 4
  (_db, tx) => {
    tx.objectStore('tasks').createIndex('after', 'after', { multiEntry: true });
  },
  // 4 → 5
  (db, tx) => {
    tx.objectStore('tasks').createIndex('owner', 'owner');
    db.createObjectStore('state', { keyPath: 'key' });
  },
  // 5 → 6
  async (_db, tx) => {
    const signed = (await tx.objectStore('state').get('owner'))?.value;
    const signedIn = typeof signed === 'string' ? signed : undefined;
    const tasks = tx.objectStore('tasks');
    const headed = new Set<string>();
    const updates: TaskRecord[] = [];
    // The lane index walks each lane in commit order: the first record seen of a new lane heads it.
    for (let c = await tasks.index('lane').openCursor(); c; c = await c.continue()) {
      const r = c.value;
      const lane = laneOf(r)!;
      const heads = !headed.has(lane);
      headed.add(lane);
      if (lane === r.lane && !(heads && r.due === undefined)) continue;
      const up: TaskRecord = { ...r, lane };
      if (heads && r.status === 'pending' && r.due === undefined && r.owner === signedIn && parentsDone(r)) up.due = r.nextRunAt;
      updates.push(up);
    }
    for (const up of updates) await tasks.put(up);
  },
  // 6 → 7
  async (_db, tx) => {
    const tasks = tx.objectStore('tasks');
    tasks.createIndex('priority', ['priority', 'due']);
    for (const status of ['pending', 'running', 'failed']) {
      const range = IDBKeyRange.bound([status, -Infinity], [status, Infinity]);
      for (let c = await tasks.index('status').openCursor(range); c; c = await c.continue()) {
        if (c.value.priority === undefined) await c.update({ ...c.value, priority: DEFAULT_PRIORITY });
      }
    }
  },
  // 7 → 8
  async (db, tx) => {
    const inbox = db.createObjectStore('inbox', { keyPath: 'seq', autoIncrement: true });
    inbox.createIndex('id', 'id', { unique: true });
    db.createObjectStore('gate', { keyPath: 'key' });
    const owner = await tx.objectStore('state').get('owner');
    if (owner) await tx.objectStore('gate').put(owner);
  },
  // 8 → 9
  async (db, tx) => {
    db.createObjectStore('payloads', { keyPath: 'id' });
    const payloads = tx.objectStore('payloads');
    // Only records that hold a large payload are rewritten (a new database writes nothing).
    for (let c = await tx.objectStore('tasks').openCursor(); c; c = await c.continue()) {
      const r = c.value;
      if (r.apart || !Object.hasOwn(r, 'payload') || typeof r.id !== 'string' || small(r.payload)) continue;
      const { payload, ...rest } = r;
      await Promise.all([payloads.put({ id: r.id, payload }), c.update({ ...rest, apart: true })]);
    }
  },
  // 9 → 10
  (_db, tx) => {
    tx.objectStore('inbox').createIndex('priority', 'priority');
  },
  // 10 → 11
  (_db, tx) => {
    tx.objectStore('tasks').createIndex('ownerStatus', ['owner', 'status', 'createdAt']);
  },
];
