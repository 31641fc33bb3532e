import { buildRecord, type DeferOptions } from './deferral.js';
import { HalfsyncError } from './errors.js';
import { httpTask, serializeRequest, withRequestKey, type HttpTaskDefinition, type RequestBodyLimits } from './http.js';
import { uuid } from './util.js';
import { toTask, type NewTaskRecord, type Task, type TaskRecord } from './record.js';
import { recordNews } from './channel.js';
import { DEFAULT_RETENTION, type TaskDefinition } from './task.js';
import { commitBatch } from './store/store.js';
import { journalCommitted } from './store/journal.js';
import { insertLinked } from './store/ops.js';
import type { HalfsyncWorker, WorkerContext } from './worker.js';

// Deferring from the service worker, and the drop-in for Workbox's BackgroundSyncPlugin built on
// it: a request that fails for lack of network is deferred as an http task (5xx retried, an
// idempotency key on every attempt, its status in every tab) and the page gets an answer of the
// app's choosing. Typed structurally: workbox-* is not a dependency of halfsync.

export type { DeferOptions } from './deferral.js';
export type { Task } from './record.js';

interface Deferred { record: NewTaskRecord; resolve(task: Task): void; reject(error: unknown): void }
const batches = new WeakMap<WorkerContext, Deferred[]>();

function contextOf(worker: HalfsyncWorker): WorkerContext {
  const context = (worker as unknown as Record<symbol, WorkerContext | undefined> | null)?.[Symbol.for('halfsync.worker')];
  if (!context) throw new HalfsyncError('INVALID_OPTIONS', 'worker must be what serve({ tasks }) returned in this service worker: const worker = serve({ tasks })');
  return context;
}

/** Commits one tick's defers in one transaction, as pages do; one by one when the batch as a whole fails. */
async function commit(context: WorkerContext): Promise<void> {
  const batch = batches.get(context) ?? [];
  batches.delete(context);
  const retentionOf = (name: string) => context.tasks.get(name)?.retention ?? DEFAULT_RETENTION;
  const { results, changed } = await commitBatch(context.store, batch.map((d) => d.record), retentionOf, insertLinked);
  const committed = results.filter((r): r is TaskRecord => !(r instanceof HalfsyncError));
  // Where the pages keep a journal, the worker's defers are in it too (from what committed).
  if (committed.length > 0) await journalCommitted(context.db, [...changed, ...committed], []).catch(() => {});
  results.forEach((r, i) => (r instanceof HalfsyncError ? batch[i]!.reject(r) : batch[i]!.resolve(toTask(r))));
  if (committed.length === 0) return;
  for (const m of recordNews([...changed, ...committed], [])) context.post(m);
  context.wake();
}

/**
 * Defers a task from the service worker itself (a push message, a failed request): validated as a
 * page's `defer` is, committed to the same store with the other defers of the same tick in one
 * transaction, shown in every open tab, then run (a Background Sync where there is one, otherwise
 * a drain now). Resolves with the task once it is persisted; rejects with a `HalfsyncError` for bad
 * input (nothing is stored) or a failed write.
 *
 * @example
 * ```ts
 * const worker = serve({ tasks });
 * self.addEventListener('push', (event) => event.waitUntil(deferInWorker(worker, syncInbox, { since: Date.now() })));
 * ```
 */
export function deferInWorker<Payload, Result>(worker: HalfsyncWorker, task: TaskDefinition<Payload, Result>, payload: Payload, options: DeferOptions = {}): Promise<Task<Payload, Result>> {
  let context: WorkerContext;
  let record: NewTaskRecord;
  try {
    context = contextOf(worker);
    record = buildRecord(context.tasks, task, payload, options, Date.now(), context.maxPayloadBytes);
  } catch (error) {
    return Promise.reject(error);
  }
  return new Promise<Task<Payload, Result>>((resolve, reject) => {
    const batch = batches.get(context) ?? [];
    batch.push({ record, resolve: resolve as (task: Task) => void, reject });
    batches.set(context, batch);
    if (batch.length === 1) queueMicrotask(() => void commit(context));
  });
}

