/** A random UUID, also where `crypto.randomUUID` is missing (pages served over plain http). */
export declare function uuid(): string;
/**
 * Runs `fn` holding the exclusive Web Lock `name`, which excludes every tab and the worker of the
 * origin. Where Web Locks are missing (Node, old browsers) it falls back to a lock local to this
 * JavaScript realm, and the lease in each record is the only guard across realms.
 */
export declare function withLock<T>(name: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T>;
/** Resolves after `ms`, or at once when `signal` aborts. */
export declare function sleep(ms: number, signal?: AbortSignal): Promise<void>;
//# sourceMappingURL=util.d.ts.map