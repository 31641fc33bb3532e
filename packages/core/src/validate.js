import { HalfsyncError } from './errors.js';
const CLONEABLE_CLASSES = [Date, RegExp, Error, Boolean, Number, String];
const path = (at) => at || '(the payload itself)';
/**
 * Walks a payload before it is stored and returns its approximate size: one unit per string
 * code unit, `byteLength` for binary data, 8 per number. Throws a coded error, naming the path,
 * for what structured clone would refuse or silently change (functions, symbols, class instances
 * that would lose their prototype, Blobs, which WebKit refuses in IndexedDB) and for `__proto__` keys.
 */
export function inspectPayload(task, value, limit) {
    const seen = new Set();
    let size = 0;
    const fail = (code, at, what) => {
        throw new HalfsyncError(code, `task "${task}": the payload ${what} at ${path(at)}`, { details: { task, path: at } });
    };
    const visit = (v, at) => {
        switch (typeof v) {
            case 'string':
                size += v.length + 4;
                break;
            case 'number':
            case 'boolean':
            case 'undefined':
                size += 8;
                break;
            case 'bigint':
                size += 16;
                break;
            case 'function':
                fail('PAYLOAD_NOT_CLONEABLE', at, 'holds a function; payloads must be plain data (structured-cloneable)');
                break;
            case 'symbol':
                fail('PAYLOAD_NOT_CLONEABLE', at, 'holds a symbol; payloads must be plain data (structured-cloneable)');
                break;
            case 'object': {
                if (v === null) {
                    size += 8;
                    break;
                }
                if (seen.has(v))
                    break;
                seen.add(v);
                if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
                    size += v.byteLength;
                    break;
                }
                if (typeof Blob !== 'undefined' && v instanceof Blob) {
                    fail('PAYLOAD_NOT_CLONEABLE', at, 'holds a Blob or File, which some browsers (Safari) refuse to store; store its bytes (await blob.arrayBuffer()) and type instead');
                }
                if (v instanceof Map) {
                    for (const [k, item] of v) {
                        visit(k, `${at}<key>`);
                        visit(item, `${at}.get(${String(k)})`);
                    }
                    break;
                }
                if (v instanceof Set) {
                    for (const item of v)
                        visit(item, `${at}<item>`);
                    break;
                }
                const proto = Object.getPrototypeOf(v);
                if (Array.isArray(v)) {
                    for (let i = 0; i < v.length; i++)
                        visit(v[i], `${at}[${i}]`);
                    break;
                }
                if (proto !== Object.prototype && proto !== null) {
                    if (CLONEABLE_CLASSES.some((C) => v instanceof C)) {
                        size += 32;
                        break;
                    }
                    const ctor = proto.constructor?.name ?? 'an unknown class';
                    fail('PAYLOAD_NOT_CLONEABLE', at, `holds an instance of ${ctor}, which would be stored without its prototype and methods; pass plain objects`);
                }
                for (const key of Object.keys(v)) {
                    if (key === '__proto__')
                        fail('PAYLOAD_UNSAFE_KEY', at, 'has a "__proto__" key, which halfsync refuses to store (prototype pollution); rename the field');
                    size += key.length + 4;
                    visit(v[key], `${at}.${key}`);
                }
                break;
            }
        }
        if (size > limit) {
            throw new HalfsyncError('PAYLOAD_TOO_LARGE', `task "${task}": the payload is over the limit of ${limit} bytes; store large data elsewhere (Cache Storage, a file upload) and defer a reference, or raise maxPayloadBytes`, { details: { task, limit } });
        }
    };
    try {
        visit(value, '');
    }
    catch (error) {
        if (error instanceof RangeError) {
            throw new HalfsyncError('PAYLOAD_NOT_CLONEABLE', `task "${task}": the payload is nested too deeply to store`, { cause: error });
        }
        throw error;
    }
    return size;
}
/** Copies a payload with structured clone, turning a DataCloneError into a coded error. */
export function clonePayload(task, value) {
    try {
        return structuredClone(value);
    }
    catch (error) {
        throw new HalfsyncError('PAYLOAD_NOT_CLONEABLE', `task "${task}": the payload cannot be structured-cloned (${error.message}); payloads must be plain data`, { cause: error });
    }
}
//# sourceMappingURL=validate.js.map