// The bench page. Each function runs one repetition of one measurement and returns what it timed
// inside the page with performance.now(); bench/run.mjs calls them, repeats them and does the
// statistics. A fresh IndexedDB database per repetition, deleted afterwards.
import { createClient, journal as journalCapability, type AnyTaskDefinition, type DeferHandle, type HalfsyncClient } from '@halfsync/core';
import { deferFetch, httpTask } from '@halfsync/core/http';
import { burstSubscribed, burstWorker, serialWorker, startCost } from './bounded';
import {
  deleteDb, endpoint, heapUsed, JSON_HEADERS, noop, openRaw, payloads, RAW_STORE, rawRecord, smallPayload, taskYielder,
  bodies, httpOf, type HttpKind, type SwReply, type SwRequest, type SwTiming,
} from './shared';

const nextTask = taskYielder();
let dbCount = 0;
const freshDb = (label: string) => `bench-${label}-${Date.now().toString(36)}-${dbCount++}`;

// The bench worker: registered once, answers on a MessageChannel.
const registration = (async () => {
  const reg = await navigator.serviceWorker.register('/sw.js', { type: 'module', scope: '/' });
  await navigator.serviceWorker.ready;
  return reg;
})();

async function sw(request: SwRequest): Promise<SwTiming & Record<string, unknown>> {
  const reg = await registration;
  const worker = reg.active;
  if (!worker) throw new Error('the bench service worker is not active');
  const channel = new MessageChannel();
  const reply = new Promise<SwReply>((resolve) => { channel.port1.onmessage = (e: MessageEvent<SwReply>) => resolve(e.data); });
  worker.postMessage({ bench: request }, [channel.port2]);
  const r = await reply;
  channel.port1.close();
  if (!r.ok) throw new Error(`in the service worker: ${r.error}`);
  return r.result;
}

/**
 * A client as the measured code sees it: its own database, no service worker and the page runner
 * off (autoRun: false), so no runner competes with the writes being timed.
 */
async function withClient<T>(label: string, tasks: AnyTaskDefinition[], fn: (client: HalfsyncClient, db: string) => Promise<T>, keepDb = false, journal = false): Promise<T> {
  const db = freshDb(label);
  const client = createClient({ tasks, dbName: db, serviceWorker: false, autoRun: false, persistStorage: false, use: journal ? [journalCapability] : [] });
  try {
    await client.ready;
    return await fn(client, db);
  } finally {
    client.close();
    if (!keepDb) await deleteDb(db);
    if (journal) await caches.delete(`halfsync:${db}:journal`);
  }
}

async function withRaw<T>(fn: (db: Awaited<ReturnType<typeof openRaw>>) => Promise<T>, indexed = false): Promise<T> {
  const name = freshDb('raw');
  const db = await openRaw(name, indexed);
  try {
    return await fn(db);
  } finally {
    db.close();
    await deleteDb(name);
  }
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
function summary(times: number[]) {
  const sorted = [...times].sort((x, y) => x - y);
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1]!, mean: times.reduce((s, t) => s + t, 0) / times.length, calls: times.length };
}

// ---- 1. defer() main-thread cost --------------------------------------------------------------

/**
 * Times each `defer()` call from call to return. `ticks`: every call in its own task, the previous
 * one persisted (a user action at a time). `burst`: 100 calls per task, each timed (group commit
 * batches them; later calls only append to the batch).
 */
async function deferCost(a: { bytes: number; calls: number; mode: 'ticks' | 'burst'; seed: number }) {
  const { list, meanBytes } = payloads(a.calls, a.bytes, a.seed);
  return withClient('cost', [noop], async (client) => {
    const times: number[] = [];
    if (a.mode === 'ticks') {
      for (const p of list) {
        await nextTask();
        const t0 = performance.now();
        const h = client.defer(noop, p);
        times.push(performance.now() - t0);
        await h.persisted;
      }
    } else {
      for (let i = 0; i < list.length; i += 100) {
        await nextTask();
        const handles: DeferHandle<number>[] = [];
        for (const p of list.slice(i, i + 100)) {
          const t0 = performance.now();
          handles.push(client.defer(noop, p));
          times.push(performance.now() - t0);
        }
        await Promise.all(handles.map((h) => h.persisted));
      }
    }
    return { ...summary(times), meanBytes };
  });
}

/** The anchor of defer()'s cost: the copy of the payload any durable defer makes, one per task. */
async function cloneCost(a: { bytes: number; calls: number; seed: number }) {
  const { list, meanBytes } = payloads(a.calls, a.bytes, a.seed);
  const times: number[] = [];
  for (const p of list) {
    await nextTask();
    const t0 = performance.now();
    structuredClone(p);
    times.push(performance.now() - t0);
  }
  return { ...summary(times), meanBytes };
}

