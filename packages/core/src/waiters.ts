import { HalfsyncError } from './errors.js';
import type { Task } from './record.js';

// Who waits for a task's result (`handle.result`, `client.result(id)`), and what each is told when
// the task settles, is removed, or is found settled in the store.

interface Waiter { resolve(value: unknown): void; reject(error: unknown): void; promise: Promise<unknown> }

const deferred = (): Waiter => {
  let resolve!: (v: unknown) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<unknown>((res, rej) => { resolve = res; reject = rej; });
  promise.catch(() => {});
  return { resolve, reject, promise };
};

/** The outcome a settled task gives its waiters. */
export function outcomeOf(task: Task): { ok: true; value: unknown } | { ok: false; error: HalfsyncError } | undefined {
  if (task.status === 'succeeded') return { ok: true, value: task.result };
  if (task.status === 'failed') {
    return { ok: false, error: new HalfsyncError('TASK_FAILED', `task "${task.name}" (${task.id}) failed: ${task.lastError?.message ?? 'unknown error'}`, { details: { id: task.id, lastError: task.lastError } }) };
  }
  if (task.status === 'cancelled') return { ok: false, error: new HalfsyncError('TASK_CANCELLED', `task "${task.name}" (${task.id}) was cancelled`, { details: { id: task.id } }) };
  return undefined; // pending, running, or superseded (its handle follows the task that replaced it)
}

/** The waiters of one view; `held` reads the task the view holds. */
export class Waiters {
  readonly #waiters = new Map<string, Waiter>();

  constructor(private readonly held: (id: string) => Task | undefined) {}

  /** A promise of the task's result, settled when the task settles (or is removed). */
  waitFor(id: string): Promise<unknown> {
    const known = this.held(id);
    if (known?.status === 'superseded' && known.supersededBy) return this.waitFor(known.supersededBy);
    const o = known && outcomeOf(known);
    if (o) return o.ok ? Promise.resolve(o.value) : Promise.reject(o.error);
    let w = this.#waiters.get(id);
    if (!w) { w = deferred(); this.#waiters.set(id, w); }
    return w.promise;
  }

  /** The task just settled: its waiters are told (a replaced task's follow the task that replaced it). */
  settled(task: Task): void {
    const w = this.#take(task.id);
    if (!w) return;
    if (task.status === 'superseded' && task.supersededBy) { void this.waitFor(task.supersededBy).then(w.resolve, w.reject); return; }
    const o = outcomeOf(task)!;
    if (o.ok) w.resolve(o.value);
    else w.reject(o.error);
  }

  /** The task's commit failed: its waiters get `error`. */
  failed(id: string, error: unknown): void {
    this.#take(id)?.reject(error);
  }

  /** The task left the store before it settled. */
  removed(id: string, why: string): void {
    this.#take(id)?.reject(new HalfsyncError('TASK_NOT_FOUND', `task ${id} was ${why}`, { details: { id } }));
  }

  /** Settles the waiters of `id` with what the store says (the task is not held in the view). */
  fromStore(id: string, stored: Task | undefined, missing: () => HalfsyncError): void {
    const w = this.#waiters.get(id);
    if (!w || this.held(id)) return;
    if (!stored) { this.#waiters.delete(id); w.reject(missing()); return; }
    if (stored.status === 'superseded' && stored.supersededBy) {
      this.#waiters.delete(id);
      void this.waitFor(stored.supersededBy).then(w.resolve, w.reject);
      return;
    }
    const o = outcomeOf(stored);
    if (!o) return; // still alive: it will arrive as a change
    this.#waiters.delete(id);
    if (o.ok) w.resolve(o.value);
    else w.reject(o.error);
  }

  /** Ids waited for that the view does not hold. */
  unknown(): string[] {
    return [...this.#waiters.keys()].filter((id) => !this.held(id));
  }

  /** Rejects every waiter (the client is closing). */
  rejectAll(error: HalfsyncError): void {
    for (const w of this.#waiters.values()) w.reject(error);
    this.#waiters.clear();
  }

  #take(id: string): Waiter | undefined {
    const w = this.#waiters.get(id);
    if (w) this.#waiters.delete(id);
    return w;
  }
}
