import { parseRetryAfter } from './backoff.js';
import type { DeferHandle, DeferOptions, HalfsyncClient } from './client.js';
import { HalfsyncError, PermanentError, RetryableError, UnreachableError } from './errors.js';
import { browserOnline } from './failure.js';
import { defineTask, type LaneFailurePolicy, type RetentionPolicy, type RetryPolicy, type TaskContext, type TaskDefinition } from './task.js';
import { uuid } from './util.js';
import { refsOf, resolveRefs } from './http-refs.js';

export { parentValue, type ParentPath, type ParentValueOptions, type PathOf } from './http-refs.js';

/** A request body as stored: text stays readable, everything else is kept as the exact bytes `fetch` would send. */
export type StoredBody =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bytes'; readonly bytes: ArrayBuffer };

/** A request as the http task stores it; the payload of an http task. */
export interface StoredRequest {
  readonly url: string;
  readonly method: string;
  /** Header pairs, without the credentials halfsync never stores. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body?: StoredBody;
  readonly credentials?: RequestCredentials;
  readonly mode?: RequestMode;
  readonly cache?: RequestCache;
  readonly redirect?: RequestRedirect;
  readonly referrerPolicy?: ReferrerPolicy;
  /** The request's referrer (the page that made it; `""` for none); absent: the replaying context's default. */
  readonly referrer?: string;
  readonly integrity?: string;
  /** Sent with `keepalive` (its body is then at most 64 KiB, as browsers require). */
  readonly keepalive?: boolean;
  /** The names of credential headers that were removed before storing (supply them with `headers`). */
  readonly strippedHeaders?: readonly string[];
}

/** What a successful http task resolves with. */
export interface HttpResult {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The response body as text, cut at `maxResponseBytes`. */
  readonly body: string;
  readonly bodyTruncated: boolean;
}

/** A response as the http task's classifier sees it. */
export interface HttpResponseInfo {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  /** The body as text, cut at `maxResponseBytes`. */
  readonly body: string;
  readonly bodyTruncated: boolean;
  /** `basic`, `cors`, `opaque`...: `opaque` answers (no-cors) have status 0 and succeed by default. */
  readonly type: ResponseType;
}

/**
 * What a response means for the task: `success` (the result is stored), `retry` (a transient
 * failure: counted, retried with backoff, honouring `Retry-After`), `fail` (permanent), or
 * `refresh` (call `refreshCredentials`, then send once more within the same attempt).
 */
export type HttpVerdict = 'success' | 'retry' | 'fail' | 'refresh';

/**
 * The http task's default rules: 2xx and opaque responses succeed; 401 asks for a credentials
 * refresh (a failure where there is no `refreshCredentials`); 408, 425, 429 and 5xx are retried;
 * any other status fails for good.
 */
export function defaultHttpVerdict(response: Pick<HttpResponseInfo, 'status' | 'type'> & { readonly headers?: Headers }): HttpVerdict {
  const { status, type } = response;
  if ((status >= 200 && status < 300) || type === 'opaque' || type === 'opaqueredirect') return 'success';
  if (status === 401) return 'refresh';
  // A 409 with Retry-After: the same Idempotency-Key is still being worked on (the IETF draft's
  // "request in progress", as @halfsync/server answers a retry that overtakes its first attempt).
  if (status === 409 && response.headers?.has('retry-after')) return 'retry';
  if (status >= 500 || RETRYABLE_STATUS.has(status)) return 'retry';
  return 'fail';
}

