import type { TaskModel, TaskSlice } from './model.js';

// Guarantee 11, "Bounded", for pending work: a tab holds a window of the oldest pending tasks of
// the user signed in (store/load.ts, loadAlive), not a queue of any length. While the store holds
// more than the window, this keeps the window from running dry as tasks finish: once half of the
// tasks it read have left (new defers do not count), the tab reads the oldest pending tasks again.

/** Keeps a tab's window of pending work full while the store holds more. */
export class PendingWindow {
  #beyond = false;
  #reading = false;
  #again = false;
  #pending: TaskSlice | undefined;
  /** The ids of the pending tasks the last read brought in. */
  #read: readonly string[] = [];

  /** `read` reads the window again into the view: whether pending work is still left beyond it, and the ids it read. */
  constructor(private readonly model: TaskModel, private readonly size: number, private readonly read: () => Promise<{ beyond: boolean; window: readonly string[] }>) {}

  /** A read said whether pending work was left in the store, and which pending tasks it brought in. */
  loaded(beyond: boolean, window: readonly string[]): void {
    this.#beyond = beyond;
    this.#read = window;
    // Followed only once the queue is longer than the window: a short queue costs nothing here.
    if (beyond && !this.#pending) {
      this.#pending = this.model.select({ status: 'pending' });
      this.#pending.subscribe(() => this.#check());
    }
    this.#check();
  }

  /** How many of the tasks the last read brought in are still pending here. */
  #stillPending(): number {
    let n = 0;
    for (const id of this.#read) if (this.model.get(id)?.status === 'pending') n++;
    return n;
  }

  #check(): void {
    if (!this.#beyond || !this.#pending || this.#stillPending() > this.size / 2) return;
    if (this.#reading) { this.#again = true; return; }
    this.#reading = true;
    void this.read().then(({ beyond, window }) => { this.#beyond = beyond; this.#read = window; }, () => {}).finally(() => {
      this.#reading = false;
      if (this.#again) { this.#again = false; this.#check(); }
    });
  }
}
