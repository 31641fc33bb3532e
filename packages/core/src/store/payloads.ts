import type { IDBPObjectStore } from 'idb';
import type { TaskRecord } from '../record.js';
import type { HalfsyncSchema, PayloadRow } from './schema.js';

// The payload apart from the status record: a task whose payload is large keeps it in the
// `payloads` store, under its id, so that a claim, a lease renewal and a settlement, which rewrite
// the record, write a few hundred bytes and not the payload. A small payload stays in its record:
// apart, it would cost every task a second write at the move and a second read at the claim to
// save at most APART_OVER bytes per rewrite.
// Records enter `tasks` through `split` (the inbox's move, an insert, a restore, a periodic run,
// an update) and leave it through `drop`; what hands a task on (a claim, a tab's load, a page of
// history, a read by id) joins its payload back with `join`.

/** Payloads larger than this (estimated as `defer` does: about bytes) are stored apart. */
export const APART_OVER = 512;

/**
 * Whether a payload is small enough to stay in its record: its size counted as `defer` estimates
 * it (string code units, bytes of binary data, 8 per other value, keys), the walk stopping as soon
 * as it is over. (Not `inspectPayload` with a limit, whose coded error, stack trace and all, would
 * cost every large payload that moves.)
 */
export function small(payload: unknown): boolean {
  let left = APART_OVER;
  const seen = new Set<object>();
  const walk = (v: unknown): boolean => {
    if (typeof v === 'string') left -= v.length + 4;
    else if (typeof v !== 'object' || v === null) left -= 8;
    else if (!seen.has(v)) {
      seen.add(v);
      if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) left -= v.byteLength;
      else if (v instanceof Map) { for (const [k, x] of v) if (!walk(k) || !walk(x)) return false; }
      else if (v instanceof Set || Array.isArray(v)) { for (const x of v) if (!walk(x)) return false; }
      else {
        for (const k in v) {
          if (!Object.hasOwn(v, k)) continue;
          left -= k.length + 4;
          if (!walk((v as Record<string, unknown>)[k])) return false;
        }
      }
    }
    return left >= 0;
  };
  try {
    return walk(payload);
  } catch {
    return false; // nested too deeply to walk: apart
  }
}

type Writable = Pick<IDBPObjectStore<HalfsyncSchema, ('payloads')[], 'payloads', 'readwrite'>, 'put' | 'delete'>;
type Readable = Pick<IDBPObjectStore<HalfsyncSchema, ArrayLike<'payloads'>, 'payloads', IDBTransactionMode>, 'get'>;

/**
 * The record to put in `tasks` for `r`, and what to write beside it. A record holding its payload
 * is stored by the payload's size, whatever it was before: a large one goes to a payload `row` and
 * the record, marked `apart`, comes back without it; a small one stays in the record, and a row the
 * task may have had is `stale`. A record without its payload (one read from `tasks`) comes back as
 * it is, its stored payload untouched.
 */
export function separate(r: TaskRecord): { record: TaskRecord; row?: PayloadRow; stale?: true } {
  // A record without an id moves as it is: the runner quarantines it.
  if (!Object.hasOwn(r, 'payload') || typeof r.id !== 'string') return { record: r };
  const { payload, apart, ...rest } = r;
  if (!small(payload)) return { record: { ...rest, apart: true }, row: { id: r.id, payload } };
  return apart ? { record: { ...rest, payload }, stale: true } : { record: r };
}

/** {@link separate}, with the payload row put (or a stale one deleted) at once: the record to put in `tasks`. */
export function split(payloads: Writable, r: TaskRecord): TaskRecord {
  const { record, row, stale } = separate(r);
  if (row) void payloads.put(row);
  else if (stale) void payloads.delete(r.id);
  return record;
}

/** Deletes the payload a record keeps apart, if it does (with the record's own delete). */
export function drop(payloads: Writable, r: Pick<TaskRecord, 'id' | 'apart'>): void {
  if (r.apart) void payloads.delete(r.id);
}

/**
 * The records with their payloads: each one marked `apart` and read without it gets a copy with
 * the payload read from `payloads` (in the caller's transaction); the others come back as they are.
 */
export async function join<R extends TaskRecord>(payloads: Readable, records: readonly R[]): Promise<R[]> {
  return Promise.all(records.map(async (r) => {
    // (Anything else, an unreadable record among them, as it is.)
    if (typeof r !== 'object' || r === null || r.apart !== true || Object.hasOwn(r, 'payload')) return r;
    const row: PayloadRow | undefined = await payloads.get(r.id);
    return { ...r, payload: row?.payload };
  }));
}
