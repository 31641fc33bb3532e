/// <reference lib="webworker" />
// The bench service worker. Everything here is timed inside the worker with performance.now():
// halfsync's drain (serve() per database, drainOnStart: false), the raw fetch loop it is compared
// with, and workbox-background-sync's Queue (pushRequest and replayRequests).
import { serve } from '@halfsync/core/worker';
// The scale bench stops a drain after a sample of tasks, which serve().drain() cannot do: it runs
// the executor serve() runs, with serve()'s own change broadcast, from the package's sources.
import { Executor } from '../../packages/core/src/executor';
import { TaskStore } from '../../packages/core/src/store/store';
import { toTask } from '../../packages/core/src/record';
import { openChannel } from '../../packages/core/src/channel';
import { httpTask } from '@halfsync/core/http';
import { Queue } from 'workbox-background-sync';
import { openDB } from 'idb';
import { bodies, endpoint, heapUsed, httpOf, JSON_HEADERS, noop, WORKER_DB, type SwReply, type SwRequest, type SwTiming } from './shared';

declare const self: ServiceWorkerGlobalScope;

self.addEventListener('install', () => void self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

// workbox-background-sync keeps a process-wide set of queue names: one new name per run. The
// queues are built as an app builds them (Background Sync registration on), but with a no-op
// onSync, so the sync events the pushes register do not replay the queue under the timer; the
// replay bench calls replayRequests() itself.
let queueCount = 0;
const newQueue = () => new Queue(`bench-${Date.now().toString(36)}-${queueCount++}`, { onSync: () => {} });
const absolute = (path: string) => new URL(path, self.location.origin).href;

async function handle(req: SwRequest): Promise<SwTiming & Record<string, unknown>> {
  switch (req.op) {
    case 'info': {
      // performance.memory is not exposed in service workers: the driver reads the worker's heap over CDP.
      // Whether Background Sync registration works here, as workbox's pushRequest does it on every push.
      const sync = (self.registration as ServiceWorkerRegistration & { sync?: { register(tag: string): Promise<void> } }).sync;
      let syncRegister = 'unavailable';
      if (sync) syncRegister = await sync.register('bench-probe').then(() => 'ok', (e: unknown) => `fails: ${String(e)}`);
      return { ms: 0, crossOriginIsolated: self.crossOriginIsolated, heap: heapUsed(), syncRegister };
    }
    case 'drain': {
      const worker = serve({ tasks: req.task === 'noop' ? [noop] : httpOf(req.task).worker, dbName: req.db, drainOnStart: false, concurrency: 4 });
      const t0 = performance.now();
      const summary = await worker.drain();
      const ms = performance.now() - t0;
      if (summary.succeeded !== req.expect || summary.failed !== 0) {
        throw new Error(`drain of ${req.db}: expected ${req.expect} succeeded, got ${JSON.stringify(summary)}`);
      }
      return { ms, detail: { summary } };
    }
    case 'drainSample': {
      // As serve() drains (same executor, concurrency 4, the same broadcast of changes), stopped
      // once `count` tasks have succeeded; timed from the start to that commit.
      const store = new TaskStore(req.db);
      const channel = openChannel(req.db);
      const stop = new AbortController();
      let succeeded = 0;
      let lastId = '';
      let stoppedAt = 0;
      // When each tenth of the sample had succeeded (ms from the start): is the rate steady?
      const tenths: number[] = [];
      const executor = new Executor({
        store, tasks: new Map([[noop.name, noop]]), concurrency: 4,
        onChange: (changed, removed) => {
          channel?.postMessage({ t: 'changed', tasks: changed.map(toTask), removed });
          for (const r of changed) if (r.status === 'succeeded') { succeeded++; lastId = r.id; }
          while (tenths.length < 10 && succeeded >= (req.count * (tenths.length + 1)) / 10) tenths.push(performance.now() - t0);
          if (succeeded >= req.count && stoppedAt === 0) { stoppedAt = performance.now(); stop.abort(); }
        },
      });
      const t0 = performance.now();
      const summary = await executor.drain({ signal: stop.signal });
      const ms = (stoppedAt || performance.now()) - t0;
      store.close();
      channel?.close();
      if (succeeded < req.count) throw new Error(`drain sample of ${req.db}: ${succeeded} succeeded, expected ${req.count}: ${JSON.stringify(summary)}`);
      return { ms, succeeded, lastId, tenths, detail: { summary } };
    }
    case 'rawFetch': {
      const list = bodies(req.n, req.bytes, req.seed);
      const url = absolute(endpoint('raw'));
      let next = 0;
      let failed = 0;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: req.concurrency }, async () => {
        while (next < list.length) {
          const body = list[next++]!;
          const res = await fetch(url, { method: 'POST', headers: { ...JSON_HEADERS, 'idempotency-key': crypto.randomUUID() }, body });
          await res.text();
          if (!res.ok) failed++;
        }
      }));
      const ms = performance.now() - t0;
      if (failed > 0) throw new Error(`raw fetch loop: ${failed} requests failed`);
      return { ms };
    }
    case 'wbPush': {
      const list = bodies(req.n, req.bytes, req.seed);
      const queue = newQueue();
      const url = absolute(endpoint('wb'));
      const t0 = performance.now();
      await Promise.all(list.map((body) => queue.pushRequest({ request: new Request(url, { method: 'POST', headers: JSON_HEADERS, body }) })));
      const ms = performance.now() - t0;
      const size = await queue.size();
      if (size !== req.n) throw new Error(`workbox queue holds ${size} requests, expected ${req.n}`);
      return { ms };
    }
    case 'wbReplay': {
      const list = bodies(req.n, req.bytes, req.seed);
      const queue = newQueue();
      const url = absolute(endpoint('wb'));
      await Promise.all(list.map((body) => queue.pushRequest({ request: new Request(url, { method: 'POST', headers: JSON_HEADERS, body }) })));
      const t0 = performance.now();
      await queue.replayRequests();
      const ms = performance.now() - t0;
      const size = await queue.size();
      if (size !== 0) throw new Error(`workbox queue still holds ${size} requests after replayRequests()`);
      return { ms };
    }
    case 'wbClear': {
      // workbox-background-sync has one database for every queue and keeps its connection open:
      // empty it rather than delete it.
      const db = await openDB('workbox-background-sync');
      if (db.objectStoreNames.contains('requests')) await db.clear('requests' as never);
      db.close();
      return { ms: 0 };
    }
  }
}

// The path apps run: a client with this worker (database WORKER_DB) defers through Background Sync.
serve({ tasks: [noop, httpTask], dbName: WORKER_DB, concurrency: 4 });

self.addEventListener('message', (event) => {
  const req = event.data as { bench?: SwRequest } | null;
  if (!req?.bench) return;
  const port = event.ports[0];
  event.waitUntil(handle(req.bench).then(
    (result) => port?.postMessage({ ok: true, result } satisfies SwReply),
    (error: unknown) => port?.postMessage({ ok: false, error: error instanceof Error ? `${error.name}: ${error.message}\n${error.stack ?? ''}` : String(error) } satisfies SwReply),
  ));
});