/** Options of {@link createHttpTask}. */
export interface HttpTaskOptions {
  /** The task name. Default `"halfsync/http"`. Give each http task of an app its own name. */
  readonly name?: string;
  /**
   * Origins (`https://api.example.com`) the task may send to besides the page's own. Requests
   * to any other origin are refused at defer time with `ORIGIN_NOT_ALLOWED`, and again at replay.
   */
  readonly allowOrigins?: readonly string[];
  /**
   * Supplies headers at replay time, in the worker: fresh credentials (`Authorization`) that
   * were not stored. Returned headers are set over the stored ones.
   */
  readonly headers?: (request: StoredRequest, ctx: TaskContext) => HeadersInit | undefined | Promise<HeadersInit | undefined>;
  /**
   * Decides what a response means, per task: return a {@link HttpVerdict}, or undefined to apply
   * the default rules ({@link defaultHttpVerdict}).
   *
   * @example
   * ```ts
   * // A DELETE of something already gone is done; a 409 from a busy server is worth a retry.
   * classify: (res, req) => (req.method === 'DELETE' && res.status === 404 ? 'success' : res.status === 409 ? 'retry' : undefined)
   * ```
   */
  readonly classify?: (response: HttpResponseInfo, request: StoredRequest) => HttpVerdict | undefined;
  /**
   * Called, in the worker, when a response's verdict is `refresh` (by default: a 401): renew the
   * credentials your `headers` hook supplies (refresh a token), then the request is sent once more
   * within the same attempt, with headers from `headers` again. Return `false` to give up (the
   * task fails). A second `refresh` verdict in a row fails the task.
   */
  readonly refreshCredentials?: (response: HttpResponseInfo, request: StoredRequest, ctx: TaskContext) => boolean | void | Promise<boolean | void>;
  /** Abort an attempt after this many ms (a retryable `TIMEOUT`). Default 30 000. */
  readonly timeoutMs?: number;
  /** Keep at most this many bytes of a response body. Default 65 536. */
  readonly maxResponseBytes?: number;
  /** Retry policy. */
  readonly retry?: Partial<RetryPolicy>;
  /** Retention policy. */
  readonly retention?: Partial<RetentionPolicy>;
  /** An order key for every request of this task (or per request with `defer`'s option). */
  readonly orderKey?: string | ((request: StoredRequest) => string | undefined);
  /**
   * When a request of this task fails for good at the head of its order-key lane: `hold` the
   * requests behind it until it is retried, cancelled or acknowledged (default), `skip` past it,
   * or `fail` them too (code `LANE_FAILED`).
   */
  readonly laneFailure?: LaneFailurePolicy;
  /**
   * When a request cannot be made while the browser says it is online, ask the server whether it
   * answers at all: a `HEAD` of the same URL without credentials, CORS or body (`no-cors`), at most
   * once every few seconds per URL. If it answers, the server is there and this request is what
   * fails (a CORS preflight the server refuses, a blocked header, a proxy that cuts the body), and
   * the task's `lastError` says so with code `UNREACHABLE_WHILE_ONLINE` instead of `NETWORK_ERROR`.
   * Either way the try is unreachable: no attempt is used and the request is tried again. Default
   * true; false never sends the `HEAD`.
   */
  readonly probeUnreachable?: boolean;
}

/** The definition type of an http task. */
export type HttpTaskDefinition = TaskDefinition<StoredRequest, HttpResult>;

const NEVER_STORED = ['authorization', 'proxy-authorization', 'cookie'];
const RETRYABLE_STATUS = new Set([408, 425, 429]);
/** An HTTP token (RFC 9110 5.6.2): what a header name and a method are made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What browsers allow a keepalive request's body to carry. */
const KEEPALIVE_MAX_BYTES = 65_536;
const bodyBytes = (body: StoredBody): number => (body.kind === 'text' ? new TextEncoder().encode(body.text).byteLength : body.bytes.byteLength);
const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : typeof v);

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'name', 'allowOrigins', 'headers', 'classify', 'refreshCredentials', 'timeoutMs', 'maxResponseBytes',
  'retry', 'retention', 'orderKey', 'laneFailure', 'probeUnreachable',
]);
/** How long a probe's answer stands for other requests to the same URL. */
const PROBE_TTL_MS = 5_000;

const selfOrigin = (): string | undefined => (typeof location === 'undefined' ? undefined : location.origin);

function checkOrigin(task: string, url: string, allowed: ReadonlySet<string>): URL {
  let parsed: URL;
  try {
    parsed = new URL(url, typeof location === 'undefined' ? undefined : location.href);
  } catch (error) {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${task}": ${JSON.stringify(url)} is not a URL`, { cause: error });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new HalfsyncError('ORIGIN_NOT_ALLOWED', `task "${task}": only http and https requests can be replayed, not ${parsed.protocol}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new HalfsyncError(
      'INVALID_OPTIONS',
      `task "${task}": the URL holds credentials (user:password@${parsed.host}), which halfsync never stores; remove them from the URL and supply an Authorization header at replay with createHttpTask({ headers })`,
    );
  }
  if (parsed.origin !== selfOrigin() && !allowed.has(parsed.origin)) {
    throw new HalfsyncError(
      'ORIGIN_NOT_ALLOWED',
      `task "${task}": ${parsed.origin} is not this page's origin; add it to createHttpTask({ allowOrigins: ['${parsed.origin}'] }) if the task may send there`,
      { details: { origin: parsed.origin } },
    );
  }
  return parsed;
}

