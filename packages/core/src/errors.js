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
    code;
    /** Structured facts about the failure. */
    details;
    constructor(code, message, options = {}) {
        super(message, options.cause === undefined ? undefined : { cause: options.cause });
        this.name = 'HalfsyncError';
        this.code = code;
        this.details = options.details ?? {};
    }
}
/**
 * Thrown by a task handler to say that retrying cannot help (a 400, a validation failure on
 * the server...). The task becomes `failed` at once and stays inspectable until acknowledged.
 */
export class PermanentError extends Error {
    /** Stored in the task's `lastError.code`. */
    code;
    constructor(message, options = {}) {
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
    code;
    /** The earliest delay before the next attempt, in milliseconds. */
    retryAfterMs;
    constructor(message, options = {}) {
        super(message, options.cause === undefined ? undefined : { cause: options.cause });
        this.name = 'RetryableError';
        this.code = options.code ?? 'RETRYABLE';
        this.retryAfterMs = options.retryAfterMs;
    }
}
/** Turns a DOMException from IndexedDB into the matching coded error. */
export function storageError(error, what) {
    if (error instanceof HalfsyncError)
        return error;
    const name = error?.name;
    if (name === 'QuotaExceededError') {
        return new HalfsyncError('QUOTA_EXCEEDED', `${what}: the browser's storage quota for this origin is full; free space (acknowledge finished tasks, clear caches) or defer smaller payloads`, { cause: error });
    }
    if (name === 'InvalidStateError' || name === 'UnknownError' || name === 'SecurityError') {
        return new HalfsyncError('STORAGE_UNAVAILABLE', `${what}: IndexedDB is unavailable (${String(name)}); the browser may be in a private mode or blocking storage for this site`, { cause: error });
    }
    return new HalfsyncError('STORAGE_ERROR', `${what}: IndexedDB failed (${String(name ?? error)})`, { cause: error });
}
//# sourceMappingURL=errors.js.map