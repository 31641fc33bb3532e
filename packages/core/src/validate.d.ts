/**
 * Walks a payload before it is stored and returns its approximate size: one unit per string
 * code unit, `byteLength` for binary data, 8 per number. Throws a coded error, naming the path,
 * for what structured clone would refuse or silently change (functions, symbols, class instances
 * that would lose their prototype, Blobs, which WebKit refuses in IndexedDB) and for `__proto__` keys.
 */
export declare function inspectPayload(task: string, value: unknown, limit: number): number;
/** Copies a payload with structured clone, turning a DataCloneError into a coded error. */
export declare function clonePayload<T>(task: string, value: T): T;
//# sourceMappingURL=validate.d.ts.map