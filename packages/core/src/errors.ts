/**
 * Every error halfsync raises is a {@link HalfsyncError} with a stable {@link HalfsyncErrorCode}.
 * Match on `code`, never on the message: messages say what to do and may be reworded.
 */
export type HalfsyncErrorCode =
  /** `defer` was given a task the client was not created with. */
  | 'UNKNOWN_TASK'
  /** `defineTask` or `createClient` was given a malformed definition or option. */
  | 'INVALID_OPTIONS'
  /** Two task definitions share one name. */
  | 'DUPLICATE_TASK'
  /** The payload holds something structured clone cannot copy (a function, a DOM node, a stream...). */
  | 'PAYLOAD_NOT_CLONEABLE'
  /** The payload is over the client's `maxPayloadBytes`. */
  | 'PAYLOAD_TOO_LARGE'
  /** The payload has a `__proto__` key, which halfsync refuses to store. */
  | 'PAYLOAD_UNSAFE_KEY'
  /** The task's own `validate` rejected the payload. */
  | 'PAYLOAD_INVALID'
  /** The browser refused the write because the origin's storage quota is exhausted. */
  | 'QUOTA_EXCEEDED'
  /** IndexedDB is missing, blocked (private mode, policy) or failed to open. */
  | 'STORAGE_UNAVAILABLE'
  /** The database needs an upgrade and another tab keeps the old version open; close or reload the other tabs. */
  | 'STORAGE_BLOCKED'
  /**
   * The database exists but the browser cannot open it (its files are damaged: Chromium fails
   * every open with `UnknownError` and does not discard it). Call `recoverStorage()` to delete it;
   * the next open reports STORAGE_RESET and restores the unfinished tasks from the journal.
   */
  | 'STORAGE_CORRUPT'
  /**
   * The browser lost this site's database (Chromium discards one it finds corrupt after a crash;
   * a profile's files can be deleted): tasks stored before are gone unless the journal restored them.
   */
  | 'STORAGE_RESET'
  /** IndexedDB failed in a way not covered above; `cause` holds the browser's error. */
  | 'STORAGE_ERROR'
  /** A defer's `after` names a task that is not known (never deferred here, acknowledged, purged). */
  | 'DEPENDENCY_UNKNOWN'
  /** Tasks would run after each other in a circle (a supersede that would close one, or links written into IndexedDB): none could ever run. */
  | 'DEPENDENCY_CYCLE'
  /**
   * A second defer of a task with the idempotency key of one still pending or running, but a
   * different payload: the server would apply the first payload only. Use a new key, or wait.
   */
  | 'IDEMPOTENCY_KEY_REUSED'
  /** `defer` was given a periodic task (`definePeriodicTask`): its runs are made by its schedule. */
  | 'PERIODIC_TASK'
  /** No task with that id is known (never deferred, or already acknowledged). */
  | 'TASK_NOT_FOUND'
  /** The operation does not apply to the task in its current status (e.g. cancelling a running task). */
  | 'INVALID_TRANSITION'
  /** The task failed permanently; `details.lastError` says why. */
  | 'TASK_FAILED'
  /** The task was cancelled before it ran. */
  | 'TASK_CANCELLED'
  /** A runner lost a task's lease to another runner (seen by handlers as `signal.reason`). */
  | 'LEASE_LOST'
  /** The client was closed; create a new one. */
  | 'CLIENT_CLOSED'
  /**
   * A defer was made while this tab showed one user signed in, and by its commit another tab (or
   * the worker) had committed another user's sign-in or sign-out: nothing was stored, so that the
   * action is never recorded or run as the other user. `details.owner` is who is signed in now.
   */
  | 'OWNER_CHANGED'
  /** An http task targets an origin that is not allowed. */
  | 'ORIGIN_NOT_ALLOWED'
  /** An http task's body cannot be stored for replay (a stream, for example). */
  | 'BODY_NOT_REPLAYABLE'
  /** The service worker did not answer (its script may not call `serve({ tasks })`), or cannot be used. */
  | 'WORKER_UNAVAILABLE'
  /**
   * The page runner's code, a chunk halfsync loads only when a page runs the tasks itself, could
   * not be loaded (offline before it was cached, or removed by a deploy). The work stays queued and
   * the next wake loads it again; precache the app's chunks to avoid it.
   */
  | 'RUNNER_UNAVAILABLE'
  /**
   * A defer used an option (`after`, `supersede`) whose capability the client was not created
   * with; `details.capability` names the import to add to `createClient({ use })`. Nothing was stored.
   */
  | 'CAPABILITY_MISSING'
  /** The testing kit was asked for something the browser engine cannot do. */
  | 'UNSUPPORTED_ENGINE';

