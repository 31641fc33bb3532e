import type { HalfsyncError } from './errors.js';
import { OrderedTasks } from './ordered.js';
import { FINISHED, hasPayload, isSettled, toTask, type Task, type TaskRecord, type TaskStatus } from './record.js';
import { Waiters } from './waiters.js';

export { outcomeOf } from './waiters.js';

// Guarantees 6 and 11, "Visible everywhere" and "Bounded": the tab's view of the queue. It holds
// what is alive and a bounded window of finished tasks, applies each change in O(log n), and tells
// subscribers at most once per task of the event loop, each slice only when something in it changed.

/** Which tasks a slice holds: every condition given must match. */
export interface TaskSelector {
  /** Tasks of this definition (or definition name), as `query` takes it. */
  readonly task?: string | { readonly name: string };
  /** Tasks in this status, or these statuses. */
  readonly status?: TaskStatus | readonly TaskStatus[];
  /** The one task with this id. */
  readonly id?: string;
}

/** A live, ordered part of the snapshot, for `useSyncExternalStore`. */
export interface TaskSlice {
  /** The tasks of the slice in commit order; the same array until one of them changes. */
  getSnapshot(): readonly Task[];
  /** Calls `listener` when the slice changed (at most once per task of the event loop). */
  subscribe(listener: () => void): () => void;
}


/**
 * A slice follows the model incrementally while someone subscribes to it (attached); before the
 * first subscription (a render that React may throw away) it is a detached copy, rebuilt from the
 * model on read if the model changed, and costs the model nothing.
 */
class Slice implements TaskSlice {
  tasks = new OrderedTasks();
  readonly listeners = new Set<() => void>();
  dirty = false;
  /** The model version the detached copy was built at. */
  builtAt = -1;
  constructor(readonly key: string, readonly match: (t: Task) => boolean, private readonly model: TaskModel) {}
  getSnapshot = (): readonly Task[] => {
    if (this.listeners.size === 0) this.model.rebuild(this);
    return this.tasks.snapshot();
  };
  subscribe = (listener: () => void): (() => void) => {
    if (this.listeners.size === 0) this.model.attach(this);
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.model.detach(this);
    };
  };
}

/** Options of {@link TaskModel}. */
export interface TaskModelOptions {
  /** How many finished (succeeded, cancelled) tasks to keep in memory, newest first. */
  readonly recentFinished: number;
  /**
   * Which tasks the tab holds: those of the user signed in (another user's work, payloads
   * included, never enters the view). Default: every task.
   */
  readonly visible?: (task: { readonly owner?: string | undefined }) => boolean;
}

/** How many tasks' early progress a tab keeps (progress heard before the task: {@link TaskModel.applyProgress}). */
export const EARLY_KEPT = 1_000;

/** The page's in-memory view of the queue. */
export class TaskModel {
  private readonly byId = new Map<string, Task>();
  private readonly all = new OrderedTasks();
  /** Finished tasks held, oldest first: the first to leave when the window is full. */
  private readonly finished = new OrderedTasks();
  /** Attached slices, and one of them per selector key (for sharing). */
  private readonly slices = new Set<Slice>();
  private readonly sliceByKey = new Map<string, Slice>();
  /** Moves on with every change (detached slices rebuild when it moved). */
  private version = 0;
  private readonly listeners = new Set<() => void>();
  private readonly settledListeners = new Set<(tasks: readonly Task[]) => void>();
  private readonly waiters = new Waiters((id) => this.byId.get(id));
  private settledQueue: Task[] = [];
  private dirty = false;
  private scheduled: 'micro' | 'task' | undefined;
  private readonly dirtySlices = new Set<Slice>();
  /** Progress heard on tasks not held yet, by id, oldest first. */
  private readonly early = new Map<string, Omit<Task, 'payload'>>();

  constructor(private readonly options: TaskModelOptions) {}

  /** Every task held, in commit order; the same array until something changes. */
  snapshot(): readonly Task[] {
    return this.all.snapshot();
  }

  get(id: string): Task | undefined {
    return this.byId.get(id);
  }

  get size(): number {
    return this.all.size;
  }

  /** Every task held (for scans over what is alive: bounded by the work in flight and the window). */
  values(): IterableIterator<Task> {
    return this.byId.values();
  }

  /**
   * Applies committed records or views (from this tab, another tab, the worker): the highest
   * revision wins. Returns the views that changed. `local` changes notify in a microtask (the UI
   * sees a click's work before the next paint); others in the next task (a burst of messages costs
   * one notification).
   */
  apply(items: ReadonlyArray<TaskRecord | Task>, removed: readonly string[], local: boolean): Task[] {
    const views: Task[] = [];
    const visible = this.options.visible;
    for (const r of items) {
      const known = this.byId.get(r.id);
      if (visible && !visible(r)) { if (known) this.hide(known); continue; }
      if (known && known.seq !== undefined && known.rev >= r.rev) continue;
      // A record read from `tasks` without the payload it keeps apart: the view keeps the payload
      // it holds; a task this tab does not hold is skipped, as progress is.
      const bare = !Object.isFrozen(r) && !hasPayload(r as TaskRecord);
      if (bare && !known) continue;
      // A frozen object is already a view; anything else (a record, a message) is copied to one.
      let view = Object.isFrozen(r) ? (r as Task) : toTask(bare ? { ...(r as TaskRecord), payload: known!.payload } : r as TaskRecord);
      // Progress heard before the task itself: the newer of the two.
      const early = this.early.get(r.id);
      if (early && view.seq !== undefined) {
        this.early.delete(r.id);
        if (early.rev > view.rev) view = Object.freeze({ ...early, payload: view.payload, tries: early.tries ?? view.tries }) as Task;
      }
      this.put(known, view);
      views.push(view);
    }
    for (const id of removed) this.remove(id);
    if (views.length > 0 || removed.length > 0) this.changed(local);
    return views;
  }

