import 'fake-indexeddb/auto';
import { openDB, type IDBPDatabase } from 'idb';
import { MIGRATIONS, type HalfsyncSchema } from '../src/store/schema.js';
import { Executor, type ExecutorOptions } from '../src/executor.js';
import { TaskStore } from '../src/store/store.js';
import { join } from '../src/store/payloads.js';
import { taskRegistry, type AnyTaskDefinition } from '../src/task.js';
import type { NewTaskRecord, TaskRecord } from '../src/record.js';
import { chains, createClient, history, journal, latestWins, owners, type ClientOptions, type HalfsyncClient, type MembersOf } from '../src/index.js';

/** Every capability: what the tests' clients can do unless a test says otherwise. */
export const FULL = [chains, latestWins, owners, history, journal] as const;
/** A client with every capability. */
export type FullClient = HalfsyncClient & MembersOf<typeof FULL>;

let n = 0;
/** A fresh database name per test. */
export const freshDb = (): string => `test-${process.pid}-${Date.now()}-${n++}`;

/** A clock the test moves by hand. */
export function manualClock(start = 1_700_000_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => { t += ms; }, set: (v: number) => { t = v; } };
}

/** Every task stored, in one transaction: moved on into `tasks`, or still in the inbox (plain tasks not yet claimed). */
export async function storedRecords(db: IDBPDatabase<HalfsyncSchema>): Promise<TaskRecord[]> {
  const tx = db.transaction(['tasks', 'inbox', 'payloads']);
  const [tasks, inbox] = await Promise.all([tx.objectStore('tasks').getAll(), tx.objectStore('inbox').getAll()]);
  // Large payloads are kept apart (store/payloads.ts): joined back, as every reader does.
  return [...await join(tx.objectStore('payloads'), tasks), ...inbox];
}

/** A store, an executor over it and a helper to insert records directly. */
export function rig(tasks: AnyTaskDefinition[], opts: Partial<ExecutorOptions> & { db?: string } = {}) {
  const store = new TaskStore(opts.db ?? freshDb());
  const clock = manualClock();
  const executor = new Executor({ store, tasks: taskRegistry(tasks), now: clock.now, random: () => 0.5, leaseMs: 1_000, ...opts });
  const nowFn = opts.now ?? clock.now;
  const insert = async (name: string, payload: unknown, extra: Partial<NewTaskRecord> = {}): Promise<TaskRecord> => {
    const now = nowFn();
    const id = `${name}-${Math.random().toString(36).slice(2)}`;
    const r: NewTaskRecord = {
      id, name, payload, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: now,
      due: now, idempotencyKey: id, rev: 1, lastError: undefined, result: undefined, leaseUntil: undefined, orderKey: undefined, ...extra,
    };
    for (const k of Object.keys(r) as (keyof NewTaskRecord)[]) if (r[k] === undefined) delete (r as Partial<NewTaskRecord>)[k];
    if (r.orderKey !== undefined && r.lane === undefined) r.lane = r.orderKey;
    const { results: [out] } = await store.insert([r]);
    if (!out || out instanceof Error) throw out ?? new Error('insert failed');
    return out;
  };
  // Every task stored: moved on into `tasks`, or still in the inbox (plain tasks not yet claimed).
  const all = async () => storedRecords(await store.db());
  const byId = async (id: string) => {
    const tx = (await store.db()).transaction(['tasks', 'inbox', 'payloads']);
    const r = await tx.objectStore('tasks').index('id').get(id) ?? await tx.objectStore('inbox').index('id').get(id);
    return r && (await join(tx.objectStore('payloads'), [r]))[0];
  };
  return { store, clock, executor, insert, all, byId };
}

/**
 * Opens clients over the given tasks (no persistence prompt) and remembers them, so that
 * `closeAll` in an `afterEach` leaves no client running into the next test.
 */
export function clientPool(tasks: AnyTaskDefinition[], defaults: Partial<ClientOptions> = {}) {
  const clients: HalfsyncClient[] = [];
  const open = (db: string, extra: Partial<ClientOptions> = {}): FullClient => {
    const c = createClient({ tasks, dbName: db, persistStorage: false, use: FULL, ...defaults, ...extra }) as FullClient;
    clients.push(c);
    return c;
  };
  const closeAll = (): void => { while (clients.length) clients.pop()!.close(); };
  return { clients, open, closeAll };
}

/** Opens database `name` as schema `version` wrote it (the upgrades up to it, and no further). */
export function openAsSchema(name: string, version: number): Promise<IDBPDatabase<HalfsyncSchema>> {
  return openDB<HalfsyncSchema>(name, version, { upgrade: async (d, from, _to, tx) => { for (let v = from; v < version; v++) await MIGRATIONS[v]!(d, tx); } });
}
