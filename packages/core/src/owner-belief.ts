import type { OwnerState } from './store/owner-state.js';

// Guarantee 10 in a tab: who this tab shows signed in is derived from the committed state record,
// never kept beside it. A belief moves only to a newer version, so messages read out of order
// cannot roll it back; while the tab's own sign-in or sign-out is in flight, its intent stands.

/** One tab's belief about who is signed in. */
export class OwnerBelief {
  /** Who this tab shows signed in. */
  owner: string | undefined;
  /** The version of the committed state `owner` was derived from (-1: none yet, still loading). */
  version = -1;
  /** Sign-ins and sign-outs this tab made that have not committed yet. */
  #changes = 0;
  /** The newest committed state read while this tab's own change was in flight. */
  #heard: OwnerState | undefined;

  /** `moved` is called whenever the owner shown changes. */
  constructor(private readonly moved: () => void) {}

  /** Whether this tab holds a belief a defer can be checked against at its commit (not while loading). */
  get known(): boolean {
    return this.version >= 0 || this.#changes > 0;
  }

  /** This tab starts its own change: the tab shows `owner` until the change commits or fails. */
  intend(owner: string | undefined): void {
    const moved = owner !== this.owner;
    this.owner = owner;
    this.#changes++;
    if (moved) this.moved();
  }

  /** This tab's change ended; `committed` is what the store holds now (undefined: it could not be read). */
  ended(committed: OwnerState | undefined): void {
    this.#changes--;
    if (committed) this.believe(committed);
  }

  /**
   * Moves the belief to a state read from the store, if not older than the one held. While this
   * tab's own change is in flight, the newest state read meanwhile is kept, and wins over its own
   * commit if later.
   */
  believe(state: OwnerState): void {
    if (!this.#heard || state.version > this.#heard.version) this.#heard = state;
    if (this.#changes > 0) return;
    const best = this.#heard;
    this.#heard = undefined;
    if (best.version < this.version) return;
    const moved = best.owner !== this.owner;
    this.owner = best.owner;
    this.version = best.version;
    if (moved) this.moved();
  }
}