  /**
   * Applies a runner's progress (tasks without payload) to the tasks this tab holds. Progress on a
   * task it does not hold yet (its tab's announcement still on its way, or its own commit not yet
   * back) is kept, the last {@link EARLY_KEPT}, and applied when the task arrives.
   */
  applyProgress(items: ReadonlyArray<Omit<Task, 'payload'>>, removed: readonly string[]): void {
    let any = removed.length > 0;
    const visible = this.options.visible;
    for (const p of items) {
      const known = this.byId.get(p.id);
      if (!known || known.seq === undefined) {
        if ((!visible || visible(p)) && (this.early.get(p.id)?.rev ?? -1) < p.rev) this.keepEarly(p);
        continue;
      }
      if (known.rev >= p.rev) continue;
      this.put(known, Object.freeze({ ...p, payload: known.payload, tries: p.tries ?? known.tries }) as Task);
      any = true;
    }
    for (const id of removed) this.remove(id);
    if (any) this.changed(false);
  }

  private keepEarly(p: Omit<Task, 'payload'>): void {
    this.early.delete(p.id);
    this.early.set(p.id, p);
    if (this.early.size > EARLY_KEPT) this.early.delete(this.early.keys().next().value!);
  }

  /** Adds a task not yet committed (a defer of this tab). */
  addProvisional(view: Task): void {
    this.put(undefined, view);
    this.changed(true);
  }

  /** Drops a task whose commit failed; its waiters get `error`. */
  dropProvisional(id: string, error: unknown): void {
    this.waiters.failed(id, error);
    this.remove(id);
    this.changed(true);
  }

  /** Updates the lease of running tasks from a renewal (no payload travels for it). */
  renewLeases(leases: ReadonlyArray<{ readonly id: string; readonly rev: number; readonly leaseUntil: number }>): void {
    let any = false;
    for (const l of leases) {
      const known = this.byId.get(l.id);
      if (!known || known.status !== 'running' || known.rev >= l.rev) continue;
      this.put(known, Object.freeze({ ...known, rev: l.rev, leaseUntil: l.leaseUntil }));
      any = true;
    }
    if (any) this.changed(false);
  }

  /**
   * Takes every task out of view that is no longer visible (another user signed in); their
   * waiters keep waiting, and the tasks come back when their owner does.
   */
  refilter(): void {
    const visible = this.options.visible;
    if (!visible) return;
    let any = false;
    for (const t of [...this.byId.values()]) if (!visible(t)) { this.hide(t); any = true; }
    if (any) this.changed(true);
  }

  /** Takes a task out of view without settling its waiters. */
  private hide(prev: Task): void {
    this.byId.delete(prev.id);
    this.all.delete(prev);
    if (FINISHED.includes(prev.status)) this.finished.delete(prev);
    this.touchSlices(prev, undefined);
    this.dirty = true;
  }

  /** Removes a task from view (acknowledged, purged, quarantined, evicted). */
  remove(id: string, why = 'removed (acknowledged or quarantined) before it finished'): void {
    const prev = this.byId.get(id);
    if (prev) this.hide(prev);
    // A task out of view (another user's) may still be waited for.
    this.waiters.removed(id, why);
  }

  private put(prev: Task | undefined, next: Task): void {
    this.byId.set(next.id, next);
    this.all.upsert(prev, next);
    const wasFinished = prev !== undefined && FINISHED.includes(prev.status);
    if (FINISHED.includes(next.status)) this.finished.upsert(wasFinished ? prev : undefined, next);
    else if (wasFinished) this.finished.delete(prev);
    this.touchSlices(prev, next);
    this.dirty = true;
    if (isSettled(next.status) && (!prev || !isSettled(prev.status))) {
      this.settledQueue.push(next);
      this.waiters.settled(next);
    }
    // The window of finished tasks: the oldest leave memory (they stay readable with query()).
    while (this.finished.size > this.options.recentFinished) this.remove(this.finished.first()!.id);
  }

  private touchSlices(prev: Task | undefined, next: Task | undefined): void {
    this.version++;
    for (const slice of this.slices) {
      const was = prev !== undefined && slice.match(prev);
      const is = next !== undefined && slice.match(next);
      if (!was && !is) continue;
      if (is) slice.tasks.upsert(was ? prev : undefined, next!);
      else slice.tasks.delete(prev!);
      slice.dirty = true;
      this.dirtySlices.add(slice);
    }
  }

