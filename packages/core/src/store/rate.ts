import type { RateLimit } from '../task.js';
import type { Tx } from './store.js';

// Rate limits, as stored state every runner shares: a definition's bucket lives in the `state`
// store and is read and taken from inside the claim's own transaction, so the worker, page runners
// in any tab and a runner started after a restart all draw from the one bucket. A task that finds
// no token waits, pending, until the next one: never an attempt. A server's `Retry-After` on a
// limited task empties the bucket until then.

/** A bucket as stored: `tokens` as of `at`, and none before `blockedUntil`. */
interface Bucket { tokens: number; at: number; blockedUntil?: number }

const keyOf = (name: string) => `rate:${name}`;

/** The buckets one claim reads and takes from; `save` writes back the ones it changed. */
export class Buckets {
  readonly #read = new Map<string, Promise<Bucket>>();
  readonly #changed = new Map<string, Bucket>();
  /** Tasks of each definition this claim already sent to wait: each waits one token longer than the one before. */
  readonly #queued = new Map<string, number>();

  constructor(private readonly tx: Tx, private readonly now: number) {}

  #bucket(name: string, limit: RateLimit): Promise<Bucket> {
    let b = this.#read.get(name);
    if (!b) {
      b = this.tx.objectStore('state').get(keyOf(name)).then((row) => {
        const v = row?.value as Partial<Bucket> | undefined;
        // A new (or unreadable) bucket starts full.
        return typeof v?.tokens === 'number' && typeof v.at === 'number' ? { tokens: v.tokens, at: v.at, blockedUntil: v.blockedUntil } : { tokens: limit.burst, at: this.now };
      });
      this.#read.set(name, b);
    }
    return b;
  }

  /**
   * Takes a token for a run of `name` now: undefined when taken, or when to look again (the next
   * token, one token later for each task of `name` this claim already sent to wait).
   */
  async take(name: string, limit: RateLimit): Promise<number | undefined> {
    const b = await this.#bucket(name, limit);
    const now = this.now;
    const perToken = limit.perMs / limit.tasks;
    const queued = this.#queued.get(name) ?? 0;
    const later = (at: number) => { this.#queued.set(name, queued + 1); return at + Math.ceil(queued * perToken); };
    if (b.blockedUntil !== undefined && now < b.blockedUntil) return later(b.blockedUntil);
    // Refilled at one token per `perToken` ms since `at`, up to the burst.
    const tokens = Math.min(limit.burst, b.tokens + Math.max(0, now - b.at) / perToken);
    if (tokens >= 1) {
      this.#set(name, { tokens: tokens - 1, at: now });
      return undefined;
    }
    return later(now + Math.ceil((1 - tokens) * perToken));
  }

  /** The server said to wait until `until` (a 429, a `Retry-After`): no token before then. */
  async block(name: string, limit: RateLimit, until: number): Promise<void> {
    const b = await this.#bucket(name, limit);
    if (b.blockedUntil !== undefined && b.blockedUntil >= until) return;
    this.#set(name, { tokens: 0, at: until, blockedUntil: until });
  }

  #set(name: string, b: Bucket): void {
    this.#read.set(name, Promise.resolve(b));
    this.#changed.set(name, b);
  }

  /** Writes the buckets this claim changed (in its transaction). */
  save(): Array<Promise<unknown>> {
    return [...this.#changed].map(([name, b]) => this.tx.objectStore('state').put({ key: keyOf(name), value: b, at: this.now }));
  }
}