async function readCapped(res: Response, cap: number): Promise<{ body: string; truncated: boolean }> {
  if (!res.body) return { body: '', truncated: false };
  // The common case, a small body of known length, in one read.
  const length = Number(res.headers.get('content-length') ?? Number.NaN);
  if (length <= cap) return { body: await res.text(), truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > cap) { truncated = true; await reader.cancel().catch(() => {}); break; }
  }
  const all = new Uint8Array(Math.min(size, cap));
  let at = 0;
  for (const c of chunks) {
    const take = c.subarray(0, Math.min(c.byteLength, all.byteLength - at));
    all.set(take, at);
    at += take.byteLength;
    if (at >= all.byteLength) break;
  }
  return { body: new TextDecoder().decode(all), truncated };
}

function timeoutSignal(ms: number): AbortSignal {
  const timeout = (AbortSignal as { timeout?: (ms: number) => AbortSignal }).timeout;
  if (timeout) return timeout(ms);
  const c = new AbortController();
  setTimeout(() => c.abort(new DOMException('the probe timed out', 'TimeoutError')), ms);
  return c.signal;
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (any) return any(signals);
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) { c.abort(s.reason); break; }
    s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

/**
 * Checks a payload of an http task, however it reached `defer` (deferFetch, or a payload built by
 * hand): the shape of a stored request, an allowed origin and no credentials in the URL, header
 * names checked as HTTP compares them (trimmed, any case) so no credential header is stored under
 * another spelling, valid names and values, and whatever `fetch` itself would refuse at replay.
 */
function checkStoredRequest(task: string, request: StoredRequest, allowed: ReadonlySet<string>): void {
  const bad = (what: string): never => {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${task}": ${what}`);
  };
  if (typeof request !== 'object' || request === null || typeof request.url !== 'string' || typeof request.method !== 'string' || !Array.isArray(request.headers)) {
    bad('the payload must be a stored request; use deferFetch(client, url, init)');
  }
  checkOrigin(task, request.url, allowed);
  if (!TOKEN.test(request.method)) bad(`${show(request.method)} is not an HTTP method`);
  for (const pair of request.headers as readonly unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      bad('headers must be [name, value] pairs of strings');
    }
    const [key, value] = pair as [string, string];
    const normal = key.trim().toLowerCase();
    if (NEVER_STORED.includes(normal)) {
      bad(`the ${JSON.stringify(key)} header (${normal}) must not be stored; supply it at replay with createHttpTask({ headers })`);
    }
    if (!TOKEN.test(key)) bad(`${JSON.stringify(key)} is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~ only, no spaces)`);
    // eslint-disable-next-line no-control-regex
    if (/[\0\r\n]|[^\u0000-\u00ff]/.test(value)) bad(`the ${key} header's value holds a line break, a NUL or a character beyond Latin-1, which HTTP cannot send`);
  }
  const body = request.body;
  if (body !== undefined && !(body?.kind === 'text' && typeof body.text === 'string') && !(body?.kind === 'bytes' && body.bytes instanceof ArrayBuffer)) {
    bad('body must be { kind: "text", text } or { kind: "bytes", bytes: ArrayBuffer }');
  }
  if (request.referrer !== undefined) {
    if (typeof request.referrer !== 'string') bad(`referrer must be a string, got ${show(request.referrer)}`);
    else if (request.referrer !== '' && request.referrer !== 'about:client') {
      let ref: URL | undefined;
      try { ref = new URL(request.referrer); } catch { bad(`referrer ${JSON.stringify(request.referrer)} is not a URL`); }
      if (ref && (ref.username !== '' || ref.password !== '')) bad('the referrer holds credentials, which halfsync never stores');
    }
  }
  if (request.keepalive !== undefined && typeof request.keepalive !== 'boolean') bad(`keepalive must be a boolean, got ${show(request.keepalive)}`);
  if (request.keepalive && body && bodyBytes(body) > KEEPALIVE_MAX_BYTES) {
    bad(`a keepalive request's body may be at most ${KEEPALIVE_MAX_BYTES} bytes (browsers refuse more); send it without keepalive`);
  }
  // The rest as the engine itself judges it (a body on a GET, a mode that does not fit the method...):
  // a request fetch would refuse at replay must not be stored.
  if (typeof Request === 'function') {
    try {
      new Request(request.url, {
        method: request.method, headers: request.headers as Array<[string, string]>,
        body: body === undefined ? undefined : body.kind === 'text' ? body.text : body.bytes,
        credentials: request.credentials, mode: request.mode, cache: request.cache, redirect: request.redirect,
        referrerPolicy: request.referrerPolicy, integrity: request.integrity, keepalive: request.keepalive,
      });
    } catch (error) {
      bad(`fetch would refuse this request at replay (${(error as Error)?.message ?? String(error)})`);
    }
  }
}

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