  // ---- waiting for a result -----------------------------------------------------------------

  /** A promise of the task's result, settled when the task settles here (or is removed). */
  waitFor(id: string): Promise<unknown> {
    return this.waiters.waitFor(id);
  }

  /** Settles the waiters of `id` with what the store says (the task is not held here). */
  settleFromStore(id: string, stored: Task | undefined, missing: () => HalfsyncError): void {
    this.waiters.fromStore(id, stored, missing);
  }

  /** Ids waited for that are not held here. */
  waitedButUnknown(): string[] {
    return this.waiters.unknown();
  }

  /** Rejects every waiter (the client is closing). */
  rejectAll(error: HalfsyncError): void {
    this.waiters.rejectAll(error);
  }

  // ---- subscriptions ------------------------------------------------------------------------

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => { this.listeners.delete(listener); };
  }

  /** Calls `listener` with the tasks that settled (succeeded, failed, cancelled) since the last call, in any tab. */
  onSettled(listener: (tasks: readonly Task[]) => void): () => void {
    this.settledListeners.add(listener);
    return () => { this.settledListeners.delete(listener); };
  }

  /** A live slice; a slice someone subscribes to is shared by every selector with the same key. */
  select(selector: TaskSelector): TaskSlice {
    const statuses = selector.status === undefined ? undefined : typeof selector.status === 'string' ? [selector.status] : [...selector.status];
    const task = typeof selector.task === 'object' && selector.task !== null ? selector.task.name : selector.task;
    const key = JSON.stringify([task ?? null, statuses?.slice().sort() ?? null, selector.id ?? null]);
    const attached = this.sliceByKey.get(key);
    if (attached) return attached;
    const wanted = statuses && new Set(statuses);
    const match = (t: Task) => (selector.id === undefined || t.id === selector.id) && (task === undefined || t.name === task) && (!wanted || wanted.has(t.status));
    return new Slice(key, match, this);
  }

  /** Fills a detached slice from the model, if the model changed since it was filled. */
  rebuild(slice: Slice): void {
    if (slice.builtAt === this.version) return;
    slice.builtAt = this.version;
    const fresh = new OrderedTasks();
    for (const t of this.all.snapshot()) if (slice.match(t)) fresh.upsert(undefined, t);
    // Same contents, same array: a re-read must not look like a change.
    const old = slice.tasks.snapshot();
    const now = fresh.snapshot();
    if (old.length !== now.length || old.some((t, i) => t !== now[i])) slice.tasks = fresh;
  }

  /** A slice got its first subscriber: from now on the model keeps it up to date. */
  attach(slice: Slice): void {
    this.rebuild(slice);
    this.slices.add(slice);
    if (!this.sliceByKey.has(slice.key)) this.sliceByKey.set(slice.key, slice);
  }

  /** A slice lost its last subscriber. */
  detach(slice: Slice): void {
    this.slices.delete(slice);
    if (this.sliceByKey.get(slice.key) === slice) this.sliceByKey.delete(slice.key);
    slice.builtAt = -1;
  }

  /** Notifies subscribers now or soon (see `apply`); the mode changing counts as a change. */
  changed(local: boolean): void {
    this.dirty = true;
    if (this.scheduled === 'micro' || (this.scheduled === 'task' && !local)) return;
    this.scheduled = local ? 'micro' : 'task';
    if (local) queueMicrotask(this.flush);
    else nextTask(this.flush);
  }

  private readonly flush = (): void => {
    this.scheduled = undefined;
    const settled = this.settledQueue;
    this.settledQueue = [];
    if (this.dirty) {
      this.dirty = false;
      for (const listener of [...this.listeners]) listener();
    }
    const slices = [...this.dirtySlices];
    this.dirtySlices.clear();
    for (const slice of slices) {
      if (!slice.dirty) continue;
      slice.dirty = false;
      for (const listener of [...slice.listeners]) listener();
    }
    if (settled.length > 0) for (const listener of [...this.settledListeners]) listener(settled);
  };

  /** Forgets every listener (the client is closing). */
  clearListeners(): void {
    this.listeners.clear();
    this.settledListeners.clear();
    for (const s of this.slices) s.listeners.clear();
    this.slices.clear();
    this.sliceByKey.clear();
  }
}

let tick: { port: MessagePort; queue: Array<() => void> } | undefined;

/**
 * Runs `fn` soon, in a task of its own. Not `setTimeout`: hidden pages clamp timers to 1 s or
 * more (Firefox, Chrome), which held back every live update of a background tab and merged its
 * statuses; a MessageChannel message is not throttled.
 */
export function nextTask(fn: () => void): void {
  if (typeof MessageChannel === 'undefined') { setTimeout(fn, 0); return; }
  if (!tick) {
    const channel = new MessageChannel();
    const queue: Array<() => void> = [];
    channel.port1.onmessage = () => queue.shift()?.();
    // In Node, a port with a listener keeps the process alive; this one must not.
    (channel.port1 as { unref?: () => void }).unref?.();
    tick = { port: channel.port2, queue };
  }
  tick.queue.push(fn);
  tick.port.postMessage(null);
}
