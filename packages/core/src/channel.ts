import type { DrainSummary } from './executor.js';
import { hasPayload, toTask, type Task, type TaskRecord } from './record.js';
import type { StorageResetInfo } from './store/recovery.js';

// Guarantee 6, "Visible everywhere": what every tab and the worker tell each other on the origin's
// BroadcastChannel. A message is a hint, parsed before use; what a tab believes comes from the store.

/** What every tab and the worker say on the origin's BroadcastChannel. */
export type ChannelMessage =
  /** Committed changes: tasks written and ids deleted. */
  | { readonly t: 'changed'; readonly tasks: readonly Task[]; readonly removed: readonly string[] }
  /**
   * A runner's changes (claims, settlements): the tasks without their payload, which a runner never
   * changes and every tab holding the task has already; a tab that does not hold one skips it.
   */
  | { readonly t: 'progress'; readonly tasks: ReadonlyArray<Omit<Task, 'payload'>>; readonly removed: readonly string[] }
  /** A drain ended; `nextDueAt` tells pages when to wake the runner again. */
  | { readonly t: 'drained'; readonly summary: DrainSummary }
  /** A sync event ended (`browser-retry`: the worker rejected it so the browser retries). */
  | { readonly t: 'sync'; readonly tag: string; readonly lastChance: boolean; readonly outcome: 'done' | 'browser-retry' | 'error' }
  /** A page without a runner asks the elected page runner to drain (`networkBack`: the network returned). */
  | { readonly t: 'wake'; readonly networkBack?: boolean }
  /** A runner renewed the leases of the tasks it runs (no payload travels). */
  | { readonly t: 'leases'; readonly leases: ReadonlyArray<{ readonly id: string; readonly rev: number; readonly leaseUntil: number }> }
  /**
   * Someone's sign-in (or sign-out: `owner` undefined) committed, with the state's `version`: sent
   * after the commit, so a tab or runner that keeps the highest version believes what committed.
   */
  | { readonly t: 'owner'; readonly owner: string | undefined; readonly version: number }
  /** The browser lost the database and a runner noticed (and restored what the journal held); `null`: a tab acknowledged it. */
  | { readonly t: 'reset'; readonly info: StorageResetInfo | null }
  /** A runner's drain failed; pages show it (`lastError`) until a drain succeeds. */
  | { readonly t: 'error'; readonly code: string; readonly message: string };

/** A page's request to the worker, sent with `postMessage` and answered on `ports[0]`. */
export interface WorkerRequest {
  readonly halfsync: 1;
  readonly op: 'ping' | 'drain' | 'status';
  /** The database the page uses; the worker refuses a request for another one. */
  readonly db: string;
  /** With `drain`: the network has just returned (run what waits out an unreachable backoff now). */
  readonly networkBack?: boolean;
}

/** The worker's answer to a {@link WorkerRequest}. */
export type WorkerReply =
  | { readonly ok: true; readonly op: 'ping'; readonly tasks: readonly string[]; readonly sync: boolean }
  | { readonly ok: true; readonly op: 'drain'; readonly summary: DrainSummary }
  | { readonly ok: true; readonly op: 'status'; readonly counts: Readonly<Record<string, number>> }
  | { readonly ok: false; readonly code: string; readonly message: string };

/**
 * The Background Sync tag that means "the network is back": the worker registers it when a
 * drain stops offline, pages register a tag starting with it on their `online` event.
 */
export const onlineTag = (db: string): string => `halfsync:${db}:online`;

/** A task without its payload, for a `progress` message. */
export const withoutPayload = (t: Task): Omit<Task, 'payload'> => {
  const { payload: _payload, ...rest } = t;
  return rest;
};

/**
 * What a runner tells the tabs about the records a step wrote: a task it made itself (`made`, a
 * periodic run) goes with its payload, as a `changed` message, since no tab knows it; the rest as
 * `progress`, without their payloads.
 */
