import type { ChannelMessage } from './channel.js';
import type { Task } from './record.js';
import { nextTask } from './model.js';

// What a tab tells the others of its own commits (guarantee 6), paced: a BroadcastChannel message
// is copied to every other tab and to the worker, and one per commit was most of what a page doing
// one defer after another paid beyond its own transaction. The first commit after a quiet spell is
// said at once (in the next task, off the path of `persisted`); those within the next
// {@link SAY_EVERY_MS} are said together at its end. Any other message of the tab flushes what is
// waiting first, so the tab's own messages keep their order; a tab that hears progress on a task
// before the task itself keeps it until then (model.ts).

/** How long commits after the first are gathered into one message (ms). */
export const SAY_EVERY_MS = 50;

/** The commits a tab has yet to tell the others about. */
export class Outbox {
  readonly #waiting = new Map<string, Task>();
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** `send` posts on the channel (undefined once closed). */
  constructor(private readonly send: (m: ChannelMessage) => void) {}

  /** Tells the others about these views of committed tasks. */
  say(views: readonly Task[]): void {
    if (views.length === 0) return;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#tick(), SAY_EVERY_MS);
      nextTask(() => this.send({ t: 'changed', tasks: views, removed: [] }));
      return;
    }
    for (const v of views) this.#waiting.set(v.id, v);
  }

  /** Sends what waits now (before another message of the tab, or as the tab goes away). */
  flush(): void {
    if (this.#waiting.size === 0) return;
    const tasks = [...this.#waiting.values()];
    this.#waiting.clear();
    this.send({ t: 'changed', tasks, removed: [] });
  }

  #tick(): void {
    this.#timer = undefined;
    if (this.#waiting.size === 0) return;
    this.flush();
    // Still busy: the next ones wait for the next tick too.
    this.#timer = setTimeout(() => this.#tick(), SAY_EVERY_MS);
  }

  /** Stops the timer (what waits is flushed first). */
  close(): void {
    this.flush();
    clearTimeout(this.#timer);
  }
}