/** Limits on reading the body of a `Request` passed as the input (its kind cannot be known: it may be a stream). */
export interface RequestBodyLimits {
  /** Refuse a `Request` body longer than this many bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /** Refuse a `Request` body that has not ended within this many ms. Default 10 000. */
  readonly bodyTimeoutMs?: number;
}

/**
 * Stores a request exactly as `fetch(input, init)` would send it: the method, the headers (less
 * `Authorization`, `Proxy-Authorization` and `Cookie`), and the body, whatever its kind (a string,
 * JSON, an `ArrayBuffer`, a `Blob`, `FormData` with files, `URLSearchParams`), kept as text or as
 * the exact bytes with their `Content-Type` (so a multipart body keeps its boundary, field names,
 * file names and types), with its referrer (a page's own URL for the default one) and
 * `keepalive`. Bodies are never stored as `Blob` or `FormData`, which some browsers refuse in
 * IndexedDB. A `ReadableStream` in `init.body` is refused; the body of a `Request` input is read
 * in full in every engine (Firefox has no `Request.body`), and refused when it is over or does not
 * end within `limits` (a stream that never ends), or when the engine cannot read it back (WebKit,
 * a page's `FormData` holding a file: pass the `FormData` as `init.body` instead).
 */
export async function serializeRequest(input: RequestInfo | URL, init: RequestInit = {}, task: HttpTaskDefinition = httpTask, limits: RequestBodyLimits = {}): Promise<StoredRequest> {
  if (typeof ReadableStream !== 'undefined' && init.body instanceof ReadableStream) {
    throw new HalfsyncError('BODY_NOT_REPLAYABLE', `task "${task.name}": a ReadableStream body cannot be stored for replay; pass a string, ArrayBuffer, Blob or FormData`);
  }
  if (input instanceof Request && input.bodyUsed) {
    throw new HalfsyncError('BODY_NOT_REPLAYABLE', `task "${task.name}": the Request's body was already read; pass a fresh Request`);
  }
  let request: Request;
  try {
    request = new Request(input instanceof URL ? input.href : input, init);
  } catch (error) {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${task.name}": fetch would refuse this request (${(error as Error).message})`, { cause: error });
  }
  const headers: Array<[string, string]> = [];
  const stripped: string[] = [];
  request.headers.forEach((value, key) => {
    if (NEVER_STORED.includes(key)) stripped.push(key);
    else headers.push([key, value]);
  });
  /** Puts the content type of a body halfsync encoded itself in place of the one the request had. */
  const retype = (contentType: string) => {
    const type = headers.find(([key, value]) => key === 'content-type' && value.startsWith('multipart/form-data'));
    if (type) type[1] = contentType;
  };
  let stored: StoredBody | undefined;
  if (init.body != null) {
    const body = init.body;
    if (typeof body === 'string') stored = { kind: 'text', text: body };
    else {
      let bytes: ArrayBuffer;
      try {
        bytes = await request.arrayBuffer();
      } catch (error) {
        // WebKit cannot read back a FormData body that holds a File or Blob ("Unable to read
        // form data blob"), though it sends one and reads each File: encode it here instead.
        if (!(typeof FormData !== 'undefined' && body instanceof FormData)) {
          throw new HalfsyncError('BODY_NOT_REPLAYABLE', `task "${task.name}": this browser could not read the request body (${(error as Error)?.message ?? String(error)}); pass the body in init, as a string, ArrayBuffer, Blob or FormData`, { cause: error });
        }
        const multipart = await encodeMultipart(body);
        bytes = multipart.bytes;
        retype(multipart.contentType);
      }
      stored = { kind: 'bytes', bytes };
    }
  } else if (input instanceof Request && request.method !== 'GET' && request.method !== 'HEAD') {
    const read = await readRequestBody(request, task.name, limits);
    if (read?.contentType) retype(read.contentType);
    if (read) stored = { kind: 'bytes', bytes: read.bytes };
  }
  const out: { -readonly [K in keyof StoredRequest]: StoredRequest[K] } = {
    url: request.url, method: request.method, headers, credentials: request.credentials, mode: request.mode === 'navigate' ? 'same-origin' : request.mode,
    cache: request.cache, redirect: request.redirect, referrerPolicy: request.referrerPolicy,
  };
  // "about:client" is the default: the context that makes the request. That is this page now, but
  // would be the worker's script at replay, so a page's request keeps the page's URL.
  const referrer = request.referrer === 'about:client' ? pageReferrer() : request.referrer;
  if (typeof referrer === 'string') out.referrer = referrer;
  if (request.keepalive === true) out.keepalive = true;
  if (request.integrity) out.integrity = request.integrity;
  if (stored) out.body = stored;
  if (stripped.length > 0) out.strippedHeaders = stripped;
  return out;
}

