// What the bench page and the bench service worker share: the tasks, the payloads, the raw
// IndexedDB anchor, heap readings and the message protocol between them.
import { defineTask } from '@halfsync/core';
import { createHttpTask, httpTask, type HttpTaskDefinition } from '@halfsync/core/http';
import { openDB, type IDBPDatabase } from 'idb';

/** A trivial task: no network, no work. The scale bench drains it. */
export const noop = defineTask('bench/noop', { run: () => 1 });

/** The http task at the highest priority, with one at the lowest beside it in the worker: claims go by priority. */
export const httpUrgent = createHttpTask({ name: 'bench/http-urgent', priority: 9 });
const httpLow = createHttpTask({ name: 'bench/http-low', priority: 0 });
/** The http task with a rate limit that never binds (a million a second): what taking a token costs. */
export const httpLimited = createHttpTask({ name: 'bench/http-limited', rateLimit: { tasks: 1_000_000, perMs: 1_000, burst: 1_000_000 } });
/** Which http task a drain measures: the plain one, by priority, or rate-limited. */
export type HttpKind = 'http' | 'http-urgent' | 'http-limited';
/** The task a page defers for `kind`, and the tasks its worker knows. */
export const httpOf = (kind: HttpKind): { task: HttpTaskDefinition; worker: HttpTaskDefinition[] } =>
  kind === 'http-urgent' ? { task: httpUrgent, worker: [httpUrgent, httpLow] } : kind === 'http-limited' ? { task: httpLimited, worker: [httpLimited] } : { task: httpTask, worker: [httpTask] };

/** The endpoint of the bench server that answers 200 at once. `k` only labels the caller. */
export const endpoint = (kind: string): string => `/api/ok?k=${kind}`;

// ---- payloads -------------------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32), so every run stores the same payloads. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = ['alpha', 'bravo', 'cedar', 'delta', 'ember', 'fjord', 'garnet', 'harbor', 'indigo', 'juniper', 'kestrel', 'lumen', 'maple', 'nectar', 'onyx', 'pebble', 'quartz', 'russet', 'sierra', 'tundra'];

/** An order line: strings, numbers, booleans, a nested object and an array, as JSON APIs send. */
function line(rand: () => number, i: number): Record<string, unknown> {
  const w = () => WORDS[Math.floor(rand() * WORDS.length)]!;
  return {
    sku: `SKU-${Math.floor(rand() * 1e6).toString().padStart(6, '0')}`,
    name: `${w()} ${w()} ${w()}`,
    qty: 1 + Math.floor(rand() * 5),
    unitPrice: Math.round(rand() * 100_000) / 100,
    discounted: rand() < 0.3,
    options: { color: w(), size: ['S', 'M', 'L', 'XL'][i % 4], giftWrap: rand() < 0.1 },
    tags: [w(), w()],
  };
}

/**
 * A JSON-like order of about `bytes` bytes (as JSON text): a customer, an address and as many
 * order lines as it takes. Not one big string.
 */
export function makePayload(bytes: number, seed: number): Record<string, unknown> {
  const rand = prng(seed);
  const w = () => WORDS[Math.floor(rand() * WORDS.length)]!;
  const order: Record<string, unknown> & { lines: unknown[] } = {
    orderId: `ord_${seed.toString(36)}_${Math.floor(rand() * 1e9).toString(36)}`,
    createdAt: 1_750_000_000_000 + Math.floor(rand() * 1e9),
    currency: 'EUR',
    customer: {
      id: Math.floor(rand() * 1e7), name: `${w()} ${w()}`, email: `${w()}.${w()}@example.com`, vip: rand() < 0.2,
      address: { street: `${Math.floor(rand() * 300)} ${w()} street`, city: w(), zip: String(10_000 + Math.floor(rand() * 89_999)), country: 'DE' },
    },
    lines: [],
    note: null,
  };
  let size = JSON.stringify(order).length;
  for (let i = 0; size < bytes; i++) {
    const l = line(rand, i);
    const add = JSON.stringify(l).length + 1;
    if (size + add > bytes * 1.05 && order.lines.length > 0) break;
    order.lines.push(l);
    size += add;
  }
  return order;
}

/** `count` payloads of about `bytes` each, and their mean JSON size. */
export function payloads(count: number, bytes: number, seed = 1): { list: Record<string, unknown>[]; meanBytes: number } {
  const list: Record<string, unknown>[] = [];
  let total = 0;
  for (let i = 0; i < count; i++) {
    const p = makePayload(bytes, seed * 1_000_003 + i);
    total += JSON.stringify(p).length;
    list.push(p);
  }
  return { list, meanBytes: Math.round(total / Math.max(1, count)) };
}

