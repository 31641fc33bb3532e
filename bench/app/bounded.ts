// The bounded client, measured: a client's start and heap with a long history stored, a burst with
// a React subscriber mounted, and defer → persisted through the worker (Background Sync, or messages in Firefox).
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import { flushSync } from 'react-dom';
import { createClient, owners, type HalfsyncClient } from '@halfsync/core';
import { HalfsyncProvider, useDeferredAction, useDeferredQueue } from '@halfsync/react';
import { openDB } from 'idb';
import { deleteDb, heapUsed, noop, payloads, smallPayload, taskYielder, WORKER_DB } from './shared';

const nextTask = taskYielder();
let count = 0;

/**
 * Writes `stored` task records straight into a halfsync database (opened by a client first, so the
 * schema is the library's): `alive` pending ones (due in an hour, so no runner takes them) and
 * the rest succeeded, as a long-lived app's history.
 */
async function seed(db: string, stored: number, alive: number, others?: 'signed-in' | 'signed-out'): Promise<void> {
  const first = createClient({ tasks: [noop], dbName: db, serviceWorker: false, autoRun: false, persistStorage: false, use: [owners] });
  await first.ready;
  // `others`: the pending ones are another user's (a shared device); signed in, the user has none;
  // signed out, the newest 1,000 of them were deferred signed out.
  if (others === 'signed-in') await first.signIn('me');
  first.close();
  const raw = await openDB(db);
  const now = Date.now();
  const hour = now + 3_600_000;
  for (let i = 0; i < stored; i += 10_000) {
    const tx = raw.transaction('tasks', 'readwrite', { durability: 'relaxed' });
    for (let k = i; k < Math.min(stored, i + 10_000); k++) {
      const id = `seed-${k}`;
      const base = { id, name: noop.name, payload: smallPayload(k), attempts: 1, createdAt: now - stored + k, updatedAt: now, nextRunAt: now, idempotencyKey: id, rev: 3 };
      void tx.store.put(k >= stored - alive ? { ...base, attempts: 0, status: 'pending', nextRunAt: hour, due: hour, ...(others && !(others === 'signed-out' && k >= stored - 1_000) ? { owner: 'someone-else' } : {}) } : { ...base, status: 'succeeded', result: 1, purgeAt: hour });
    }
    await tx.done;
  }
  raw.close();
}

const open = (db: string, worker: boolean): HalfsyncClient =>
  createClient({ tasks: [noop], dbName: db, serviceWorker: worker ? '/sw.js' : false, autoRun: !worker ? false : undefined, persistStorage: false });

/** A new client's start (until `ready`) and the page heap it adds, over `stored` tasks of which `alive` are alive. */
export async function startCost(a: { stored: number; alive: number; worker: boolean; others?: 'signed-in' | 'signed-out' }) {
  const db = a.worker ? WORKER_DB : `bench-start-${Date.now().toString(36)}-${count++}`;
  await deleteDb(db);
  await seed(db, a.stored, a.alive, a.others);
  // A reload finds the backing store warm; the first open after writing 100,000 records would
  // time the browser's flush of them, not the client.
  (await openDB(db)).close();
  const heapBefore = heapUsed();
  const t0 = performance.now();
  const client = open(db, a.worker);
  const mode = await client.ready;
  const startMs = performance.now() - t0;
  const heapAfter = heapUsed();
  const known = client.getSnapshot().length;
  client.close();
  await deleteDb(db);
  if (a.worker !== (mode !== 'page')) throw new Error(`start cost: expected ${a.worker ? 'the worker' : 'the page runner'}, the client chose ${mode}`);
  return { startMs, heap: heapAfter, heapDelta: heapBefore !== undefined && heapAfter !== undefined ? heapAfter - heapBefore : undefined, known };
}

/** What an app's checkout renders: the action's optimistic items and the pending queue. */
function Checkout() {
  const place = useDeferredAction(noop);
  const pending = useDeferredQueue({ status: 'pending' });
  return createElement('p', null, `${place.optimistic.length} optimistic, ${pending.length} pending`);
}

/**
 * `n` defers in one tick (each call timed) until all persisted, with `finished` finished tasks
 * stored; `react`: with a React tree subscribed to the client (useDeferredAction, useDeferredQueue).
 */
export async function burstSubscribed(a: { n: number; finished: number; react: boolean; seed: number }) {
  const db = `bench-sub-${Date.now().toString(36)}-${count++}`;
  await seed(db, a.finished, 0);
  const client = open(db, false);
  await client.ready;
  const host = document.createElement('div');
  document.body.append(host);
  const root = a.react ? createRoot(host) : undefined;
  if (root) flushSync(() => root.render(createElement(HalfsyncProvider, { client }, createElement(Checkout))));
  const { list } = payloads(a.n, 1024, a.seed);
  try {
    await nextTask();
    const times: number[] = [];
    const t0 = performance.now();
    const handles = list.map((p) => {
      const c0 = performance.now();
      const h = client.defer(noop, p);
      times.push(performance.now() - c0);
      return h;
    });
    await Promise.all(handles.map((h) => h.persisted));
    // With React, until the tree shows them all (the work the subscriber costs).
    if (root) while (!host.textContent?.startsWith(`${a.n} optimistic`)) await nextTask();
    const ms = performance.now() - t0;
    times.sort((x, y) => x - y);
    return { ms, perTask: ms / a.n, p99: times[Math.ceil(0.99 * times.length) - 1]!, shown: host.textContent };
  } finally {
    root?.unmount();
    host.remove();
    client.close();
    await deleteDb(db);
  }
}

/** A burst of defers in one tick → all persisted, through the worker (the sync path users run; it drains them as they land). */
export async function burstWorker(a: { n: number; bytes: number; seed: number }) {
  const { list } = payloads(a.n, a.bytes, a.seed);
  await deleteDb(WORKER_DB);
  const client = open(WORKER_DB, true);
  const mode = await client.ready;
  try {
    if (mode !== 'sync' && mode !== 'message') throw new Error(`burst with the worker: the client chose ${mode}, not the worker`);
    await nextTask();
    const t0 = performance.now();
    const handles = list.map((p) => client.defer(noop, p));
    await Promise.all(handles.map((h) => h.persisted));
    const ms = performance.now() - t0;
    return { ms, perTask: ms / a.n };
  } finally {
    client.close();
    await deleteDb(WORKER_DB);
  }
}

/** defer → persisted one at a time through the worker (the sync path users run). */
export async function serialWorker(a: { n: number; bytes: number; seed: number }) {
  const { list, meanBytes } = payloads(a.n, a.bytes, a.seed);
  await deleteDb(WORKER_DB);
  const client = open(WORKER_DB, true);
  const mode = await client.ready;
  try {
    if (mode !== 'sync' && mode !== 'message') throw new Error(`serial with the worker: the client chose ${mode}, not the worker`);
    await nextTask();
    const t0 = performance.now();
    for (const p of list) await client.defer(noop, p).persisted;
    const ms = performance.now() - t0;
    return { ms, perTask: ms / a.n, meanBytes };
  } finally {
    client.close();
    await deleteDb(WORKER_DB);
  }
}