/** A request halfsync has deferred, as the `respond` option sees it. */
export interface DeferredRequest {
  /** The task, persisted; its `id` is what pages pass to `client.result(id)`. */
  readonly task: Task;
  /** The request that failed (its body already read). */
  readonly request: Request;
}

/** Options of {@link deferPlugin} and {@link deferOnFailure}. */
export interface DeferOnFailureOptions extends RequestBodyLimits {
  /** What `serve({ tasks })` returned in this worker: the store, the channel to pages and the runner. */
  readonly worker: HalfsyncWorker;
  /** The http task that stores and replays the requests; it must be in `serve({ tasks })`. Default `httpTask`. */
  readonly task?: HttpTaskDefinition;
  /**
   * The page's answer once the request is stored. Default {@link acceptedResponse}: a 202 whose
   * JSON body is `{ deferred: true, id, idempotencyKey }`.
   */
  readonly respond?: (deferred: DeferredRequest) => Response | Promise<Response>;
  /**
   * Whether the request the page makes carries, from its first try, the `Idempotency-Key` its task
   * will be replayed with. Default true: a request that could be deferred (not a `GET` or `HEAD`,
   * to an origin the task allows, without a key of its own) gets a fresh key before it goes out,
   * and the task deferred from it keeps that key, so a server that applied the first try and lost
   * the answer recognises the replay (and `@halfsync/server` accepts the first try at all). Across
   * origins the server's CORS preflight must allow the `Idempotency-Key` header, as replays send it.
   */
  readonly sendKey?: boolean;
}

/**
 * A 202 Accepted saying the request was deferred: `{ deferred: true, id, idempotencyKey }` as JSON,
 * with the task id in a `Halfsync-Task` header too.
 */
export function acceptedResponse({ task }: Pick<DeferredRequest, 'task'>): Response {
  return new Response(JSON.stringify({ deferred: true, id: task.id, idempotencyKey: task.idempotencyKey }), {
    status: 202,
    statusText: 'Accepted',
    headers: { 'content-type': 'application/json', 'halfsync-task': task.id },
  });
}

/** The per-request state Workbox gives each plugin callback. */
type PluginState = Record<string, unknown>;

/** The part of a Workbox plugin (workbox-core's `WorkboxPlugin`) that {@link deferPlugin} implements. */
export interface DeferPlugin {
  /** Workbox calls it before the request goes out: the request gets the key its task would have (see `sendKey`). */
  requestWillFetch(param: { request: Request; state?: PluginState }): Promise<Request>;
  /** Workbox calls it when the network request failed: the request is deferred. */
  fetchDidFail(param: { request: Request; error?: unknown; state?: PluginState }): Promise<void>;
  /** Workbox calls it when the strategy has no response: the page gets the chosen answer. */
  handlerDidError(param: { request: Request; state?: PluginState }): Promise<Response | undefined>;
}

const STATE_KEY = 'halfsyncDeferral';

/** A request the page (or the browser) cancelled is not a failure of the network: nothing to defer. */
const aborted = (error: unknown): boolean => (error as { name?: unknown } | null)?.name === 'AbortError';

/**
 * The request as it should go out: with an `Idempotency-Key` when it could be deferred and has
 * none, so its first try and the task's replays carry the same key. A navigation or a `no-cors`
 * request cannot be given a header; a `GET` or `HEAD` has no effect to apply twice.
 */
function withIdempotencyKey(request: Request, options: Pick<DeferOnFailureOptions, 'task' | 'sendKey'>): Request {
  if (options.sendKey === false || request.headers.has('idempotency-key')) return request;
  if (request.method === 'GET' || request.method === 'HEAD' || request.mode === 'navigate' || request.mode === 'no-cors') return request;
  const task = options.task ?? httpTask;
  try {
    // The task's own check of where it may send (same origin, allowOrigins), on the URL alone.
    task.options.validate?.({ url: request.url, method: request.method, headers: [] });
  } catch {
    return request;
  }
  const headers = new Headers(request.headers);
  headers.set('Idempotency-Key', uuid());
  try {
    // A Request made from another with any init gets this context's referrer unless told: keep the page's.
    return new Request(request, { headers, referrer: request.referrer });
  } catch {
    return request;
  }
}

