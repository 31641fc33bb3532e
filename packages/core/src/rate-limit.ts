import { HalfsyncError } from './errors.js';

// A definition's `rateLimit`, read once when it is defined: `'60/m'` or `{ tasks, perMs, burst? }`.
// The runners draw from its stored bucket (store/rate.ts).

/** A rate limit given as an object (see `rateLimit`). */
export interface RateLimitOptions {
  /** How many runs... */
  readonly tasks: number;
  /** ...in how many ms. */
  readonly perMs: number;
  /** How many may start at once after a quiet while. Default 1: one every `perMs / tasks` ms. */
  readonly burst?: number;
}

/** A resolved rate limit: `tasks` runs per `perMs` ms, `burst` of them at once at most. */
export interface RateLimit {
  /** Runs per period. */
  readonly tasks: number;
  /** The period, in ms. */
  readonly perMs: number;
  /** The most that may start at once. */
  readonly burst: number;
}

/** The ms of each unit a duration like `'60/m'` or `'15m'` may name (rate limits and periodic tasks). */
export const UNIT_MS: Readonly<Record<string, number>> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Reads a `rateLimit` option; throws INVALID_OPTIONS, quoting it, when it is malformed. */
export function rateLimitOf(name: string, given: unknown): RateLimit | undefined {
  if (given === undefined) return undefined;
  const bad = () => new HalfsyncError('INVALID_OPTIONS', `task "${name}": rateLimit must be like '60/m' (a positive integer per s, m, h or d) or { tasks, perMs, burst? }, got ${JSON.stringify(given)}`);
  if (typeof given === 'string') {
    const m = /^(\d+)\/([smhd])$/.exec(given.trim());
    if (!m || Number(m[1]) < 1) throw bad();
    return { tasks: Number(m[1]), perMs: UNIT_MS[m[2]!]!, burst: 1 };
  }
  const o = given as Partial<RateLimitOptions> | null;
  const burst = o?.burst ?? 1;
  if (typeof o !== 'object' || o === null || !Number.isInteger(o.tasks) || o.tasks! < 1 || typeof o.perMs !== 'number' || !(o.perMs > 0) || !Number.isFinite(o.perMs) || !Number.isInteger(burst) || burst < 1) throw bad();
  return { tasks: o.tasks!, perMs: o.perMs, burst };
}