/** The URL of the page running this code, as a referrer (no fragment, no credentials); undefined in a worker. */
function pageReferrer(): string | undefined {
  if ((globalThis as { document?: unknown }).document === undefined || typeof location === 'undefined') return undefined;
  try {
    const url = new URL(location.href);
    url.hash = '';
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return undefined;
  }
}

/**
 * Reads the body of a `Request` passed as the input, in full: undefined when it has none. Where
 * the engine has `Request.body` (a stream: Chromium, WebKit) it is read chunk by chunk, refused as
 * soon as it is over `maxBodyBytes`; where it has not (Firefox), `arrayBuffer()` reads it (such a
 * body cannot be a stream there) and the limit is checked once read. Either way a body not ended
 * within `bodyTimeoutMs` is refused. A multipart body the engine cannot read back (WebKit, with a
 * file in it) is read as `FormData` and encoded again; its new content type is returned.
 */
async function readRequestBody(request: Request, task: string, limits: RequestBodyLimits): Promise<{ bytes: ArrayBuffer; contentType?: string } | undefined> {
  const maxBytes = limits.maxBodyBytes ?? 16 * 1_048_576;
  const timeoutMs = limits.bodyTimeoutMs ?? 10_000;
  const refuse = (why: string, cause?: unknown) => new HalfsyncError(
    'BODY_NOT_REPLAYABLE',
    `task "${task}": the Request's body ${why}; pass the body in init instead, as a string, ArrayBuffer, Blob or FormData`,
    cause === undefined ? {} : { cause },
  );
  const stream = (request as { body?: ReadableStream<Uint8Array> | null }).body;
  if (stream === null) return undefined;
  // A spare copy, read as FormData if the engine cannot give a multipart body's bytes back.
  const spare = /^multipart\/form-data/i.test(request.headers.get('content-type') ?? '') ? request.clone() : undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), timeoutMs); });
  const notEnded = () => refuse(`did not end within ${timeoutMs} ms (bodyTimeoutMs); a stream that does not end cannot be stored for replay`);
  const tooLong = () => refuse(`is longer than ${maxBytes} bytes (maxBodyBytes)`);
  try {
    let read: ArrayBuffer | 'late' | 'long';
    try {
      read = stream === undefined ? await Promise.race([request.arrayBuffer(), late]) : await readStream(stream, late, maxBytes);
    } catch (error) {
      if (!spare) throw refuse(`could not be read (${(error as Error)?.message ?? String(error)})`, error);
      let form: FormData | 'late';
      try {
        form = await Promise.race([spare.formData(), late]);
      } catch (again) {
        // WebKit reads no FormData body that holds a file or blob back, by any means; it only sends it.
        throw new HalfsyncError(
          'BODY_NOT_REPLAYABLE',
          `task "${task}": the Request's body, multipart form data, cannot be read back in this browser (${(error as Error)?.message ?? String(error)}; as FormData: ${(again as Error)?.message ?? String(again)}); ` +
          'pass the FormData itself as init.body, deferFetch(client, url, { method, body: formData }), which halfsync encodes itself',
          { cause: again },
        );
      }
      if (form === 'late') throw notEnded();
      const multipart = await encodeMultipart(form);
      if (multipart.bytes.byteLength > maxBytes) throw tooLong();
      return multipart;
    }
    if (read === 'late') throw notEnded();
    if (read === 'long' || read.byteLength > maxBytes) throw tooLong();
    // An engine without Request.body cannot say "no body" but by an empty one: store none.
    if (stream === undefined && read.byteLength === 0) return undefined;
    return { bytes: read };
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a stream to its end; gives up, cancelling it, when `late` comes first or it is over `maxBytes`. */
async function readStream(stream: ReadableStream<Uint8Array>, late: Promise<'late'>, maxBytes: number): Promise<ArrayBuffer | 'late' | 'long'> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let stop: 'late' | 'long' | undefined;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), late]);
      if (next === 'late') { stop = 'late'; break; }
      if (next.done) break;
      size += next.value.byteLength;
      if (size > maxBytes) { stop = 'long'; break; }
      chunks.push(next.value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
  if (stop) { reader.cancel().catch(() => {}); return stop; }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out.buffer;
}

