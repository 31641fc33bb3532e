import type { Capability } from './capability.js';
import type { DeferHandle, DeferOptions } from './deferral.js';
import type { HalfsyncError } from './errors.js';
import type { DrainSummary } from './executor.js';
import type { TaskSelector, TaskSlice } from './model.js';
import type { ClientMode, ServiceWorkerOption } from './paths.js';
import type { Task } from './record.js';
import type { AnyTaskDefinition, DeferrableTask, TaskDefinition } from './task.js';

/** Options of {@link createClient}. */
export interface ClientOptions<Use extends readonly Capability[] = readonly Capability[]> {
  /** Every task this page may defer; the worker must be given the same list. */
  readonly tasks: readonly AnyTaskDefinition[];
  /**
   * The capabilities this client has beyond its core, as imported from `@halfsync/core`: `chains`
   * (`after`), `latestWins` (`supersede`, `update`), `owners` (`signIn`, `signOut`, `purge`),
   * `history` (`query`, `count`, `quarantined`), `journal` (storage-loss recovery). An app's
   * bundle holds only those it imports.
   */
  readonly use?: Use;
  /** The IndexedDB database name. Default `"halfsync"`. */
  readonly dbName?: string;
  /** The service worker that runs the tasks. Default `false`: tasks run in a page runner. */
  readonly serviceWorker?: ServiceWorkerOption;
  /** The largest payload accepted by `defer`, approximately in bytes. Default 1 MiB. */
  readonly maxPayloadBytes?: number;
  /**
   * How many finished (succeeded, cancelled) tasks the snapshot holds, newest first. Older ones stay
   * in IndexedDB until their retention ends (`history` reads them). Default 100.
   */
  readonly recentFinished?: number;
  /**
   * How many pending tasks of the user signed in the snapshot holds at most when it loads, oldest
   * first, besides every running and failed task and the head of every lane. A longer queue (days
   * of telemetry recorded offline) stays in IndexedDB: the snapshot fills up again from it as tasks
   * finish, and `history`'s `query` and `count` page and count all of it. Default 1 000.
   */
  readonly pendingWindow?: number;
  /** Page runner: tasks run at once. Default 4. */
  readonly concurrency?: number;
  /** Page runner: the lease of a claimed task, in ms. Default 30 000. */
  readonly leaseMs?: number;
  /** Ask the browser for persistent storage so the queue is not evicted. Default true. */
  readonly persistStorage?: boolean;
  /** How long to wait for the worker's answer when choosing a path, in ms. Default 10 000. */
  readonly workerTimeoutMs?: number;
  /**
   * Run tasks on their own (default true). With `false` the page runner only runs them when
   * `drain()` is called: for tests (see `@halfsync/core/testing/node`) and for apps that want to
   * choose the moment. Applies to the page runner only.
   */
  readonly autoRun?: boolean;
  /** The clock (ms since the epoch). Default `Date.now`; tests pass a manual one. */
  readonly now?: () => number;
  /** Page runner: whether the network is there. Default `navigator.onLine`; tests pass their own. */
  readonly online?: () => boolean;
}

/** The page's handle on the queue: its core. Create one per database with {@link createClient}. */
export interface HalfsyncClient {
  /** The current path: `starting`, then `sync` (Background Sync to the worker), `message` (messages to the worker) or `page` (the page runner); see `modeReason`. */
  readonly mode: ClientMode;
  /** Why the client runs where it does, when that is not what it was asked for (see `mode`). */
  readonly modeReason: HalfsyncError | undefined;
  /**
   * The last error a runner met, heard in this tab; undefined again once a drain succeeds. The
   * work itself is safe: the runner tries again.
   */
  readonly lastError: HalfsyncError | undefined;
  /** Resolves with the chosen mode once the snapshot is loaded and the worker answered. */
  readonly ready: Promise<ClientMode>;
  /** Resolves with whether the browser granted persistent storage (false where it cannot say or does not answer within 3 s). */
  readonly persistentStorage: Promise<boolean>;
  /** Who is signed in, as committed (the `owners` capability changes it); undefined when signed out. */
  readonly owner: string | undefined;
  /**
   * The async half: validates and stores `payload` for `task`, and returns at once. The task is in
   * the snapshot (status `pending`) before `defer` returns; every defer of one tick commits in one
   * transaction. Throws a {@link HalfsyncError} for bad input, before anything is written.
   */
  defer<Payload, Result>(task: DeferrableTask<Payload, Result>, payload: Payload, options?: DeferOptions): DeferHandle<Result, Payload>;
  /**
   * The tasks this tab holds, in commit order: every task pending, running or failed, and the
   * `recentFinished` newest finished ones. A new array only when something changed.
   */
  getSnapshot(): readonly Task[];
  /** Calls `listener` after changes of the snapshot or mode, at most once per task of the event loop; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
  /**
   * A live part of the snapshot (by task, status, id) that notifies only when something in it
   * changed: what a component subscribes to so it re-renders for its slice alone.
   */
  select(selector: TaskSelector): TaskSlice;
  /**
   * Calls `listener` with the tasks that settled (succeeded, failed, cancelled), in this tab or any
   * other, or in the worker: the moment to reconcile optimistic state with server data.
   */
  onSettled(listener: (tasks: readonly Task[]) => void): () => void;
  /** One task by id, if this tab holds it (`history` reads older finished ones). */
  get(id: string): Task | undefined;
  /**
   * Waits for a task's result (one deferred before a reload, say); rejects with TASK_NOT_FOUND for
   * an id that is not stored. Given the task's definition first, the result is typed from it, and
   * an id of another task's is refused with INVALID_OPTIONS.
   */
  result<Payload, Result>(task: TaskDefinition<Payload, Result>, id: string): Promise<Result>;
  result<Result = unknown>(id: string): Promise<Result>;
  /**
   * Runs a failed task again, with a fresh set of attempts (the tasks that failed because of it wait
   * for it again); `cancel` a pending one; `acknowledge` deletes a finished one, and with a failed
   * or cancelled one the tasks that failed because of it.
   */
  retry(id: string): Promise<void>;
  /** See `retry`. */
  cancel(id: string): Promise<void>;
  /** See `retry`. */
  acknowledge(id: string): Promise<void>;
  /** Asks the runner to drain now and resolves with what it did. */
  drain(): Promise<DrainSummary>;
  /** Stops listening, releases the page runner and closes the database. */
  close(): void;
}

export type { ClientMode, ServiceWorkerOption } from './paths.js';
export type { DeferHandle, DeferOptions } from './deferral.js';
