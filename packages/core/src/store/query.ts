import type { IDBPCursorWithValue, IDBPDatabase } from 'idb';
import { HalfsyncError, storageError } from '../errors.js';
import { recordProblem, STATUSES, type TaskRecord, type TaskStatus } from '../record.js';
import type { HalfsyncSchema } from './schema.js';
import { join } from './payloads.js';

// Guarantee 11, "Bounded": a tab reads through indexes what it needs at once (the work alive and a
// window of recent finished tasks) and pages the rest on demand, newest first. Every read here is
// an index range; nothing walks the whole store.

/** Which tasks {@link queryTasks} and {@link countTasks} read. */
export interface TaskQuery {
  /** Only tasks in this status, or these statuses. Default: every status. */
  readonly status?: TaskStatus | readonly TaskStatus[];
  /** Only tasks of this definition name. */
  readonly task?: string;
  /** Only tasks deferred with this order key. */
  readonly orderKey?: string;
  /** Only tasks deferred at or after this time (ms since the epoch). */
  readonly since?: number;
  /** Only tasks deferred before this time (ms since the epoch). */
  readonly until?: number;
  /** Only tasks of this owner (the id given to `signIn`); `null`: only work deferred signed out. */
  readonly owner?: string | null;
}

/** Options of one page of {@link queryTasks}. */
export interface PageOptions {
  /** How many tasks at most. Default 50, at most 1 000. */
  readonly limit?: number;
  /** Where the previous page ended (its `cursor`). */
  readonly cursor?: string;
  /** `newest` first (default) or `oldest` first, by defer time. */
  readonly order?: 'newest' | 'oldest';
}

/** One page of tasks, and the cursor of the next page (undefined on the last). */
export interface RecordPage {
  readonly records: TaskRecord[];
  readonly cursor: string | undefined;
}

const MAX_LIMIT = 1_000;

type Db = IDBPDatabase<HalfsyncSchema>;
type IndexName = 'status' | 'name' | 'orderKey';
type Cursor = IDBPCursorWithValue<HalfsyncSchema, ['tasks'], 'tasks', IndexName, 'readonly'>;
/** A position in the (createdAt, seq) order. */
type Position = readonly [number, number];

const bad = (what: string): never => { throw new HalfsyncError('INVALID_OPTIONS', what); };

/** Checks a query and its page options; returns the statuses asked for. */
export function checkQuery(q: TaskQuery, page: PageOptions = {}): readonly TaskStatus[] {
  if (typeof q !== 'object' || q === null) bad('a query must be an object: { status?, task?, orderKey?, since?, until? }');
  const statuses = q.status === undefined ? STATUSES : typeof q.status === 'string' ? [q.status] : q.status;
  if (!Array.isArray(statuses) || statuses.length === 0 || statuses.some((s) => !STATUSES.includes(s))) {
    bad(`query: status must be one of ${STATUSES.join(', ')} (or a non-empty array of them), got ${JSON.stringify(q.status)}`);
  }
  for (const key of ['task', 'orderKey'] as const) {
    if (q[key] !== undefined && (typeof q[key] !== 'string' || q[key] === '')) bad(`query: ${key} must be a non-empty string`);
  }
  if (q.owner !== undefined && q.owner !== null && (typeof q.owner !== 'string' || q.owner === '')) bad('query: owner must be a user id (a non-empty string), or null for work deferred signed out');
  for (const key of ['since', 'until'] as const) {
    if (q[key] !== undefined && (typeof q[key] !== 'number' || Number.isNaN(q[key]))) bad(`query: ${key} must be a time in ms`);
  }
  const { limit, order, cursor } = page;
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0 && limit <= MAX_LIMIT)) bad(`query: limit must be an integer from 1 to ${MAX_LIMIT}, got ${String(limit)}`);
  if (order !== undefined && order !== 'newest' && order !== 'oldest') bad(`query: order must be "newest" or "oldest", got ${JSON.stringify(order)}`);
  if (cursor !== undefined) decodeCursor(cursor);
  return statuses;
}

const encodeCursor = (p: Position): string => `${p[0]}.${p[1]}`;
function decodeCursor(cursor: string): Position {
  const m = typeof cursor === 'string' ? /^(-?\d+(?:\.\d+)?)\.(\d+)$/.exec(cursor) : null;
  if (!m) return bad(`query: ${JSON.stringify(cursor)} is not a cursor this client gave out`);
  return [Number(m[1]), Number(m[2])];
}

/** The index and key ranges that cover a query; the filters left to check on each record. */
function plan(q: TaskQuery, statuses: readonly TaskStatus[], after: Position | undefined, newest: boolean) {
  let lo = q.since ?? -Infinity;
  let hi = q.until ?? Infinity;
  let hiOpen = q.until !== undefined;
  let loOpen = false;
  // Continuing: the range starts at the cursor's time (entries of that same time are skipped by seq).
  if (after) {
    if (newest) { hi = Math.min(hi, after[0]); hiOpen = hi !== after[0] && hiOpen; }
    else { lo = Math.max(lo, after[0]); loOpen = false; }
  }
  // An empty time window: no range at all (IDBKeyRange refuses one).
  const empty = lo > hi || (lo === hi && (loOpen || hiOpen));
  const range = (key: string) => IDBKeyRange.bound([key, lo], [key, hi], loOpen, hiOpen);
  const checkOwner = q.owner !== undefined;
  if (empty) return { index: 'status' as const, ranges: [] as IDBKeyRange[], checkStatus: false, checkOrderKey: false, checkOwner };
  if (q.task !== undefined) return { index: 'name' as const, ranges: [range(q.task)], checkStatus: statuses.length < STATUSES.length, checkOrderKey: q.orderKey !== undefined, checkOwner };
  if (q.orderKey !== undefined) return { index: 'orderKey' as const, ranges: [range(q.orderKey)], checkStatus: statuses.length < STATUSES.length, checkOrderKey: false, checkOwner };
  return { index: 'status' as const, ranges: statuses.map(range), checkStatus: false, checkOrderKey: false, checkOwner };
}

