import type { IDBPDatabase } from 'idb';
import { parentsDone, recordProblem, type NewTaskRecord, type TaskRecord } from '../record.js';
import type { HalfsyncSchema } from './schema.js';

// Guarantee 1, "Durable", where the browser itself fails it: Chromium may discard a backing store
// it finds corrupt after a crash, and a profile's IndexedDB directory can be deleted under a
// running app. halfsync notices (the upgrade event's `dataLoss`, or a marker kept in Cache Storage,
// a separate backing store that pages and the worker both have), says so, and can restore the
// unfinished tasks from a journal kept there too.

/** What is known about a storage reset. */
export interface StorageResetInfo {
  /** `data-loss`: the engine said so (`IDBVersionChangeEvent.dataLoss`); `marker`: the database was new, but this origin had a queue. */
  readonly cause: 'data-loss' | 'marker';
  /** The engine's own words, where it gave some. */
  readonly engineMessage: string | undefined;
  /** When it was noticed (ms since the epoch). */
  readonly at: number;
  /** When the lost queue was first created, from the marker (undefined when unknown). */
  readonly queueSince: number | undefined;
  /** Tasks restored from the journal (0 without one). */
  readonly restored: number;
  /** Journal entries that could not be trusted (moved to quarantine). */
  readonly quarantined: number;
}

const MARKER = '/__halfsync/marker';
const JOURNAL = '/__halfsync/journal/';
const cacheName = (db: string) => `halfsync:${db}`;
const journalName = (db: string) => `halfsync:${db}:journal`;
const hasCaches = () => typeof caches !== 'undefined';

/** Reads the marker: when this origin's queue was created, or undefined (never, or Cache Storage is gone too). */
export async function readMarker(db: string): Promise<{ since: number } | undefined> {
  if (!hasCaches()) return undefined;
  try {
    const res = await (await caches.open(cacheName(db))).match(MARKER);
    if (!res) return undefined;
    const body = (await res.json()) as { since?: unknown };
    return { since: typeof body.since === 'number' ? body.since : 0 };
  } catch {
    return undefined;
  }
}

/** Writes the marker (once per database; best effort: a marker that cannot be written only weakens detection). */
export async function writeMarker(db: string, since: number): Promise<void> {
  if (!hasCaches()) return;
  try {
    const cache = await caches.open(cacheName(db));
    if (!(await cache.match(MARKER))) await cache.put(MARKER, new Response(JSON.stringify({ since, db }), { headers: { 'content-type': 'application/json' } }));
  } catch {
    // Cache Storage refused (a quota, a private mode): detection falls back to the engine's flag.
  }
}

// ---- the journal: unfinished tasks, outside IndexedDB -----------------------------------------

/** Encodes a record as JSON, keeping what structured clone keeps that JSON would not (bytes, dates, maps, sets, bigints). */
export function encodeRecord(r: unknown): string {
  return JSON.stringify(r, function (this: Record<string, unknown>, key: string, value: unknown) {
    const raw = this[key];
    if (raw instanceof Date) return { $hs: 'date', v: raw.getTime() };
    if (raw instanceof ArrayBuffer) return { $hs: 'bytes', v: toBase64(new Uint8Array(raw)) };
    if (ArrayBuffer.isView(raw)) return { $hs: 'view', t: raw.constructor.name, v: toBase64(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength)) };
    if (raw instanceof Map) return { $hs: 'map', v: [...raw.entries()] };
    if (raw instanceof Set) return { $hs: 'set', v: [...raw.values()] };
    if (typeof raw === 'bigint') return { $hs: 'bigint', v: raw.toString() };
    if (raw === undefined && key !== '') return { $hs: 'undefined' };
    return value;
  });
}

