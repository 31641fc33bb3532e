// Group commit, the one implementation (the client's defers and the writer's): every item added in
// one tick of the event loop commits together, and commits (and work chained after them, such as a
// sign-in) run one after the other, in the order they were asked for.

/** Gathers the items of a tick and commits them in order. */
export class GroupCommit<Item> {
  #batch: Item[] = [];
  #chain: Promise<void> = Promise.resolve();

  /**
   * `commit` writes one tick's items; `failed` is told when it threw, so that every item is refused
   * with a code (nothing vanishes).
   */
  constructor(private readonly commit: (batch: Item[]) => Promise<void>, private readonly failed: (batch: Item[], error: unknown) => void) {}

  /** Adds an item to this tick's batch. */
  add(item: Item): void {
    this.#batch.push(item);
    if (this.#batch.length === 1) queueMicrotask(() => this.flush());
  }

  /** Commits this tick's batch now (after the batches before it). */
  flush(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    this.#chain = this.#chain.then(() => this.commit(batch)).catch((error: unknown) => this.failed(batch, error));
  }

  /** Runs `work` after what was added so far committed, and before what is added after this call. */
  after<T>(work: () => Promise<T>): Promise<T> {
    this.flush();
    const done = this.#chain.then(work);
    this.#chain = done.then(() => {}, () => {});
    return done;
  }

  /** Resolves once everything added before this call committed (or failed). */
  settled(): Promise<void> {
    this.flush();
    return this.#chain;
  }
}