/** Whether `p` comes strictly after the cursor position in the page's order. */
const beyond = (p: Position, after: Position | undefined, newest: boolean): boolean => {
  if (!after) return true;
  if (p[0] !== after[0]) return newest ? p[0] < after[0] : p[0] > after[0];
  return newest ? p[1] < after[1] : p[1] > after[1];
};
const positionOf = (r: unknown): Position => {
  const x = r as { createdAt: number; seq: number };
  return [x.createdAt, x.seq];
};

interface IndexLike { openCursor(range: IDBKeyRange, direction: IDBCursorDirection): Promise<Cursor | null> }
type Indexes = (name: IndexName) => IndexLike;
const indexesOf = (tx: { store: { index(name: IndexName): unknown } }): Indexes => (name) => tx.store.index(name) as IndexLike;

/** One page, read through the indexes of one transaction. */
async function pageIn(indexes: Indexes, q: TaskQuery, statuses: readonly TaskStatus[], page: PageOptions): Promise<RecordPage> {
  const limit = page.limit ?? 50;
  const newest = page.order !== 'oldest';
  const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor);
  const p = plan(q, statuses, after, newest);
  const wanted = new Set<string>(statuses);
  const records: TaskRecord[] = [];
  const index = indexes(p.index);
  // One cursor per range, merged by (createdAt, seq).
  const cursors: Array<Cursor | null> = await Promise.all(p.ranges.map((r) => index.openCursor(r, newest ? 'prev' : 'next')));
  for (;;) {
    let pick = -1;
    for (let i = 0; i < cursors.length; i++) {
      const c = cursors[i];
      if (!c) continue;
      if (pick === -1) { pick = i; continue; }
      const a = positionOf(c.value);
      const b = positionOf(cursors[pick]!.value);
      const first = a[0] !== b[0] ? (newest ? a[0] > b[0] : a[0] < b[0]) : (newest ? a[1] > b[1] : a[1] < b[1]);
      if (first) pick = i;
    }
    if (pick === -1) return { records, cursor: undefined };
    const c = cursors[pick]!;
    const raw: unknown = c.value;
    cursors[pick] = await c.continue();
    if (!beyond(positionOf(raw), after, newest) || recordProblem(raw)) continue;
    const r = raw as TaskRecord;
    if (p.checkStatus && !wanted.has(r.status)) continue;
    if (p.checkOrderKey && r.orderKey !== q.orderKey) continue;
    if (p.checkOwner && r.owner !== (q.owner ?? undefined)) continue;
    records.push(r);
    // A next page exists only if another entry follows; the cursor says where to resume.
    if (records.length === limit) return { records, cursor: cursors.some((x) => x !== null) ? encodeCursor(positionOf(r)) : undefined };
  }
}

/**
 * Reads one page of tasks matching `q`, newest (or oldest) first by defer time, through an index:
 * `name` when a task is given, `orderKey` when an order key is, otherwise `status` (one range per
 * status, merged). Unreadable records are skipped (the executor quarantines them when due).
 */
export async function queryTasks(db: Db, q: TaskQuery, page: PageOptions = {}): Promise<RecordPage> {
  const statuses = checkQuery(q, page);
  try {
    const tx = db.transaction(['tasks', 'payloads'], 'readonly');
    const found = await pageIn(indexesOf({ store: tx.objectStore('tasks') }), q, statuses, page);
    return { ...found, records: await join(tx.objectStore('payloads'), found.records) };
  } catch (error) {
    throw storageError(error, 'reading a page of tasks');
  }
}

/** Counts the tasks matching `q`: index counts where the query is one index's range, a filtered walk of the narrowest index otherwise. */
export async function countTasks(db: Db, q: TaskQuery): Promise<number> {
  const statuses = checkQuery(q);
  const p = plan(q, statuses, undefined, true);
  try {
    const tx = db.transaction('tasks', 'readonly');
    const index = tx.store.index(p.index);
    if (!p.checkStatus && !p.checkOrderKey && !p.checkOwner) {
      const counts = await Promise.all(p.ranges.map((r) => index.count(r)));
      return counts.reduce((a, b) => a + b, 0);
    }
    const wanted = new Set<string>(statuses);
    let n = 0;
    for (const range of p.ranges) {
      for (let c = await index.openCursor(range); c; c = await c.continue()) {
        const r = c.value;
        if ((!p.checkStatus || wanted.has(r.status)) && (!p.checkOrderKey || r.orderKey === q.orderKey) && (!p.checkOwner || r.owner === (q.owner ?? undefined))) n++;
      }
    }
    return n;
  } catch (error) {
    throw storageError(error, 'counting tasks');
  }
}

/** One task record by id, if it is stored and readable. */
export async function recordById(db: Db, id: string): Promise<TaskRecord | undefined> {
  try {
    // A plain task not yet moved on is in the inbox (store/inbox.ts).
    const tx = db.transaction(['tasks', 'inbox', 'payloads'], 'readonly');
    const raw: unknown = await tx.objectStore('tasks').index('id').get(id) ?? await tx.objectStore('inbox').index('id').get(id);
    if (raw === undefined || recordProblem(raw)) return undefined;
    const [r] = await join(tx.objectStore('payloads'), [raw as TaskRecord]);
    return r;
  } catch (error) {
    throw storageError(error, `reading task ${id}`);
  }
}