const VIEWS: Record<string, (b: ArrayBuffer) => ArrayBufferView> = {
  Uint8Array: (b) => new Uint8Array(b), Int8Array: (b) => new Int8Array(b), Uint8ClampedArray: (b) => new Uint8ClampedArray(b),
  Uint16Array: (b) => new Uint16Array(b), Int16Array: (b) => new Int16Array(b), Uint32Array: (b) => new Uint32Array(b),
  Int32Array: (b) => new Int32Array(b), Float32Array: (b) => new Float32Array(b), Float64Array: (b) => new Float64Array(b),
  DataView: (b) => new DataView(b),
};

/** The inverse of {@link encodeRecord}; throws on text that is not such an encoding. */
export function decodeRecord(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => {
    if (typeof value !== 'object' || value === null || !('$hs' in value)) return value;
    const v = value as { $hs: string; v?: unknown; t?: string };
    switch (v.$hs) {
      case 'date': return new Date(v.v as number);
      case 'bytes': return fromBase64(v.v as string).buffer;
      case 'view': {
        const make = VIEWS[v.t ?? ''];
        if (!make) throw new Error(`unknown view ${String(v.t)}`);
        return make(fromBase64(v.v as string).buffer as ArrayBuffer);
      }
      case 'map': return new Map(v.v as Array<[unknown, unknown]>);
      case 'set': return new Set(v.v as unknown[]);
      case 'bigint': return BigInt(v.v as string);
      case 'undefined': return undefined;
      default: throw new Error(`unknown tag ${v.$hs}`);
    }
  });
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

const journalSeen = new Map<string, { has: boolean; at: number }>();

/** Whether this database keeps a journal (it does once a client with `journal: true` wrote to it); asked of Cache Storage at most every 10 s while it has none. */
export async function hasJournal(db: string): Promise<boolean> {
  if (!hasCaches()) return false;
  const seen = journalSeen.get(db);
  if (seen && (seen.has || Date.now() - seen.at < 10_000)) return seen.has;
  let has: boolean;
  try { has = await caches.has(journalName(db)); } catch { has = false; }
  journalSeen.set(db, { has, at: Date.now() });
  return has;
}

/** Writes the records deferred in one commit to the journal (one entry each, by id). */
export async function journalPut(db: string, records: ReadonlyArray<NewTaskRecord | TaskRecord>): Promise<void> {
  if (!hasCaches() || records.length === 0) return;
  const cache = await caches.open(journalName(db));
  journalSeen.set(db, { has: true, at: Date.now() });
  await Promise.all(records.map((r) => {
    // The record as it was deferred: no seq (a restore gets a new one), no runner bookkeeping.
    const { seq: _seq, leaseOwner: _o, leaseUntil: _u, ...rest } = r as TaskRecord;
    return cache.put(JOURNAL + encodeURIComponent(r.id), new Response(encodeRecord({ db, record: rest }), { headers: { 'content-type': 'application/json' } }));
  }));
}

/** Removes finished tasks from the journal. */
export async function journalDelete(db: string, ids: readonly string[]): Promise<void> {
  if (!hasCaches() || ids.length === 0 || !(await hasJournal(db))) return;
  const cache = await caches.open(journalName(db));
  await Promise.all(ids.map((id) => cache.delete(JOURNAL + encodeURIComponent(id))));
}

/** Deletes the whole journal. */
export async function journalClear(db: string): Promise<void> {
  journalSeen.delete(db);
  if (hasCaches()) await caches.delete(journalName(db)).catch(() => false);
}

/** Every journal entry: the records that read back as this database's tasks, and the rest with why. */
export async function journalRead(db: string): Promise<{ records: NewTaskRecord[]; bad: Array<{ raw: unknown; reason: string }> }> {
  const records: NewTaskRecord[] = [];
  const bad: Array<{ raw: unknown; reason: string }> = [];
  if (!(await hasJournal(db))) return { records, bad };
  const cache = await caches.open(journalName(db));
  for (const req of await cache.keys()) {
    const res = await cache.match(req);
    const text = res ? await res.text() : '';
    let entry: unknown;
    try { entry = decodeRecord(text); } catch (error) { bad.push({ raw: text.slice(0, 10_000), reason: `a journal entry that is not halfsync's (${(error as Error).message})` }); continue; }
    const e = entry as { db?: unknown; record?: unknown };
    if (e?.db !== db) { bad.push({ raw: entry, reason: `a journal entry of another database (${JSON.stringify(e?.db)})` }); continue; }
    const problem = recordProblem({ ...(e.record as object), seq: 0 });
    if (problem) { bad.push({ raw: entry, reason: `a journal entry that does not read as a task: ${problem}` }); continue; }
    const r = e.record as NewTaskRecord;
    if (r.status !== 'pending' && r.status !== 'running' && r.status !== 'failed') { bad.push({ raw: entry, reason: `a journal entry of a finished task (${r.status})` }); continue; }
    records.push(r);
  }
  return { records, bad };
}

