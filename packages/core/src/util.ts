/** A random UUID, also where `crypto.randomUUID` is missing (pages served over plain http). */
export function uuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const localLocks = new Map<string, Promise<unknown>>();

/**
 * Runs `fn` holding the exclusive Web Lock `name`, which excludes every tab and the worker of the
 * origin. Where Web Locks are missing (Node, old browsers) it falls back to a lock local to this
 * JavaScript realm, and the lease in each record is the only guard across realms.
 */
export async function withLock<T>(name: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const locks = typeof navigator === 'undefined' ? undefined : (navigator as { locks?: LockManager }).locks;
  if (locks) return locks.request(name, signal ? { signal } : {}, fn) as Promise<T>;
  const before = localLocks.get(name) ?? Promise.resolve();
  const run = before.then(() => {
    signal?.throwIfAborted();
    return fn();
  });
  const tail = run.catch(() => {});
  localLocks.set(name, tail);
  void tail.then(() => { if (localLocks.get(name) === tail) localLocks.delete(name); });
  return run;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, Math.max(0, ms));
    function done() { clearTimeout(t); signal?.removeEventListener('abort', done); resolve(); }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Reports an error thrown by the app's own callback (onSuccess, onError...) the way the platform
 * reports an uncaught one (`reportError`: the console, `window.onerror`), without letting it
 * break halfsync's own work.
 */
export function reportAppError(error: unknown): void {
  const report = (globalThis as { reportError?: (e: unknown) => void }).reportError;
  if (typeof report === 'function') report(error);
  else setTimeout(() => { throw error; }, 0);
}

