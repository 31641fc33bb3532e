import { recordProblem, type NewTaskRecord, type TaskRecord } from '../record.js';

// The journal: a copy of the unfinished tasks outside IndexedDB (in Cache Storage, a separate
// backing store pages and the worker both have), from which store/recovery.ts restores them when
// the browser loses the database. It is written from what committed, never beside a commit: an
// entry is put once its task's commit succeeded, and deleted once the task finished or was deleted.

const JOURNAL = '/__halfsync/journal/';
const journalName = (db: string) => `halfsync:${db}:journal`;
const hasCaches = () => typeof caches !== 'undefined';

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

/**
 * Writes records to the journal (one entry each, by id), each with its payload. A record read from
 * `tasks` without the payload it keeps apart (store/payloads.ts) takes the payload of its entry,
 * which never changes but by an update (whose record holds the new one); without an entry it is
 * not written (the journal never held that task).
 */
export async function journalPut(db: string, records: ReadonlyArray<NewTaskRecord | TaskRecord>): Promise<void> {
  if (!hasCaches() || records.length === 0) return;
  const cache = await caches.open(journalName(db));
  journalSeen.set(db, { has: true, at: Date.now() });
  await Promise.all(records.map(async (r) => {
    // The record as it was deferred: no seq (a restore gets a new one), no runner bookkeeping.
    const { seq: _seq, leaseOwner: _o, leaseUntil: _u, apart, ...rest } = r as TaskRecord;
    if (apart && !Object.hasOwn(r, 'payload')) {
      const entry = await cache.match(JOURNAL + encodeURIComponent(r.id));
      if (!entry) return;
      let was: { record?: { payload?: unknown } };
      try { was = decodeRecord(await entry.text()) as typeof was; } catch { return; } // not ours: the restore quarantines it
      rest.payload = was.record?.payload;
    }
    await cache.put(JOURNAL + encodeURIComponent(r.id), new Response(encodeRecord({ db, record: rest }), { headers: { 'content-type': 'application/json' } }));
  }));
}

/**
 * Brings the journal up to date with a commit (the one way it is written): tasks that finished or
 * were deleted leave it; tasks alive are put as committed when `keep` says their stored content
 * changed in a way a restore needs (a payload updated, a parent's result or its dependents
 * recorded, a failure). A runner's claims and retries change nothing a restore keeps, so runners
 * keep only children and failures. Nothing is written for a database that keeps no journal.
 */
export async function journalCommitted(db: string, changed: readonly TaskRecord[], removed: readonly string[], keep: (r: TaskRecord) => boolean = () => true): Promise<void> {
  if (!(await hasJournal(db))) return;
  const gone = [...removed];
  const put: TaskRecord[] = [];
  for (const r of changed) {
    if (r.status === 'pending' || r.status === 'running' || r.status === 'failed') { if (keep(r)) put.push(r); }
    else gone.push(r.id);
  }
  await Promise.all([journalPut(db, put), journalDelete(db, gone)]);
}

/** What a runner's commit changes that a restore needs: a child's parents' results, a failure. */
export const runnerKeeps = (r: TaskRecord): boolean => r.status === 'failed' || (r.status === 'pending' && r.after !== undefined);

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

