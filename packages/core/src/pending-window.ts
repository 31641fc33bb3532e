import type { TaskModel, TaskSlice } from './model.js';

// Guarantee 11, "Bounded", for pending work: a tab holds a window of the oldest pending tasks of
// the user signed in (store/query.ts, loadAlive), not a queue of any length. While the store holds
// more than the window, this keeps the window from running dry as tasks finish: once half of it is
// gone, the tab reads the oldest pending tasks again.

/** Keeps a tab's window of pending work full while the store holds more. */
export class PendingWindow {
  #beyond = false;
  #reading = false;
  #again = false;
  #pending: TaskSlice | undefined;

  /** `read` reads the window again into the view and says whether pending work is still left beyond it. */
  constructor(private readonly model: TaskModel, private readonly size: number, private readonly read: () => Promise<boolean>) {}

  /** A load said whether pending work was left in the store. */
  loaded(beyond: boolean): void {
    this.#beyond = beyond;
    // Followed only once the queue is longer than the window: a short queue costs nothing here.
    if (beyond && !this.#pending) {
      this.#pending = this.model.select({ status: 'pending' });
      this.#pending.subscribe(() => this.#check());
    }
    this.#check();
  }

  #check(): void {
    if (!this.#beyond || !this.#pending || this.#pending.getSnapshot().length > this.size / 2) return;
    if (this.#reading) { this.#again = true; return; }
    this.#reading = true;
    void this.read().then((beyond) => { this.#beyond = beyond; }, () => {}).finally(() => {
      this.#reading = false;
      if (this.#again) { this.#again = false; this.#check(); }
    });
  }
}
