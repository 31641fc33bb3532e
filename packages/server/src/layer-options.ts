import type { TOO_LARGE } from './body.js';
import { HalfsyncServerError } from './errors.js';
import type { Fingerprinter } from './fingerprint.js';
import type { IdempotencyStore } from './store.js';
import type { HeaderPolicy } from './stored.js';

// The idempotency layer's options and the shapes adapters share, with the defaults and the checks
// every option goes through.

/**
 * What a guarded handler is given beside its request.
 *
 * `Tx` and `Out` come from the store: with `sqliteStore` the work gets the better-sqlite3 `Database` and
 * returns a `Reply`; with `postgresStore` it gets the `pg` client holding the transaction and may be
 * async; with a store that has no transactions, `transaction` cannot be called.
 */
export interface IdempotencyContext<Tx = never, Out = never> {
  /** The request's `Idempotency-Key`, or undefined for a request the layer let through without one. */
  readonly key: string | undefined;
  /**
   * Aborted when the handler runs past `maxHandlerMs`: the layer has given up the key's claim and answered the
   * client, so stop the work if you can. Never aborted otherwise, not even when the client goes away (a guarded
   * handler runs to its end so that its response is recorded for the client's retry).
   */
  readonly signal: AbortSignal;
  /**
   * The transactional mode: runs `work` in one database transaction of the store and records the key's
   * response in that same transaction, so the effect and its record commit together, or neither does.
   * Exactly once even if the server dies between the effect and the record, which the default mode (the
   * handler's response recorded after it returns) cannot promise. The effect must be written through `tx`.
   *
   * Resolves with the response the layer will send (return it from the handler); a `Reply` with a 5xx
   * status rolls the transaction back and records nothing. At most once per request.
   *
   * @example
   * ```ts
   * import Database from 'better-sqlite3';
   * import { idempotent, jsonReply } from '@halfsync/server';
   * import { sqliteStore } from '@halfsync/server/sqlite';
   *
   * const db = new Database('shop.db');
   * db.exec('CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, total INTEGER NOT NULL)');
   * const placeOrder = idempotent(async (request, { transaction }) => {
   *   const order = (await request.json()) as { id: string; total: number };
   *   return transaction((tx) => {
   *     tx.prepare('INSERT INTO orders (id, total) VALUES (?, ?)').run(order.id, order.total);
   *     return jsonReply(order, { status: 201 });
   *   });
   * }, { store: sqliteStore({ database: db }) });
   * ```
   */
  transaction(work: (tx: Tx) => Out): Promise<Response>;
}

/** A Fetch-API handler guarded by the layer: a request in, a response out, plus the {@link IdempotencyContext}. */
export type IdempotentHandler<Tx = never, Out = never> = (request: Request, context: IdempotencyContext<Tx, Out>) => Response | Promise<Response>;