/** Options for {@link HalfsyncError}. */
export interface HalfsyncErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown;
  /** Structured facts about the failure (the task id, the limit that was hit...). */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * The one error class of halfsync.
 *
 * @example
 * ```ts
 * try { client.defer(sendEmail, payload) }
 * catch (e) { if (e instanceof HalfsyncError && e.code === 'PAYLOAD_TOO_LARGE') shrink() }
 * ```
 */
export class HalfsyncError extends Error {
  /** A stable machine-readable code. */
  readonly code: HalfsyncErrorCode;
  /** Structured facts about the failure. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: HalfsyncErrorCode, message: string, options: HalfsyncErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HalfsyncError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** Options shared by the errors a task handler throws. */
export interface TaskErrorOptions {
  /** A short machine-readable code stored with the failure (shown in devtools, matched by apps). */
  code?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Thrown by a task handler to say that retrying cannot help (a 400, a validation failure on
 * the server...). The task becomes `failed` at once and stays inspectable until acknowledged.
 */
export class PermanentError extends Error {
  /** Stored in the task's `lastError.code`. */
  readonly code: string;
  constructor(message: string, options: TaskErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PermanentError';
    this.code = options.code ?? 'PERMANENT';
  }
}

/**
 * Thrown by a task handler to ask for a retry, optionally not before `retryAfterMs`
 * (a `Retry-After` header, a rate limit). Any other thrown value is retryable too; this class
 * only adds the hint and a code.
 */
export class RetryableError extends Error {
  /** Stored in the task's `lastError.code`. */
  readonly code: string;
  /** The earliest delay before the next attempt, in milliseconds. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options: TaskErrorOptions & { retryAfterMs?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RetryableError';
    this.code = options.code ?? 'RETRYABLE';
    this.retryAfterMs = options.retryAfterMs;
  }
}

/**
 * Thrown by a task handler to say that the request could not be made at all: no network, DNS,
 * a refused or reset connection. The attempt is not counted (the task keeps its attempts for
 * failures of the server itself) and the task is tried again after a short, capped backoff, and at
 * once when the network returns. A `fetch` that rejects with a network `TypeError` is recognised
 * as unreachable without this class.
 */
export class UnreachableError extends Error {
  /** Stored in the task's `lastError.code`. */
  readonly code: string;
  constructor(message: string, options: TaskErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UnreachableError';
    this.code = options.code ?? 'UNREACHABLE';
  }
}

/** Turns a DOMException from IndexedDB into the matching coded error. */
export function storageError(error: unknown, what: string): HalfsyncError {
  if (error instanceof HalfsyncError) return error;
  const name = (error as { name?: unknown } | null)?.name;
  if (name === 'QuotaExceededError') {
    return new HalfsyncError(
      'QUOTA_EXCEEDED',
      `${what}: the browser's storage quota for this origin is full; free space (acknowledge finished tasks, clear caches) or defer smaller payloads`,
      { cause: error },
    );
  }
  if (name === 'InvalidStateError' || name === 'UnknownError' || name === 'SecurityError') {
    return new HalfsyncError(
      'STORAGE_UNAVAILABLE',
      `${what}: IndexedDB is unavailable (${String(name)}); the browser may be in a private mode or blocking storage for this site`,
      { cause: error },
    );
  }
  return new HalfsyncError('STORAGE_ERROR', `${what}: IndexedDB failed (${String(name ?? error)})`, { cause: error });
}