export function runnerNews(views: readonly Task[], removed: readonly string[], made: readonly string[] = []): ChannelMessage[] {
  const isNew = (t: Task) => made.includes(t.id);
  const fresh = made.length > 0 ? views.filter(isNew) : [];
  const progress: ChannelMessage = { t: 'progress', tasks: (fresh.length > 0 ? views.filter((t) => !isNew(t)) : views).map(withoutPayload), removed };
  return fresh.length > 0 ? [{ t: 'changed', tasks: fresh, removed: [] }, progress] : [progress];
}

/**
 * What is said of committed records: those holding their payload as `changed`, those read from
 * `tasks` without the payload they keep apart (store/payloads.ts) as `progress`, which only the
 * tabs holding them take.
 */
export function recordNews(records: readonly TaskRecord[], removed: readonly string[]): ChannelMessage[] {
  const full = records.filter(hasPayload).map(toTask);
  const bare = records.filter((r) => !hasPayload(r)).map((r) => withoutPayload(toTask(r)));
  const out: ChannelMessage[] = [];
  if (full.length > 0 || removed.length > 0) out.push({ t: 'changed', tasks: full, removed });
  if (bare.length > 0) out.push({ t: 'progress', tasks: bare, removed: [] });
  return out;
}

/** The BroadcastChannel name for a database. */
export const channelName = (db: string): string => `halfsync:${db}`;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isStr = (v: unknown): v is string => typeof v === 'string';
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const ids = (v: unknown): boolean => Array.isArray(v) && v.every(isStr);
/** The fields a task view must have for a tab to apply it; anything else is not one of ours. */
const taskView = (v: unknown): boolean =>
  isObj(v) && isStr(v.id) && isStr(v.name) && isStr(v.status) && isNum(v.rev) && (v.owner === undefined || isStr(v.owner));

/**
 * Checks a message read from the channel: anyone on the origin can post there, so a message that
 * is not one of ours (or is malformed) is dropped rather than trusted or thrown on. What a message
 * says is a hint to re-read what committed, never a truth of its own: the owner a task is stamped
 * with and claimed under is read from the store.
 */
export function parseMessage(data: unknown): ChannelMessage | undefined {
  if (!isObj(data) || !isStr(data.t)) return undefined;
  switch (data.t) {
    case 'changed': case 'progress':
      return Array.isArray(data.tasks) && data.tasks.every(taskView) && ids(data.removed) ? data as unknown as ChannelMessage : undefined;
    case 'drained': return isObj(data.summary) ? data as unknown as ChannelMessage : undefined;
    case 'sync': return isStr(data.tag) ? data as unknown as ChannelMessage : undefined;
    case 'wake': return data as unknown as ChannelMessage;
    case 'leases':
      return Array.isArray(data.leases) && data.leases.every((l) => isObj(l) && isStr(l.id) && isNum(l.rev) && isNum(l.leaseUntil)) ? data as unknown as ChannelMessage : undefined;
    case 'owner': return (data.owner === undefined || isStr(data.owner)) && isNum(data.version) ? data as unknown as ChannelMessage : undefined;
    case 'reset': return data.info === null || (isObj(data.info) && isNum(data.info.at)) ? data as unknown as ChannelMessage : undefined;
    case 'error': return isStr(data.code) && isStr(data.message) ? data as unknown as ChannelMessage : undefined;
    default: return undefined;
  }
}

/** Opens the channel where BroadcastChannel exists; `onMessage` gets only messages that parse. */
export function openChannel(db: string, onMessage?: (m: ChannelMessage) => void): BroadcastChannel | undefined {
  if (typeof BroadcastChannel === 'undefined') return undefined;
  const channel = new BroadcastChannel(channelName(db));
  if (onMessage) {
    channel.onmessage = (e: MessageEvent<unknown>) => {
      const m = parseMessage(e.data);
      if (m) onMessage(m);
    };
  }
  return channel;
}
