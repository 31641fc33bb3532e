import type { IdempotencyRecord, RecordVersion } from './store.js';
import type { StoredResponse } from './stored.js';

/** What to do with a request, given the record its key has. */
export type Verdict =
  /** No record: claim the key. */
  | { readonly kind: 'claim' }
  /** A record that expired, or a running one whose server died (its lock passed): take it over. */
  | { readonly kind: 'take-over'; readonly previous: RecordVersion; readonly reason: 'expired' | 'abandoned' }
  /** The same request was answered: send the stored response again. */
  | { readonly kind: 'replay'; readonly response: StoredResponse }
  /** The same request is being handled: 409, try again later. */
  | { readonly kind: 'in-progress'; readonly lockedUntil: number }
  /** The key was used for another request: 422. */
  | { readonly kind: 'mismatch' };

/**
 * The draft's rules, as one pure function. An expired key is forgotten whatever it held (unless its
 * handler still runs, renewing its lock); otherwise a key
 * reused for a different request is refused (even while the first still runs), a finished one is replayed,
 * a running one is busy until its lock passes, after which a retry may take it over.
 */
export function judge(record: IdempotencyRecord | undefined, fingerprint: string, now: number): Verdict {
  if (!record) return { kind: 'claim' };
  const previous: RecordVersion = { owner: record.owner, state: record.state, lockedUntil: record.lockedUntil };
  // A running claim whose lock is still renewed is not forgotten, however old: its handler is alive.
  if (record.expiresAt <= now && (record.state === 'completed' || record.lockedUntil <= now)) return { kind: 'take-over', previous, reason: 'expired' };
  if (record.fingerprint !== fingerprint) return { kind: 'mismatch' };
  if (record.state === 'completed' && record.response) return { kind: 'replay', response: record.response };
  if (record.lockedUntil > now) return { kind: 'in-progress', lockedUntil: record.lockedUntil };
  return { kind: 'take-over', previous, reason: 'abandoned' };
}