/** Options of {@link idempotent} and of the adapters' middleware. */
export interface IdempotencyOptions<Tx = never, Out = never> {
  /** Where keys and responses are kept: `memoryStore()`, `sqliteStore()` or `postgresStore()`. */
  readonly store: IdempotencyStore<Tx, Out>;
  /** The methods the layer guards; others pass straight through. Default `['POST', 'PATCH']`, the non-idempotent ones. */
  readonly methods?: readonly string[];
  /** Whether a guarded request without a key is refused with 400. Default true; false lets it through unguarded. */
  readonly required?: boolean | ((request: Request) => boolean);
  /** How long a recorded response is replayed, from the time it was recorded. Default 24 hours. */
  readonly expiresAfterMs?: number;
  /**
   * How long a claim holds a key without a sign of life. The layer renews the claim every third of this
   * while the handler runs, so only a server that died leaves a claim to expire; then a retry takes the
   * key over. Default 30 s; at least 1 s.
   *
   * Under load, keep it well above the longest stall a server can have (a blocked event loop, a garbage
   * collection, a slow store): a claim whose renewals stall longer than the lease is taken over by a retry
   * while its handler still runs, and the effect applies twice. At a 3 s lease on a machine at a load of 9,
   * that happened to 4 keys of 3,000; at the default 30 s, to none.
   */
  readonly lockTimeoutMs?: number;
  /**
   * The longest a guarded handler may run, in ms. Past it the layer gives up the key's claim, aborts the
   * context's `signal`, and answers 503 `HANDLER_TIMEOUT` with `Retry-After`, so a retry runs the handler again
   * instead of waiting for one that hangs. In the transactional mode a transaction that has not committed by then
   * is rolled back; in the default mode an effect the hung handler applies later may apply twice. Default: no limit.
   */
  readonly maxHandlerMs?: number;
  /** The `Retry-After` of a 409 (the key's first request is still running). Default 1 s. */
  readonly retryAfterSeconds?: number;
  /** The `Retry-After` of a 503 (the store is unavailable). Default 5 s. */
  readonly unavailableRetryAfterSeconds?: number;
  /** The largest body fingerprinted; a larger one is refused with 413. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Which response headers are stored for replays. Default: all but `Set-Cookie` and per-connection headers. */
  readonly headers?: HeaderPolicy;
  /**
   * Keys are unique within a scope. Return the caller's account: the principal your authentication verified,
   * which stays the same when a token is refreshed (never the raw token or cookie), so that one caller's key
   * never reaches another caller's recorded response. Add the route to let one key serve two endpoints.
   *
   * Without it every caller shares one scope, which is safe only for requests without credentials: a keyed
   * request that carries an `Authorization` or `Cookie` header is then refused with 500 `SCOPE_REQUIRED`, and
   * the handler does not run. `scope: () => ''` shares one scope on purpose.
   *
   * @example
   * ```ts
   * import { idempotent, memoryStore } from '@halfsync/server';
   *
   * // Your authentication: the account behind the request's token, or throws.
   * declare function accountOf(request: Request): Promise<string>;
   * const handle = idempotent(async () => new Response('ok', { status: 201 }), { store: memoryStore(), scope: accountOf });
   * ```
   */
  readonly scope?: (request: Request) => string | Promise<string>;
  /**
   * The shortest key accepted, in characters: 1 to 255. Default 16, so that a key cannot
   * be guessed; a shorter one is refused with 400 `IDEMPOTENCY_KEY_INVALID`.
   */
  readonly minKeyLength?: number;
  /** How a request is fingerprinted. Default `requestFingerprint`: method, path, query and body bytes. */
  readonly fingerprint?: Fingerprinter;
  /** The start of problem `type` URIs, e.g. your API docs' URL. Default `urn:halfsync:problem:`. */
  readonly problemTypeBase?: string;
  /**
   * How often expired records are deleted: on a timer (unref'd, so it never keeps the process alive) and, at
   * most as often, when a request arrives. Default 10 minutes; `Infinity` never. The table then holds about
   * one row per key received in the last `expiresAfterMs` plus this interval, each the size of its response.
   */
  readonly purgeIntervalMs?: number;
  /** The clock, in epoch ms. Default `Date.now`. Servers sharing a store must keep their clocks in step (NTP). */
  readonly now?: () => number;
  /** Told about failures the client only sees as a 503, or not at all (a failed purge): log them. */
  readonly onError?: (error: HalfsyncServerError) => void;
}

/** A request as the layer sees it: its method, URL and headers, and a way to read its body with a limit. */
export interface LayerRequest {
  /** Method, URL and headers are read from it; its body is read only through `readBody`. */
  readonly request: Request;
  /** Reads the whole body, up to `limit` bytes, or answers {@link TOO_LARGE}. */
  readonly readBody: (limit: number) => Promise<Uint8Array<ArrayBuffer> | typeof TOO_LARGE>;
}

/**
 * Runs what the layer guards. `body` holds the bytes the layer read for a keyed request, and is undefined
 * for a request it let through untouched (its body unread).
 */
export type Downstream<Tx, Out> = (context: IdempotencyContext<Tx, Out>, body: Uint8Array<ArrayBuffer> | undefined) => Promise<Response>;

/** The layer as adapters use it. */
export interface IdempotencyLayer<Tx, Out> {
  /** Answers a request: from the store, with a problem, or by running `downstream` and recording its response. */
  handle(input: LayerRequest, downstream: Downstream<Tx, Out>): Promise<Response>;
}

export const DEFAULTS = {
  methods: ['POST', 'PATCH'],
  expiresAfterMs: 24 * 60 * 60 * 1000,
  lockTimeoutMs: 30_000,
  retryAfterSeconds: 1,
  unavailableRetryAfterSeconds: 5,
  maxBodyBytes: 1024 * 1024,
  purgeIntervalMs: 10 * 60 * 1000,
} as const;

/** The shortest lease the layer takes: renewed every third of it, a shorter one cannot outlast an ordinary stall. */
export const MIN_LOCK_TIMEOUT_MS = 1_000;
/** The longest delay a timer can wait (a larger one fires at once). */
export const MAX_TIMER_MS = 2_147_483_647;

/** Headers that identify a caller: a request with one of them needs a `scope`. */
export const CREDENTIALS = ['authorization', 'cookie'] as const;

export function positive(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min) {
    throw new HalfsyncServerError('INVALID_OPTIONS', `idempotency option ${name} must be a number of at least ${min}, got ${String(value)}`);
  }
  return value;
}

export function integerSeconds(name: string, value: number | undefined, fallback: number): number {
  const n = positive(name, value, fallback, 0);
  if (!Number.isInteger(n)) throw new HalfsyncServerError('INVALID_OPTIONS', `idempotency option ${name} must be a whole number of seconds, got ${n}`);
  return n;
}