// ---- the raw IndexedDB anchor ---------------------------------------------------------------

export const RAW_STORE = 's';

/** The database of the clients that use the bench worker (serve() listens for it from the start). */
export const WORKER_DB = 'bench-worker';

/**
 * A database with one object store and no index: the least a durable queue can do. `indexed`
 * gives the store the indexes halfsync's `tasks` store has (id unique, due, lane, purge, and the
 * bounded client's status, name and orderKey, the chains' after and the owners' owner), to tell the cost of keeping them from the library's own.
 */
export function openRaw(name: string, indexed = false): Promise<IDBPDatabase> {
  return openDB(name, 1, {
    upgrade: (db) => {
      const store = db.createObjectStore(RAW_STORE, { keyPath: 'seq', autoIncrement: true });
      if (!indexed) return;
      store.createIndex('id', 'id', { unique: true });
      store.createIndex('due', 'due');
      store.createIndex('lane', 'lane');
      store.createIndex('purge', 'purgeAt');
      store.createIndex('status', ['status', 'createdAt']);
      store.createIndex('name', ['name', 'createdAt']);
      store.createIndex('orderKey', ['orderKey', 'createdAt']);
      store.createIndex('after', 'after', { multiEntry: true });
      store.createIndex('owner', 'owner');
    },
  });
}

/** The same record halfsync stores for a pending task (its fields, the payload as given). */
export function rawRecord(name: string, payload: unknown): Record<string, unknown> {
  const now = Date.now();
  const id = crypto.randomUUID();
  return { id, name, payload, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: now, due: now, idempotencyKey: id, rev: 1 };
}

/** Deletes a database, waiting for other connections to close (halfsync's close on `versionchange`). */
export function deleteDb(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = () => resolve();
    req.onerror = () => reject(req.error ?? new Error(`deleting ${name} failed`));
  });
}

// ---- heap -----------------------------------------------------------------------------------

/** The JS heap in use after a full GC (Chromium, `--enable-precise-memory-info --js-flags=--expose-gc`). */
export function heapUsed(): number | undefined {
  const g = globalThis as { gc?: () => void };
  g.gc?.();
  const memory = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory;
  return memory?.usedJSHeapSize;
}

/** Yields to a new task (a macrotask) without the 4 ms clamp of nested timers. */
export function taskYielder(): () => Promise<void> {
  const channel = new MessageChannel();
  const waiting: Array<() => void> = [];
  channel.port1.onmessage = () => waiting.shift()?.();
  return () => new Promise<void>((resolve) => { waiting.push(resolve); channel.port2.postMessage(0); });
}

// ---- the page ↔ worker protocol -------------------------------------------------------------

/** A request the page sends to the bench worker, answered on `ports[0]`. */
export type SwRequest =
  | { op: 'info' }
  /** halfsync: serve({ tasks, dbName, drainOnStart: false }) and time drain() alone. */
  | { op: 'drain'; db: string; task: HttpKind | 'noop'; expect: number }
  /** The executor serve() runs, on the noop task, stopped once `count` tasks have succeeded; with when each tenth had. */
  | { op: 'drainSample'; db: string; count: number }
  /** The anchor: the same requests with fetch at the given concurrency, read like the http task. */
  | { op: 'rawFetch'; n: number; concurrency: number; bytes: number; seed: number }
  /** workbox-background-sync: a burst of pushRequest. */
  | { op: 'wbPush'; n: number; bytes: number; seed: number }
  /** workbox-background-sync: push (untimed), then time replayRequests(). */
  | { op: 'wbReplay'; n: number; bytes: number; seed: number }
  /** Deletes what workbox-background-sync stored. */
  | { op: 'wbClear' };

export interface SwTiming {
  ms: number;
  detail?: Record<string, unknown>;
}

export type SwReply = { ok: true; result: SwTiming & Record<string, unknown> } | { ok: false; error: string };

/** The headers every http bench request carries (a JSON POST, as an app sends). */
export const JSON_HEADERS = { 'content-type': 'application/json' } as const;

/** The small payload of the scale bench (about 100 bytes of JSON): what a trivial task carries. */
export function smallPayload(i: number): Record<string, unknown> {
  return { orderId: `ord_${i.toString(36)}`, sku: `SKU-${(i * 7919) % 1_000_000}`, qty: 1 + (i % 5), at: 1_750_000_000_000 + i, gift: i % 10 === 0 };
}

/** Request bodies (JSON text) for the http benches, the same on the page and in the worker. */
export function bodies(count: number, bytes: number, seed: number): string[] {
  return payloads(count, bytes, seed).list.map((p) => JSON.stringify(p));
}