/** Defers `request`; resolves with the page's answer, or undefined (and a warning) when it could not be stored. */
async function deferRequest(request: Request, options: DeferOnFailureOptions): Promise<Response | undefined> {
  const task = options.task ?? httpTask;
  try {
    const stored = await serializeRequest(request, undefined, task, options);
    const deferred = await deferInWorker(options.worker, task, stored, withRequestKey(stored));
    return await (options.respond ?? acceptedResponse)({ task: deferred, request });
  } catch (error) {
    const coded = error instanceof HalfsyncError ? `${error.code}: ${error.message}` : String(error);
    // The page sees the network error it would have seen without halfsync; the reason is here.
    // eslint-disable-next-line no-console
    console.warn(`halfsync: the failed ${request.method} ${request.url} was not deferred (${coded})`);
    return undefined;
  }
}

/**
 * A Workbox plugin that defers a request the network could not carry: add it to a strategy (such
 * as `NetworkOnly`) where you used `BackgroundSyncPlugin`. The request is stored as an http task
 * (with the checks of `deferFetch`), replayed by halfsync's runner with an `Idempotency-Key`,
 * retried on 5xx, and shown in every tab; the page gets `respond`'s answer (a 202 by default)
 * instead of a network error. A request that cannot be stored (another origin, a body too large)
 * fails as it would have, with the reason in the worker's console. A request that could be
 * deferred goes out with the `Idempotency-Key` its task would replay it with (see `sendKey`).
 *
 * @example
 * ```ts
 * import { registerRoute } from 'workbox-routing';
 * import { NetworkOnly } from 'workbox-strategies';
 * import { serve } from '@halfsync/core/worker';
 * import { deferPlugin } from '@halfsync/core/workbox';
 * import { httpTask } from '@halfsync/core/http';
 *
 * const worker = serve({ tasks: [httpTask] });
 * registerRoute(/\/api\//, new NetworkOnly({ plugins: [deferPlugin({ worker })] }), 'POST');
 * ```
 */
export function deferPlugin(options: DeferOnFailureOptions): DeferPlugin {
  return {
    async requestWillFetch({ request }) {
      return withIdempotencyKey(request, options);
    },
    async fetchDidFail({ request, error, state }) {
      if (aborted(error)) return;
      const answer = deferRequest(request, options);
      if (state) state[STATE_KEY] = answer;
      await answer;
    },
    async handlerDidError({ state }) {
      const answer = state?.[STATE_KEY] as Promise<Response | undefined> | undefined;
      return answer ? await answer : undefined;
    },
  };
}

/** The part of a service worker's `FetchEvent` that {@link deferOnFailure} uses. */
export interface FetchEventLike {
  readonly request: Request;
}

/**
 * For a `fetch` listener without Workbox: sends the request, and when the network cannot carry it,
 * defers it as {@link deferPlugin} does and answers with `respond`'s response (a 202 by default).
 * Responses from the server, errors included, pass through unchanged. As with the plugin, the
 * request goes out with the `Idempotency-Key` its task would replay it with (see `sendKey`).
 *
 * @example
 * ```ts
 * const worker = serve({ tasks });
 * self.addEventListener('fetch', (event) => {
 *   if (event.request.method === 'POST' && new URL(event.request.url).pathname.startsWith('/api/')) {
 *     event.respondWith(deferOnFailure(event, { worker, task: api }));
 *   }
 * });
 * ```
 */
export async function deferOnFailure(event: FetchEventLike, options: DeferOnFailureOptions): Promise<Response> {
  const request = withIdempotencyKey(event.request, options);
  // The copy to store is taken before the body is sent.
  const copy = request.clone();
  try {
    return await fetch(request);
  } catch (error) {
    if (aborted(error)) throw error;
    const answer = await deferRequest(copy, options);
    if (answer) return answer;
    throw error;
  }
}
