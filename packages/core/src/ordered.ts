import type { Task } from './record.js';

/**
 * Tasks in commit order (by `seq`), then those not yet committed in the order they were
 * deferred: the order of every snapshot. A change moves one entry (a binary search and a splice);
 * the frozen array readers get is copied at most once per read after a change, never re-sorted.
 */
export class OrderedTasks {
  private readonly committed: Task[] = [];
  private readonly provisional: Task[] = [];
  private cache: readonly Task[] | undefined = EMPTY;

  get size(): number {
    return this.committed.length + this.provisional.length;
  }

  /** Puts `next` in place of `prev` (undefined: a task new here). */
  upsert(prev: Task | undefined, next: Task): void {
    this.cache = undefined;
    if (prev && prev.seq !== undefined && prev.seq === next.seq) {
      const i = this.find(prev.seq);
      if (i !== -1 && this.committed[i]!.id === prev.id) { this.committed[i] = next; return; }
    }
    if (prev) this.delete(prev);
    if (next.seq === undefined) { this.provisional.push(next); return; }
    const seq = next.seq;
    const c = this.committed;
    // Most changes are the newest task: a check before the search.
    if (c.length === 0 || c[c.length - 1]!.seq! < seq) { c.push(next); return; }
    let lo = 0;
    let hi = c.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid]!.seq! < seq) lo = mid + 1;
      else hi = mid;
    }
    c.splice(lo, 0, next);
  }

  /** Removes `prev`. */
  delete(prev: Task): void {
    this.cache = undefined;
    if (prev.seq === undefined) {
      const i = this.provisional.findIndex((t) => t.id === prev.id);
      if (i !== -1) this.provisional.splice(i, 1);
      return;
    }
    const i = this.find(prev.seq);
    if (i !== -1 && this.committed[i]!.id === prev.id) this.committed.splice(i, 1);
  }

  /** The first task, in order (the oldest). */
  first(): Task | undefined {
    return this.committed[0] ?? this.provisional[0];
  }

  /** Every task in order, frozen; the same array until something changes. */
  snapshot(): readonly Task[] {
    if (this.cache === undefined) {
      this.cache = Object.freeze(this.provisional.length === 0 ? this.committed.slice() : this.committed.concat(this.provisional));
    }
    return this.cache;
  }

  private find(seq: number): number {
    const c = this.committed;
    let lo = 0;
    let hi = c.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = c[mid]!.seq!;
      if (s === seq) return mid;
      if (s < seq) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

const EMPTY: readonly Task[] = Object.freeze([]);
