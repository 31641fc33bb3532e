import type { ChannelMessage } from './channel.js';
import type { TaskModel } from './model.js';
import type { TaskRecord } from './record.js';
import type { TaskStore } from './store/store.js';

// Guarantee 6 in a tab: what other tabs and the runners say changed reaches this tab's view. A
// message is a hint: a removal is applied only once the store no longer holds the task, and what
// arrives while the tab still loads is kept and applied after the load.

/** Feeds a tab's view with the changes heard on the channel. */
export class ViewFeed {
  #loaded = false;
  readonly #removedEarly = new Set<string>();
  readonly #earlyProgress: Array<Extract<ChannelMessage, { t: 'progress' }>> = [];

  constructor(private readonly model: TaskModel, private readonly store: TaskStore) {}

  /** Whether the first load is done. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** The first load read `records`: the view takes them (less those removed meanwhile), then the progress heard meanwhile. */
  load(records: readonly TaskRecord[]): void {
    this.model.apply(records.filter((r) => !this.#removedEarly.has(r.id)), [], false);
    this.#loaded = true;
    for (const m of this.#earlyProgress.splice(0)) this.model.applyProgress(m.tasks, m.removed);
    this.#removedEarly.clear();
  }

  /** Applies a message about tasks (`changed`, `progress`, `leases`); false for the others. */
  heard(m: ChannelMessage): boolean {
    if (m.t === 'changed') {
      this.model.apply(m.tasks, [], false);
      if (m.removed.length > 0) void this.#removeIfGone(m.removed);
    } else if (m.t === 'progress') {
      // Before the load, this tab holds nothing to apply progress to: keep it for after.
      if (!this.#loaded) this.#earlyProgress.push({ ...m, removed: [] });
      else this.model.applyProgress(m.tasks, []);
      if (m.removed.length > 0) void this.#removeIfGone(m.removed);
    } else if (m.t === 'leases') this.model.renewLeases(m.leases);
    else return false;
    return true;
  }

  /**
   * Another tab or a runner says tasks were deleted: drop those the store no longer holds (a
   * message alone, which anyone on the origin can post, never takes a task out of view).
   */
  async #removeIfGone(ids: readonly string[]): Promise<void> {
    try {
      // A plain task not yet moved on is in the inbox (store/inbox.ts): not gone.
      const tx = (await this.store.db()).transaction(['tasks', 'inbox']);
      const tasks = tx.objectStore('tasks').index('id');
      const inbox = tx.objectStore('inbox').index('id');
      const keys = await Promise.all(ids.map(async (id) => await tasks.getKey(id) ?? await inbox.getKey(id)));
      const gone = ids.filter((_, i) => keys[i] === undefined);
      if (gone.length === 0) return;
      if (!this.#loaded) for (const id of gone) this.#removedEarly.add(id);
      this.model.apply([], gone, false);
    } catch {
      // The database closed (this client did, or an upgrade): the next load reads what is there.
    }
  }
}