// ---- 2. one at a time: defer → persisted vs a raw put in its own transaction ------------------

async function serial(a: { which: 'halfsync' | 'journal' | 'raw' | 'rawIndexed'; n: number; bytes: number; seed: number }) {
  const { list, meanBytes } = payloads(a.n, a.bytes, a.seed);
  if (a.which === 'halfsync' || a.which === 'journal') {
    return withClient('serial', [noop], async (client) => {
      await nextTask();
      const t0 = performance.now();
      for (const p of list) await client.defer(noop, p).persisted;
      const ms = performance.now() - t0;
      return { ms, perTask: ms / a.n, meanBytes };
    }, false, a.which === 'journal');
  }
  return withRaw(async (db) => {
    await nextTask();
    const t0 = performance.now();
    for (const p of list) {
      const tx = db.transaction(RAW_STORE, 'readwrite', { durability: 'strict' });
      void tx.store.put(rawRecord(noop.name, p));
      await tx.done;
    }
    const ms = performance.now() - t0;
    return { ms, perTask: ms / a.n, meanBytes };
  }, a.which === 'rawIndexed');
}

// ---- 3. a burst in one tick until all persisted -----------------------------------------------

async function burst(a: { which: 'halfsync' | 'journal' | 'raw' | 'rawIndexed' | 'deferFetch'; n: number; bytes: number; seed: number }) {
  if (a.which === 'raw' || a.which === 'rawIndexed') {
    const { list } = payloads(a.n, a.bytes, a.seed);
    return withRaw(async (db) => {
      await nextTask();
      const t0 = performance.now();
      const tx = db.transaction(RAW_STORE, 'readwrite', { durability: 'strict' });
      for (const p of list) void tx.store.put(rawRecord(noop.name, p));
      const syncMs = performance.now() - t0;
      await tx.done;
      const ms = performance.now() - t0;
      return { ms, perTask: ms / a.n, syncMs };
    }, a.which === 'rawIndexed');
  }
  if (a.which === 'halfsync' || a.which === 'journal') {
    const { list } = payloads(a.n, a.bytes, a.seed);
    return withClient('burst', [noop], async (client) => {
      await nextTask();
      const t0 = performance.now();
      const handles = list.map((p) => client.defer(noop, p));
      const syncMs = performance.now() - t0;
      await Promise.all(handles.map((h) => h.persisted));
      const ms = performance.now() - t0;
      return { ms, perTask: ms / a.n, syncMs };
    }, false, a.which === 'journal');
  }
  // deferFetch: the same requests workbox's pushRequest stores, from (url, init) to persisted.
  const list = bodies(a.n, a.bytes, a.seed);
  return withClient('burstfetch', [httpTask], async (client) => {
    const url = endpoint('hs');
    await nextTask();
    const t0 = performance.now();
    const handles = await Promise.all(list.map((body) => deferFetch(client, url, { method: 'POST', headers: JSON_HEADERS, body })));
    await Promise.all(handles.map((h) => h.persisted));
    const ms = performance.now() - t0;
    return { ms, perTask: ms / a.n };
  });
}

// ---- 4. draining http tasks in the worker -----------------------------------------------------

/** Queues `n` http tasks from the page (untimed), then the worker times drain() alone. */
async function drainHttp(a: { n: number; bytes: number; seed: number; kind?: HttpKind }) {
  const list = bodies(a.n, a.bytes, a.seed);
  const kind = a.kind ?? 'http';
  const { task, worker } = httpOf(kind);
  let db = '';
  await withClient('drainhttp', worker, async (client, name) => {
    db = name;
    const url = endpoint('hs');
    const handles = await Promise.all(list.map((body) => deferFetch(client, url, { method: 'POST', headers: JSON_HEADERS, body }, { task })));
    await Promise.all(handles.map((h) => h.persisted));
  }, true);
  try {
    const r = await sw({ op: 'drain', db, task: kind, expect: a.n });
    return { ms: r.ms, perTask: r.ms / a.n };
  } finally {
    await deleteDb(db);
  }
}

async function rawFetch(a: { n: number; bytes: number; seed: number; concurrency: number }) {
  const r = await sw({ op: 'rawFetch', n: a.n, bytes: a.bytes, seed: a.seed, concurrency: a.concurrency });
  return { ms: r.ms, perTask: r.ms / a.n };
}

async function workbox(a: { op: 'wbPush' | 'wbReplay'; n: number; bytes: number; seed: number }) {
  try {
    const r = await sw({ op: a.op, n: a.n, bytes: a.bytes, seed: a.seed });
    return { ms: r.ms, perTask: r.ms / a.n };
  } finally {
    await sw({ op: 'wbClear' });
  }
}

// ---- 5. scale -------------------------------------------------------------------------------

/** The scale run in progress: its client stays open between the phases the driver calls. */
let scaleRun: { client: HalfsyncClient; db: string; n: number; lastId: string } | undefined;

