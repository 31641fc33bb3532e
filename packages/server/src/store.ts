import type { Reply } from './reply.js';
import type { StoredResponse } from './stored.js';

/** Who holds a key: the scope and key it is under, and the claim's owner token (one per request). */
export interface ClaimRef {
  readonly scope: string;
  readonly key: string;
  readonly owner: string;
}

/** A key claimed by a request that is running its handler. */
export interface RunningRecord extends ClaimRef {
  readonly fingerprint: string;
  /** Epoch ms. A running record whose lock has passed was abandoned (its server died) and may be taken over. */
  readonly lockedUntil: number;
  /** Epoch ms. After this the key is forgotten and may be used again. */
  readonly expiresAt: number;
}

/** A key as a store holds it. */
export interface IdempotencyRecord extends RunningRecord {
  readonly state: 'running' | 'completed';
  /** The recorded response, once completed. */
  readonly response: StoredResponse | undefined;
}

/** The record a takeover expects to replace: it succeeds only if the record is still exactly this one. */
export interface RecordVersion {
  readonly owner: string;
  readonly state: 'running' | 'completed';
  readonly lockedUntil: number;
}

/** What became of transactional work. */
export type TransactionOutcome =
  /** The effect and the key's response committed together. */
  | { readonly status: 'committed'; readonly reply: Reply }
  /** The work answered 5xx: the transaction was rolled back, effect and all; nothing is recorded. */
  | { readonly status: 'rolled-back'; readonly reply: Reply }
  /** The claim was taken over by another request meanwhile: the transaction was rolled back. */
  | { readonly status: 'lock-lost' };

/**
 * Where keys live. Each method is one atomic step; the rules that combine them live in the layer, so a
 * store for another database only has to make these steps atomic, across processes.
 *
 * `Tx` is what transactional work receives (a better-sqlite3 `Database`, a `pg` client) and `Out` what it
 * must return (a {@link Reply}, or a promise of one where the database allows asynchronous transactions).
 * A store without transactions has `never` for both.
 */
export interface IdempotencyStore<Tx = never, Out = never> {
  /** Inserts a running record unless the key exists (`INSERT ... ON CONFLICT DO NOTHING`). True if inserted. */
  insert(record: RunningRecord): Promise<boolean>;
  /** The record of a key, or undefined. */
  get(scope: string, key: string): Promise<IdempotencyRecord | undefined>;
  /** Replaces a record that is still `previous` (compare-and-set) with a new running one. True if replaced. */
  takeOver(record: RunningRecord, previous: RecordVersion): Promise<boolean>;
  /** Extends a running claim's lock while `owner` still holds it. True if extended. */
  renew(claim: ClaimRef, lockedUntil: number): Promise<boolean>;
  /** Records the response of a running claim that `owner` still holds. True if recorded. */
  complete(claim: ClaimRef, response: StoredResponse, expiresAt: number): Promise<boolean>;
  /** Deletes a running claim that `owner` still holds (the handler failed: store nothing). */
  release(claim: ClaimRef): Promise<void>;
  /** Deletes every record that expired by `now`; returns how many. */
  purge(now: number): Promise<number>;
  /**
   * Runs `work` in one database transaction and, when `claim` is given, completes the claim in the same
   * transaction with `encode(reply)`, so the effect and its recorded response commit or roll back together.
   * `encode` returns undefined for a reply that must not be recorded (a 5xx): the transaction is then rolled back.
   */
  transaction?(
    claim: (ClaimRef & { readonly expiresAt: number }) | undefined,
    work: (tx: Tx) => Out,
    encode: (reply: Reply) => StoredResponse | undefined,
  ): Promise<TransactionOutcome>;
  /** Releases what the store opened itself (a file, a pool); what it was given stays open. */
  close(): Promise<void>;
}