/**
 * Encodes `form` as multipart/form-data by the HTML standard's algorithm, as browsers do for
 * `fetch`: line breaks in names and text values become CRLF; `"`, CR and LF in names and file
 * names are percent-escaped; a file without a type is sent as application/octet-stream.
 */
async function encodeMultipart(form: FormData): Promise<{ bytes: ArrayBuffer; contentType: string }> {
  const boundary = `----halfsyncFormBoundary${uuid().replace(/-/g, '')}`;
  const encoder = new TextEncoder();
  const crlf = (s: string) => s.replace(/\r\n|\r|\n/g, '\r\n');
  const quoted = (s: string) => s.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
  const chunks: Uint8Array[] = [];
  // Iterated through a cast: the worker build's WebWorker lib has no iterable FormData type.
  for (const [name, value] of form as unknown as Iterable<[string, FormDataEntryValue]>) {
    const disposition = `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(crlf(name))}"`;
    if (typeof value === 'string') {
      chunks.push(encoder.encode(`${disposition}\r\n\r\n${crlf(value)}\r\n`));
    } else {
      chunks.push(
        encoder.encode(`${disposition}; filename="${quoted(value.name)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`),
        new Uint8Array(await value.arrayBuffer()),
        encoder.encode('\r\n'),
      );
    }
  }
  chunks.push(encoder.encode(`--${boundary}--\r\n`));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return { bytes: out.buffer, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Options of {@link deferFetch}. */
export interface DeferFetchOptions extends DeferOptions, RequestBodyLimits {
  /** The http task to use. Default {@link httpTask}. */
  readonly task?: HttpTaskDefinition;
}

/**
 * Defers a `fetch`: stores the request durably and lets the runner send it, retrying until the
 * server takes it. Resolves (once the body is read, before it is persisted) with the task's handle.
 * An `Idempotency-Key` header in `init` becomes the task's idempotency key.
 *
 * @example
 * ```ts
 * const handle = await deferFetch(client, '/api/orders', {
 *   method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(order),
 * });
 * await handle.persisted;
 * ```
 */
export async function deferFetch(
  client: HalfsyncClient,
  input: RequestInfo | URL,
  init: RequestInit = {},
  options: DeferFetchOptions = {},
): Promise<DeferHandle<HttpResult>> {
  const { task = httpTask, maxBodyBytes, bodyTimeoutMs, ...deferOptions } = options;
  const stored = await serializeRequest(input, init, task, { maxBodyBytes, bodyTimeoutMs });
  const after = new Set((deferOptions.after ?? []).map((h) => (typeof h === 'string' ? h : h.id)));
  for (const id of refsOf(stored)) {
    if (!after.has(id)) throw new HalfsyncError('INVALID_OPTIONS', `task "${task.name}": the request refers to task ${id}'s result (parentValue) but does not run after it; add it to after`, { details: { id } });
  }
  return client.defer(task, stored, withRequestKey(stored, deferOptions));
}

/** The defer options of a stored request: an `Idempotency-Key` it carries becomes the task's key. */
export function withRequestKey(stored: StoredRequest, options: DeferOptions = {}): DeferOptions {
  const key = stored.headers.find(([k]) => k === 'idempotency-key')?.[1];
  return key && options.idempotencyKey === undefined ? { ...options, idempotencyKey: key } : options;
}