/**
 * Phase 1: defers `n` small tasks in bursts of `burst` per tick (each burst persisted before the
 * next) into a fresh database, and reads the page heap before and after.
 */
async function scaleDefer(a: { n: number; burst: number }) {
  const pageHeapStart = heapUsed();
  const db = freshDb('scale');
  const client = createClient({ tasks: [noop], dbName: db, serviceWorker: false, autoRun: false, persistStorage: false });
  await client.ready;
  scaleRun = { client, db, n: a.n, lastId: '' };
  const burstMs: number[] = [];
  for (let i = 0; i < a.n; i += a.burst) {
    const list = Array.from({ length: Math.min(a.burst, a.n - i) }, (_, k) => smallPayload(i + k));
    await nextTask();
    const t0 = performance.now();
    const handles = list.map((p) => client.defer(noop, p));
    await Promise.all(handles.map((h) => h.persisted));
    burstMs.push(performance.now() - t0);
    scaleRun.lastId = handles[handles.length - 1]!.id;
  }
  const deferMs = burstMs.reduce((s, t) => s + t, 0);
  const tenth = Math.max(1, Math.floor(burstMs.length / 10));
  const perTaskOf = (xs: number[]) => xs.reduce((s, t) => s + t, 0) / (xs.length * a.burst);
  return {
    deferMs, deferPerTask: deferMs / a.n,
    deferPerTaskFirstTenth: perTaskOf(burstMs.slice(0, tenth)), deferPerTaskLastTenth: perTaskOf(burstMs.slice(-tenth)),
    pageHeapStart, pageHeapAfterDefer: heapUsed(),
  };
}

/**
 * Phase 2: the worker drains the first `count` tasks (noop task; the executor serve() runs,
 * stopped there), timed there, while this page's client stays open and follows the worker's
 * changes, as an app's tab does; resolves once the client has seen the last of them succeed, with
 * the page heap then.
 */
async function scaleDrain(a: { count: number; serve?: boolean }) {
  const run = scaleRun;
  if (!run) throw new Error('scaleDefer first');
  const count = Math.min(a.count, run.n);
  // serve: all of them with serve().drain() itself (no tenths then).
  const drain = a.serve && count === run.n
    ? { ...await sw({ op: 'drain', db: run.db, task: 'noop', expect: run.n }), lastId: run.lastId, tenths: [] }
    : await sw({ op: 'drainSample', db: run.db, count });
  const lastId = String(drain.lastId);
  // The client hears of the worker's changes over the BroadcastChannel; it should not take long.
  const waitMs = Math.max(60_000, 2 * drain.ms);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`the page's client did not see task ${lastId} succeed within ${waitMs} ms of the drain (it sees it ${run.client.get(lastId)?.status ?? 'missing'})`));
    }, waitMs);
    const check = () => { if (run.client.get(lastId)?.status === 'succeeded') { clearTimeout(timer); unsubscribe(); resolve(); } };
    const unsubscribe = run.client.subscribe(check);
    check();
  });
  const tenths = drain.tenths as number[];
  const tenth = count / 10;
  return {
    drained: count, drainMs: drain.ms, drainPerTask: drain.ms / count,
    drainPerTaskFirstTenth: tenths.length === 10 ? tenths[0]! / tenth : undefined,
    drainPerTaskLastTenth: tenths.length === 10 ? (tenths[9]! - tenths[8]!) / tenth : undefined,
    pageHeapAfterDrain: heapUsed(),
  };
}

/**
 * Phase 3: closes the client, times a new client's start on the same database (a reload: until
 * `ready`, which loads the stored tasks), and deletes the database.
 */
async function scaleEnd() {
  const run = scaleRun;
  scaleRun = undefined;
  if (!run) return {};
  run.client.close();
  const t0 = performance.now();
  const again = createClient({ tasks: [noop], dbName: run.db, serviceWorker: false, autoRun: false, persistStorage: false });
  await again.ready;
  const startMs = performance.now() - t0;
  const known = again.getSnapshot().length;
  again.close();
  await deleteDb(run.db);
  return { startMs, startKnown: known };
}

async function info() {
  await registration;
  return {
    userAgent: navigator.userAgent, crossOriginIsolated: self.crossOriginIsolated, heap: heapUsed(),
    hardwareConcurrency: navigator.hardwareConcurrency, worker: await sw({ op: 'info' }),
  };
}

const bench = {
  ready: registration.then(() => true), info, deferCost, cloneCost, serial, burst, drainHttp, rawFetch, workbox, scaleDefer, scaleDrain, scaleEnd,
  startCost, burstSubscribed, serialWorker, burstWorker,
};
(window as unknown as { bench: typeof bench }).bench = bench;
export type Bench = typeof bench;
