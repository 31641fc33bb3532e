import { HalfsyncError, PermanentError, RetryableError } from './errors.js';
import type { FailureKind, TaskError } from './record.js';

// Guarantee 9, "Patient": what a failure means for the task. A try that could not reach the
// server is not the server's answer, so it never uses up an attempt; only what retrying cannot
// fix fails a task at once.

/** How a run ended, as the executor reports it to the store. */
export type Outcome =
  | { readonly kind: 'ok'; readonly result: unknown }
  | { readonly kind: 'retry'; readonly error: TaskError; readonly retryAfterMs?: number | undefined }
  | { readonly kind: 'unreachable'; readonly error: TaskError }
  | { readonly kind: 'fail'; readonly error: TaskError }
  | { readonly kind: 'release' };

// What engines say when `fetch` could not make the request: Chromium "Failed to fetch", Firefox
// "NetworkError when attempting to fetch resource.", WebKit "Load failed" / "Could not connect to
// the server." / "The network connection was lost.", Node "fetch failed".
const NETWORK_MESSAGE = /failed to fetch|networkerror|load failed|fetch failed|could not connect|network connection was lost|internet connection appears to be offline/i;
const NETWORK_CODE = /^(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|ENETDOWN|EPIPE|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT)$/;

/**
 * Whether a thrown value says the request could not be made: an `UnreachableError`, the
 * `TypeError` a `fetch` rejects with when there is no connection, or a Node socket error; also
 * when any of these is the `cause` of what was thrown (a handler that wraps the error).
 */
export function isUnreachable(error: unknown): boolean {
  let e: unknown = error;
  for (let depth = 0; depth < 5 && typeof e === 'object' && e !== null; depth++) {
    const { name, message, code } = e as { name?: unknown; message?: unknown; code?: unknown };
    if (name === 'UnreachableError') return true;
    if (name === 'TypeError' && typeof message === 'string' && NETWORK_MESSAGE.test(message)) return true;
    if (typeof code === 'string' && NETWORK_CODE.test(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Makes a stored failure from anything a handler threw. */
export function toTaskError(error: unknown, now: number, kind: FailureKind): TaskError {
  const e = (typeof error === 'object' && error !== null ? error : {}) as { code?: unknown; name?: unknown; message?: unknown; status?: unknown; body?: unknown };
  const code = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'Error';
  const message = typeof e.message === 'string' ? e.message : String(error);
  const out: { -readonly [K in keyof TaskError]: TaskError[K] } = { code, message, permanent: kind === 'permanent', kind, at: now };
  if (typeof e.status === 'number') out.status = e.status;
  if (typeof e.body === 'string') out.body = e.body;
  return out;
}

/**
 * Sorts a thrown value into one of the three kinds of failure. `online` is the runner's view of
 * the network when the handler failed: offline, any failure that is not permanent is unreachable
 * (a handler that cannot tell why its request failed must not spend an attempt on it).
 * Works across realms by the error's name too.
 */
export function classify(error: unknown, now: number, online: boolean): Outcome {
  const name = (error as { name?: unknown } | null)?.name;
  if (error instanceof PermanentError || name === 'PermanentError' || error instanceof HalfsyncError) {
    return { kind: 'fail', error: toTaskError(error, now, 'permanent') };
  }
  if (!online || isUnreachable(error)) return { kind: 'unreachable', error: toTaskError(error, now, 'unreachable') };
  const hint = error instanceof RetryableError || name === 'RetryableError' ? (error as RetryableError).retryAfterMs : undefined;
  return { kind: 'retry', error: toTaskError(error, now, 'transient'), retryAfterMs: hint };
}

/** The runner's view of the network: false only when the browser says it is offline. */
export function browserOnline(): boolean {
  return typeof navigator === 'undefined' || (navigator as { onLine?: boolean }).onLine !== false;
}
