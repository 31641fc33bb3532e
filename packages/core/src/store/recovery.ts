import type { IDBPDatabase } from 'idb';
import { parentsDone, type NewTaskRecord, type TaskRecord } from '../record.js';
import { split } from './payloads.js';
import { checkPayload } from '../deferral.js';
import { DEFAULT_PRIORITY, type AnyTaskDefinition } from '../task.js';
import { journalRead } from './journal.js';
import type { HalfsyncSchema } from './schema.js';
import type { Recovery } from './store.js';

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
  /** Set when restoring from the journal failed: the loss is reported all the same. */
  readonly restoreError?: string;
}

const MARKER = '/__halfsync/marker';
const cacheName = (db: string) => `halfsync:${db}`;
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

// ---- noticing a reset, and restoring ---------------------------------------------------------

/** What an open of the database saw. */
export interface OpenInfo {
  /** The database did not exist (its old version was 0). */
  readonly created: boolean;
  /** `IDBVersionChangeEvent.dataLoss` (Chromium): `total` when the engine discarded the store. */
  readonly dataLoss: string | undefined;
  readonly dataLossMessage: string | undefined;
}

/** The marker as read before an open. */
type Marker = { since: number } | undefined;

/**
 * Notices a lost queue around an open and restores what the journal holds: the marker is read
 * before the open; a loss (the engine's `dataLoss`, or a new database where the marker says this
 * origin had a queue) is recorded in the upgrade that creates the new database, so that whoever
 * opens it next reads the loss at once, before anything is restored; then the journal's tasks that
 * `accepts` (a task this runner knows, whose payload passes the checks a defer makes) come back
 * in the order they were deferred, keeping their ids, idempotency keys, owners, lanes and parent
 * links, the rest is quarantined, and the reset record says what was restored (or why not).
 */
export function recovery(name: string, accepts: (r: NewTaskRecord) => string | undefined): Recovery {
  return {
    before: () => readMarker(name),
    noticed(info, before, now) {
      const marker = before as Marker;
      if (!(info.dataLoss === 'total' || (info.created && marker !== undefined))) return undefined;
      return {
        cause: info.dataLoss === 'total' ? 'data-loss' : 'marker', engineMessage: info.dataLossMessage, at: now,
        queueSince: marker?.since, restored: 0, quarantined: 0,
      };
    },
    async after(db, _info, before, noticed) {
      await writeMarker(name, (before as Marker)?.since ?? Date.now());
      if (!noticed) return undefined;
      try {
        return await restore(db, name, noticed, Date.now(), accepts);
      } catch (error) {
        const failed: StorageResetInfo = { ...noticed, restoreError: `the journal could not be restored: ${(error as Error)?.message ?? String(error)}` };
        await db.put('state', { key: 'reset', value: failed, at: noticed.at }).catch(() => {});
        return failed;
      }
    },
  };
}

async function restore(db: IDBPDatabase<HalfsyncSchema>, name: string, noticed: StorageResetInfo, now: number, accepts: (r: NewTaskRecord) => string | undefined): Promise<StorageResetInfo> {
  const { records, bad } = await journalRead(name);
  // In the order they were deferred: lanes keep their order, parents come before their children.
  records.sort((a, b) => a.createdAt - b.createdAt);
  const ids = new Set(records.map((r) => r.id));
  const parents = new Set(records.flatMap((r) => r.after ?? []));
  const tx = db.transaction(['tasks', 'quarantine', 'state', 'payloads'], 'readwrite');
  const tasks = tx.objectStore('tasks');
  let restored = 0;
  const refused = [...bad];
  for (const r of records) {
    const why = accepts(r);
    if (why) { refused.push({ raw: r, reason: why }); continue; }
    if (await tasks.index('id').getKey(r.id)) continue; // already back (another tab or the worker restored it)
    const back: NewTaskRecord = { ...r, status: r.status === 'failed' ? 'failed' : 'pending', attempts: 0, rev: r.rev + 1, updatedAt: now };
    // An entry journaled before priorities (schema 7) takes the default, as the migration gives.
    back.priority ??= DEFAULT_PRIORITY;
    delete back.limited;
    // The journal holds the payload itself: stored afresh (apart again if large).
    delete back.apart;
    delete back.due;
    delete back.batch;
    if (parents.has(r.id)) back.dependents = true;
    // A parent lost with the store and not in the journal had finished: succeeded if the child
    // recorded its result (the child may run), otherwise the child would wait for ever: say so.
    const orphaned = back.after?.some((id) => !ids.has(id) && !Object.hasOwn(back.parentResults ?? {}, id));
    if (orphaned && back.status === 'pending') {
      Object.assign(back, { status: 'failed', lastError: { code: 'DEPENDENCY_UNKNOWN', message: 'restored after the browser lost its database, but a task it runs after was lost with it before it succeeded: defer both again', permanent: true, kind: 'permanent', at: now } });
    } else if (back.status === 'pending' && parentsDone(back) && (back.lane === undefined || !(await tasks.index('lane').getKey(back.lane)))) {
      back.due = back.nextRunAt;
    }
    await tasks.add(split(tx.objectStore('payloads'), back as TaskRecord));
    restored++;
  }
  // Quarantined under keys of their own (negative: never a task's).
  let seq = -(now * 1_000);
  for (const { raw, reason } of refused) await tx.objectStore('quarantine').put({ seq: seq--, reason, at: now, record: raw });
  const reset: StorageResetInfo = { ...noticed, restored, quarantined: refused.length };
  await tx.objectStore('state').put({ key: 'reset', value: reset, at: now });
  await tx.done;
  return reset;
}

/**
 * Why a journal entry cannot be restored by a runner with these definitions, or undefined: its
 * task must be known, and its payload must pass the checks a defer makes (the task's `validate`,
 * plain data, no `__proto__` key, under the size limit).
 */
export function restorable(registry: ReadonlyMap<string, AnyTaskDefinition>, maxPayloadBytes: number, r: { name: string; payload?: unknown }): string | undefined {
  const def = registry.get(r.name);
  if (!def) return `a journal entry of task "${r.name}", which this runner does not define`;
  try {
    checkPayload(def, r.payload, maxPayloadBytes);
  } catch (error) {
    return `a journal entry whose payload task "${r.name}" refuses: ${(error as Error)?.message ?? String(error)}`;
  }
  return undefined;
}
