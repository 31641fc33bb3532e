/**
 * Every error `@halfsync/server` raises or answers with carries a stable {@link HalfsyncServerErrorCode}.
 * Match on `code`, never on the message: messages say what to do and may be reworded.
 *
 * The codes a client can meet are sent in problem replies (RFC 9457, `application/problem+json`) as the
 * `code` member; the others are thrown to the application, at set-up or inside a handler.
 */
export type HalfsyncServerErrorCode =
  /** 400: the route requires an `Idempotency-Key` header and the request had none. */
  | 'IDEMPOTENCY_KEY_MISSING'
  /** 400: the `Idempotency-Key` is shorter than 16 characters (`minKeyLength`), longer than 255, not printable ASCII, or sent twice. */
  | 'IDEMPOTENCY_KEY_INVALID'
  /** 409: a request with the same key is still being handled; retry after `Retry-After` seconds. */
  | 'IDEMPOTENCY_KEY_IN_USE'
  /** 422: the key was already used for a request with a different method, path or body. */
  | 'IDEMPOTENCY_KEY_REUSED'
  /** 413: the body is larger than `maxBodyBytes`, so it cannot be fingerprinted. */
  | 'BODY_TOO_LARGE'
  /** 503: the store could not be reached before the handler ran; the handler did not run. */
  | 'STORE_UNAVAILABLE'
  /** 503: the handler ran but its response could not be recorded; the request is not reported as a success. */
  | 'RESPONSE_NOT_RECORDED'
  /**
   * 500: a keyed request carries credentials (`Authorization` or `Cookie`) and the layer has no `scope`, so it
   * cannot keep this caller's keys apart from another's; the handler did not run. Set `scope`.
   */
  | 'SCOPE_REQUIRED'
  /** 503: the handler ran past `maxHandlerMs`; its claim was given up (a transaction it commits later is rolled back). */
  | 'HANDLER_TIMEOUT'
  /** A handler's claim on a key was taken over by another request (reported to `onError`). */
  | 'LOCK_LOST'
  /** An option given to the layer, a store or an adapter is malformed. */
  | 'INVALID_OPTIONS'
  /** A transactional reply is malformed (a status outside 200–599, a body that is not text or bytes). */
  | 'INVALID_REPLY'
  /** `transaction()` was called with a store that has no transactions. */
  | 'TRANSACTION_UNSUPPORTED'
  /** `transaction()` was called twice for one request. */
  | 'TRANSACTION_ALREADY_USED'
  /** SQLite transaction work returned a promise; it must be synchronous. */
  | 'TRANSACTION_NOT_SYNC'
  /** The store was closed. */
  | 'STORE_CLOSED'
  /** `idempotencyOf()` was asked about a request the middleware did not guard, or guarded with another store. */
  | 'CONTEXT_MISSING';

/** Options for {@link HalfsyncServerError}. */
export interface HalfsyncServerErrorOptions {
  /** The underlying error, if any. */
  readonly cause?: unknown;
  /** Structured facts about the failure (the key, the limit that was hit...). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * The one error class of `@halfsync/server`.
 *
 * @example
 * ```ts
 * import { HalfsyncServerError, idempotent, memoryStore } from '@halfsync/server';
 *
 * const handle = idempotent(async () => new Response('ok'), {
 *   store: memoryStore(),
 *   onError: (error: HalfsyncServerError) => { if (error.code === 'STORE_UNAVAILABLE') console.warn(error.message) },
 * });
 * ```
 */
export class HalfsyncServerError extends Error {
  /** A stable machine-readable code. */
  readonly code: HalfsyncServerErrorCode;
  /** Structured facts about the failure. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: HalfsyncServerErrorCode, message: string, options: HalfsyncServerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HalfsyncServerError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** A short description of a thrown value, for messages. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
