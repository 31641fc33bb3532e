import { parseRetryAfter } from './backoff.js';
import { HalfsyncError, PermanentError, RetryableError, UnreachableError } from './errors.js';
import { browserOnline } from './failure.js';
import { defineTask } from './task.js';
import { resolveRefs } from './http-refs.js';
import { defaultHttpVerdict, type HttpResponseInfo, type HttpResult, type HttpTaskDefinition, type HttpTaskOptions, type StoredRequest } from './http-model.js';
import { anySignal, checkOrigin, checkStoredRequest, OPTION_KEYS, PROBE_TTL_MS, readCapped, timeoutSignal } from './http-checks.js';

// Guarantee 3, "Idempotent effects", for the durable HTTP task: the request is stored as sent, and
// every attempt carries the task's idempotency key, fixed at defer time, as `Idempotency-Key`.

/**
 * Defines a durable HTTP task: a `fetch` that is stored and replayed by the runner until the
 * server answers 2xx (success), another 4xx (a permanent failure with the status and body), or
 * the retry policy gives up. A request that cannot be made (offline, connection refused) waits
 * for the network without using up an attempt; timeouts, 408, 425, 429 and 5xx are retried,
 * honouring `Retry-After`; `classify` and `refreshCredentials` change these rules per task.
 * Every attempt carries the task's `Idempotency-Key` header.
 *
 * Define it once in the module of task definitions, so the page and the worker share it.
 */
export function createHttpTask(options: HttpTaskOptions = {}): HttpTaskDefinition {
  const name = options.name ?? 'halfsync/http';
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": createHttpTask has no option ${JSON.stringify(key)}; it takes ${[...OPTION_KEYS].join(', ')}`, { details: { option: key } });
    }
  }
  const allowed = new Set<string>();
  for (const o of options.allowOrigins ?? []) {
    let origin: string | undefined;
    try { origin = new URL(o).origin; } catch { origin = undefined; }
    if (origin === undefined || origin === 'null' || origin !== o.replace(/\/$/, '')) {
      throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": allowOrigins must hold origins such as "https://api.example.com", got ${JSON.stringify(o)}`);
    }
    allowed.add(origin);
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  const cap = options.maxResponseBytes ?? 65_536;
  const probes = new Map<string, { at: number; answered: Promise<boolean> }>();
  /** Whether the server of `url` answers a plain request now (shared by the requests of a few seconds). */
  const answers = (url: URL, signal: AbortSignal): Promise<boolean> => {
    const key = `${url.origin}${url.pathname}`;
    const now = Date.now();
    const known = probes.get(key);
    if (known && now - known.at < PROBE_TTL_MS) return known.answered;
    for (const [k, p] of probes) if (now - p.at >= PROBE_TTL_MS) probes.delete(k);
    const answered = fetch(key, {
      method: 'HEAD', mode: 'no-cors', credentials: 'omit', cache: 'no-store', referrerPolicy: 'no-referrer',
      signal: anySignal([signal, timeoutSignal(Math.min(timeoutMs, 10_000))]),
    }).then(() => true, () => false);
    probes.set(key, { at: now, answered });
    return answered;
  };
  const task = defineTask<StoredRequest, HttpResult>(name, {
    retry: options.retry,
    retention: options.retention,
    orderKey: options.orderKey,
    ...(options.laneFailure === undefined ? {} : { laneFailure: options.laneFailure }),
    ...(options.priority === undefined ? {} : { priority: options.priority }),
    ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
    validate(request) {
      checkStoredRequest(name, request, allowed);
    },
    async run(stored, ctx) {
      // Placeholders of parents' results (parentValue) take their values now.
      const request = resolveRefs(stored, ctx.parents);
      const url = checkOrigin(name, request.url, allowed);
      const send = async (): Promise<Response> => {
        const timeout = new AbortController();
        // The request is built before the network is asked: one fetch would refuse (a header the
        // `headers` hook made invalid) fails the task for good instead of waiting for a network.
        let built: Request;
        try {
          const headers = new Headers(request.headers as Array<[string, string]>);
          headers.set('Idempotency-Key', ctx.idempotencyKey);
          const extra = await options.headers?.(request, ctx);
          if (extra) new Headers(extra).forEach((value, key) => headers.set(key, value));
          built = new Request(url, {
            method: request.method, headers,
            body: request.body === undefined ? undefined : request.body.kind === 'text' ? request.body.text : request.body.bytes,
            credentials: request.credentials, mode: request.mode, cache: request.cache, redirect: request.redirect,
            referrerPolicy: request.referrerPolicy, referrer: request.referrer, integrity: request.integrity, keepalive: request.keepalive,
            signal: anySignal([ctx.signal, timeout.signal]),
          });
        } catch (error) {
          throw new PermanentError(`the request cannot be made as stored: ${(error as Error)?.message ?? String(error)}`, { code: 'INVALID_REQUEST', cause: error });
        }
        const timer = setTimeout(() => timeout.abort(new RetryableError(`no answer within ${timeoutMs} ms`, { code: 'TIMEOUT' })), timeoutMs);
        try {
          return await fetch(built);
        } catch (error) {
          if (timeout.signal.aborted) throw timeout.signal.reason;
          if (ctx.signal.aborted) throw error;
          const why = (error as Error)?.message ?? String(error);
          // Offline and a request the browser refuses look the same from here (a TypeError): while
          // the browser says it is online, a server that answers a plain request tells them apart.
          if (options.probeUnreachable !== false && browserOnline() && (await answers(url, ctx.signal))) {
            throw new UnreachableError(
              `${request.method} ${url.href} could not be made although the browser is online and ${url.origin} answers a plain request (${why}): ` +
              'check that the server answers its CORS preflight (Access-Control-Allow-Origin, and Access-Control-Allow-Methods/-Headers listing the method and every header sent, Idempotency-Key included), ' +
              'the Content-Security-Policy connect-src, mixed content, and any proxy that cuts the request; it waits and is tried again without using an attempt',
              { code: 'UNREACHABLE_WHILE_ONLINE', cause: error },
            );
          }
          throw new UnreachableError(`the request to ${url.origin} could not be made: ${why}`, { code: 'NETWORK_ERROR', cause: error });
        } finally {
          clearTimeout(timer);
        }
      };
      let refreshed = false;
      for (;;) {
        const res = await send();
        const { body, truncated } = await readCapped(res, cap);
        const info: HttpResponseInfo = { status: res.status, statusText: res.statusText, headers: res.headers, body, bodyTruncated: truncated, type: res.type };
        let verdict = options.classify?.(info, request) ?? defaultHttpVerdict(info);
        if (verdict === 'refresh') {
          if (!refreshed && options.refreshCredentials && (await options.refreshCredentials(info, request, ctx)) !== false) {
            refreshed = true;
            continue;
          }
          verdict = 'fail';
        }
        if (verdict === 'success') {
          const out: Record<string, string> = {};
          res.headers.forEach((value, key) => { out[key] = value; });
          return { status: res.status, statusText: res.statusText, headers: out, body, bodyTruncated: truncated };
        }
        const what = `${request.method} ${url.pathname} answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}${refreshed ? ' after the credentials were refreshed' : ''}`;
        if (verdict === 'retry') {
          throw Object.assign(new RetryableError(what, { code: 'HTTP_STATUS', retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), Date.now()) }), { status: res.status, body });
        }
        throw Object.assign(new PermanentError(what, { code: 'HTTP_STATUS' }), { status: res.status, body });
      }
    },
  });
  return task;
}

/** The default http task: same-origin requests only, no credential hook. */
export const httpTask: HttpTaskDefinition = /* @__PURE__ */ createHttpTask();
