import { HalfsyncError } from './errors.js';

const CLONEABLE_CLASSES: ReadonlyArray<abstract new (...args: never[]) => unknown> = [Date, RegExp, Error, Boolean, Number, String];

const path = (at: string): string => at || '(the payload itself)';

/**
 * Walks a payload before it is stored and returns its approximate size: one unit per string
 * code unit, `byteLength` for binary data, 8 per number. Throws a coded error, naming the path,
 * for what structured clone would refuse or silently change (functions, symbols, class instances
 * that would lose their prototype, Blobs, which WebKit refuses in IndexedDB) and for `__proto__` keys.
 */
export function inspectPayload(task: string, value: unknown, limit: number): number {
  const seen = new Set<object>();
  // The path is kept as a stack and only turned into text for an error: building a string per
  // property would cost every defer() for the rare refused one.
  const stack: string[] = [];
  let size = 0;
  const fail = (code: 'PAYLOAD_NOT_CLONEABLE' | 'PAYLOAD_UNSAFE_KEY', what: string): never => {
    const at = stack.join('');
    throw new HalfsyncError(code, `task "${task}": the payload ${what} at ${path(at)}`, { details: { task, path: at } });
  };
  const child = (v: unknown, step: string) => { stack.push(step); visit(v); stack.pop(); };
  const visit = (v: unknown): void => {
    switch (typeof v) {
      case 'string': size += v.length + 4; break;
      case 'number': case 'boolean': case 'undefined': size += 8; break;
      case 'bigint': size += 16; break;
      case 'function': fail('PAYLOAD_NOT_CLONEABLE', 'holds a function; payloads must be plain data (structured-cloneable)'); break;
      case 'symbol': fail('PAYLOAD_NOT_CLONEABLE', 'holds a symbol; payloads must be plain data (structured-cloneable)'); break;
      case 'object': {
        if (v === null) { size += 8; break; }
        if (seen.has(v)) break;
        seen.add(v);
        if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) { size += v.byteLength; break; }
        if (typeof Blob !== 'undefined' && v instanceof Blob) {
          fail('PAYLOAD_NOT_CLONEABLE', 'holds a Blob or File, which some browsers (Safari) refuse to store; store its bytes (await blob.arrayBuffer()) and type instead');
        }
        if (v instanceof Map) {
          for (const [k, item] of v) { child(k, '<key>'); child(item, `.get(${String(k)})`); }
          break;
        }
        if (v instanceof Set) { for (const item of v) child(item, '<item>'); break; }
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) child(v[i], `[${i}]`);
          break;
        }
        const proto: unknown = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) {
          if (CLONEABLE_CLASSES.some((C) => v instanceof C)) { size += 32; break; }
          const ctor = (proto as { constructor?: { name?: string } }).constructor?.name ?? 'an unknown class';
          fail('PAYLOAD_NOT_CLONEABLE', `holds an instance of ${ctor}, which would be stored without its prototype and methods; pass plain objects`);
        }
        for (const key in v) {
          if (!Object.hasOwn(v, key)) continue;
          if (key === '__proto__') fail('PAYLOAD_UNSAFE_KEY', 'has a "__proto__" key, which halfsync refuses to store (prototype pollution); rename the field');
          size += key.length + 4;
          stack.push('.', key);
          visit((v as Record<string, unknown>)[key]);
          stack.length -= 2;
        }
        break;
      }
    }
    if (size > limit) {
      throw new HalfsyncError(
        'PAYLOAD_TOO_LARGE',
        `task "${task}": the payload is over the limit of ${limit} bytes; store large data elsewhere (Cache Storage, a file upload) and defer a reference, or raise maxPayloadBytes`,
        { details: { task, limit } },
      );
    }
  };
  try {
    visit(value);
  } catch (error) {
    if (error instanceof RangeError) {
      throw new HalfsyncError('PAYLOAD_NOT_CLONEABLE', `task "${task}": the payload is nested too deeply to store`, { cause: error });
    }
    throw error;
  }
  return size;
}

/** Copies a payload with structured clone, turning a DataCloneError into a coded error. */
export function clonePayload<T>(task: string, value: T): T {
  try {
    return structuredClone(value);
  } catch (error) {
    throw new HalfsyncError(
      'PAYLOAD_NOT_CLONEABLE',
      `task "${task}": the payload cannot be structured-cloned (${(error as Error).message}); payloads must be plain data`,
      { cause: error },
    );
  }
}

/** Whether two payloads (plain, structured-cloneable data) hold the same values. */
export function samePayload(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return a.getTime() === (b as Date).getTime();
  if (a instanceof ArrayBuffer || ArrayBuffer.isView(a)) {
    const x = a instanceof ArrayBuffer ? new Uint8Array(a) : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const yv = b as ArrayBuffer | ArrayBufferView;
    const y = yv instanceof ArrayBuffer ? new Uint8Array(yv) : new Uint8Array(yv.buffer, yv.byteOffset, yv.byteLength);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  }
  if (a instanceof Map) return a.size === (b as Map<unknown, unknown>).size && [...a].every(([k, v]) => (b as Map<unknown, unknown>).has(k) && samePayload(v, (b as Map<unknown, unknown>).get(k)));
  if (a instanceof Set) return a.size === (b as Set<unknown>).size && [...a].every((v) => (b as Set<unknown>).has(v));
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && samePayload((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