// ---- noticing a reset, and restoring ---------------------------------------------------------

/** What an open of the database saw. */
export interface OpenInfo {
  /** The database did not exist (its old version was 0). */
  readonly created: boolean;
  /** `IDBVersionChangeEvent.dataLoss` (Chromium): `total` when the engine discarded the store. */
  readonly dataLoss: string | undefined;
  readonly dataLossMessage: string | undefined;
}

/**
 * After an open that created the database or that the engine flagged: was a queue lost? If so,
 * restores the journal's tasks that `accepts` (a task this runner knows and whose payload it
 * validates) into the new database, keeping their ids and idempotency keys, quarantines the rest,
 * and records the reset in the `state` store for every tab to read. Uses `db` directly: it runs
 * before the store hands the database to anyone.
 */
export async function recover(db: IDBPDatabase<HalfsyncSchema>, name: string, info: OpenInfo, now: number, accepts: (r: NewTaskRecord) => string | undefined): Promise<StorageResetInfo | undefined> {
  const marker = await readMarker(name);
  const lost = info.dataLoss === 'total' || (info.created && marker !== undefined);
  await writeMarker(name, marker?.since ?? now);
  if (!lost) return undefined;
  const { records, bad } = await journalRead(name);
  const tx = db.transaction(['tasks', 'quarantine', 'state'], 'readwrite');
  const tasks = tx.objectStore('tasks');
  let restored = 0;
  const refused = [...bad];
  const known = new Set<string>();
  for (const r of records) {
    const why = accepts(r);
    if (why) { refused.push({ raw: r, reason: why }); continue; }
    if (await tasks.index('id').getKey(r.id)) continue; // already back (another tab or the worker restored it)
    const back: NewTaskRecord = { ...r, status: r.status === 'failed' ? 'failed' : 'pending', attempts: 0, rev: r.rev + 1, updatedAt: now };
    delete back.due;
    known.add(r.id);
    // Parents lost with the store and not in the journal (they had succeeded) leave it waiting forever: say so.
    const orphaned = back.after?.some((id) => !known.has(id) && !records.some((x) => x.id === id));
    if (orphaned && !parentsDone(back)) {
      Object.assign(back, { status: 'failed', lastError: { code: 'DEPENDENCY_UNKNOWN', message: 'restored after the browser lost its database, but a task it runs after was lost with it (it had finished): defer it again', permanent: true, kind: 'permanent', at: now } });
    } else if (back.status === 'pending' && parentsDone(back) && (back.lane === undefined || !(await tasks.index('lane').getKey(back.lane)))) {
      back.due = back.nextRunAt;
    }
    await tasks.add(back as TaskRecord);
    restored++;
  }
  // Quarantined under keys of their own (negative: never a task's).
  let seq = -(now * 1_000);
  for (const { raw, reason } of refused) await tx.objectStore('quarantine').put({ seq: seq--, reason, at: now, record: raw });
  const reset: StorageResetInfo = {
    cause: info.dataLoss === 'total' ? 'data-loss' : 'marker', engineMessage: info.dataLossMessage, at: now,
    queueSince: marker?.since, restored, quarantined: refused.length,
  };
  await tx.objectStore('state').put({ key: 'reset', value: reset, at: now });
  await tx.done;
  return reset;
}
