import { type LaneFailurePolicy, type RateLimitOptions, type RetentionPolicy, type RetryPolicy, type TaskContext, type TaskDefinition } from './task.js';
import { RETRYABLE_STATUS } from './http-checks.js';

// What the http task stores and answers: the request as sent, its result, and the verdict on a
// response.

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
  /** As `defineTask`'s `priority`: 0 (lowest) to 9 (highest), default 5. */
  readonly priority?: number;
  /** As `defineTask`'s `rateLimit`: `'60/m'`, or `{ tasks, perMs, burst? }`. A 429's `Retry-After` holds the definition's tasks until then. */
  readonly rateLimit?: string | RateLimitOptions;
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
