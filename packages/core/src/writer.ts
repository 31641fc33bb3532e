import { missingCapability } from './capability.js';
import { openChannel, type ChannelMessage, type WorkerRequest } from './channel.js';
import { badOption, buildRecord, nonEmpty, type DeferOptions } from './deferral.js';
import { HalfsyncError, storageError } from './errors.js';
import { toTask, type NewTaskRecord, type Task, type TaskRecord } from './record.js';
import { commitBatch, TaskStore } from './store/store.js';
import { GroupCommit } from './group-commit.js';
import { DEFAULT_RETENTION, taskRegistry, type AnyTaskDefinition, type DeferrableTask } from './task.js';

// The write-only half for pages that defer and never show the queue (a form, a tracking snippet,
// a page that records events): the same checks, group commit, owner stamp and strict durability as
// `createClient`'s defer, then a wake-up for the worker; no live view, no runner of its own.

/** Options of {@link createWriter}. */
export interface WriterOptions {
  /** Every task this page may defer; the worker must be given the same list. */
  readonly tasks: readonly AnyTaskDefinition[];
  /** The IndexedDB database name. Default `"halfsync"`. */
  readonly dbName?: string;
  /** The largest payload accepted by `defer`, approximately in bytes. Default 1 MiB. */
  readonly maxPayloadBytes?: number;
  /** The clock (ms since the epoch). Default `Date.now`. */
  readonly now?: () => number;
}

/** What {@link HalfsyncWriter.defer} returns at once. */
export interface WriteHandle<Payload> {
  /** The task's id. */
  readonly id: string;
  /** Resolves with the task once it is committed to IndexedDB with strict durability. */
  readonly persisted: Promise<Task<Payload, unknown>>;
}

/** A page's write-only handle on the queue; see {@link createWriter}. */
export interface HalfsyncWriter {
  /**
   * Validates and stores `payload` for `task`; every defer of one tick commits in one transaction,
   * then the worker is woken (Background Sync, or a message where there is none). Throws a
   * {@link HalfsyncError} for bad input, before anything is written. `orderKey`, `delay`,
   * `idempotencyKey` and `meta` as in `createClient`; `after` and `supersede` need a client.
   */
  defer<Payload, Result>(task: DeferrableTask<Payload, Result>, payload: Payload, options?: DeferOptions): WriteHandle<Payload>;
  /** Closes the database once what was deferred committed. */
  close(): void;
}

interface Queued { record: NewTaskRecord; resolve(task: Task): void; reject(error: unknown): void }

/**
 * Creates a write-only client: `defer` and nothing else, for pages that never show the queue. The
 * tasks run in the service worker, which the app registers (`navigator.serviceWorker.register`);
 * without one they wait until a page with `createClient` or the worker runs them.
 *
 * @example
 * ```ts
 * import { createWriter, defineTask } from '@halfsync/core';
 * const track = defineTask('track', { run: async (e: { event: string }) => { await fetch('/api/events', { method: 'POST', body: JSON.stringify(e) }); } });
 * const writer = createWriter({ tasks: [track] });
 * await writer.defer(track, { event: 'signup-viewed' }).persisted;
 * ```
 */
export function createWriter(options: WriterOptions): HalfsyncWriter {
  if (typeof options !== 'object' || options === null) badOption(`createWriter needs an options object with a tasks array, got ${options === null ? 'null' : typeof options}`);
  const registry = taskRegistry(options.tasks);
  const db = options.dbName ?? 'halfsync';
  nonEmpty(db, 'dbName');
  const maxPayloadBytes = options.maxPayloadBytes ?? 1_048_576;
  if (!(maxPayloadBytes > 0)) badOption(`maxPayloadBytes must be a positive number, got ${String(options.maxPayloadBytes)}`);
  const now = options.now ?? Date.now;
  const store = new TaskStore(db);
  let closed = false;
  let wakes = 0;
  // Looked up now, while the first commit runs, so the wake-up is asked for before `persisted` resolves.
  const container = (globalThis as { navigator?: { serviceWorker?: ServiceWorkerContainer } }).navigator?.serviceWorker;
  let registration: Promise<ServiceWorkerRegistration | undefined> = lookUp();
  function lookUp(): Promise<ServiceWorkerRegistration | undefined> {
    return container ? container.getRegistration().catch(() => undefined) : Promise.resolve(undefined);
  }

  const commit = async (batch: Queued[]): Promise<void> => {
    const retentionOf = (name: string) => registry.get(name)?.retention ?? DEFAULT_RETENTION;
    const { results } = await commitBatch(store, batch.map((q) => q.record), retentionOf);
    const stored = results.filter((r): r is TaskRecord => !(r instanceof Error));
    // Asked for before `persisted` resolves: a page closed the moment it resolves still leaves a wake-up behind.
    if (stored.length > 0) wake(await registration);
    results.forEach((r, i) => (r instanceof Error ? batch[i]!.reject(r) : batch[i]!.resolve(toTask(r))));
    // Open tabs show the new tasks (they read them from the message, as from another tab's commit).
    const channel = stored.length > 0 ? openChannel(db) : undefined;
    channel?.postMessage({ t: 'changed', tasks: stored.map(toTask), removed: [] } satisfies ChannelMessage);
    channel?.close();
  };

  const commits = new GroupCommit<Queued>(commit, (batch, error) => {
    const coded = storageError(error, 'storing deferred tasks');
    for (const q of batch) q.reject(coded);
  });

  /** Background Sync where the browser has it; a message to the active worker where not. */
  const wake = (found: ServiceWorkerRegistration | undefined): void => {
    // None when this writer was made: look again (a worker registered since is woken, and kept for the next commit).
    if (!found) { registration = lookUp(); void registration.then((r) => r && wake(r)); return; }
    const sync = (found as ServiceWorkerRegistration & { sync?: { register(tag: string): Promise<void> } }).sync;
    const message = () => found.active?.postMessage({ halfsync: 1, op: 'drain', db } satisfies WorkerRequest);
    if (sync) sync.register(`halfsync:${db}:d-${now().toString(36)}-${(wakes++).toString(36)}`).catch(message);
    else message();
  };

  return {
    defer<Payload, Result>(task: DeferrableTask<Payload, Result>, payload: Payload, deferOptions: DeferOptions = {}): WriteHandle<Payload> {
      if (closed) throw new HalfsyncError('CLIENT_CLOSED', 'this writer was closed; create a new one with createWriter()');
      const record = buildRecord(registry, task, payload, deferOptions, now(), maxPayloadBytes);
      if (record.after !== undefined) throw missingCapability(record.name, 'after', 'chains');
      if (record.supersede !== undefined) throw missingCapability(record.name, 'supersede', 'latestWins');
      let resolve!: (t: Task) => void;
      let reject!: (e: unknown) => void;
      const persisted = new Promise<Task>((res, rej) => { resolve = res; reject = rej; });
      persisted.catch(() => {});
      commits.add({ record, resolve, reject });
      return { id: record.id, persisted: persisted as Promise<Task<Payload, unknown>> };
    },
    close(): void {
      if (closed) return;
      closed = true;
      void commits.settled().then(() => store.close());
    },
  };
}
