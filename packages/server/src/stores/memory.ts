import { HalfsyncServerError } from '../errors.js';
import type { Reply } from '../reply.js';
import type { ClaimRef, IdempotencyRecord, IdempotencyStore, RecordVersion, RunningRecord, TransactionOutcome } from '../store.js';
import type { StoredResponse } from '../stored.js';

/** A store in this process's memory: for tests and for a single process that may forget keys on restart. */
export interface MemoryStore extends IdempotencyStore<void, Reply | Promise<Reply>> {
  /** How many records it holds (expired ones included until purged). */
  readonly size: number;
}

/**
 * Creates an in-memory store. Every step is atomic because it runs without awaiting, but keys live only as
 * long as the process, and two processes never see each other's: use `sqliteStore` or `postgresStore` for
 * anything a restart or a second instance must not break.
 *
 * Its `transaction` runs the work and records the reply when the work succeeds; it cannot roll back what
 * the work did, so it serves tests of the transactional rules, not real effects.
 *
 * @example
 * ```ts
 * import { idempotent, memoryStore } from '@halfsync/server';
 * const handle = idempotent(async () => Response.json({ ok: true }), { store: memoryStore() });
 * ```
 */
export function memoryStore(): MemoryStore {
  const records = new Map<string, IdempotencyRecord>();
  let closed = false;
  const id = (scope: string, key: string) => `${scope}\u0000${key}`;
  const open = () => {
    if (closed) throw new HalfsyncServerError('STORE_CLOSED', 'this memory store was closed: create a new one');
  };
  const holds = (claim: ClaimRef) => {
    const r = records.get(id(claim.scope, claim.key));
    return r && r.owner === claim.owner && r.state === 'running' ? r : undefined;
  };
  const copy = (response: StoredResponse): StoredResponse => ({
    status: response.status,
    headers: response.headers.map(([n, v]) => [n, v] as const),
    body: new Uint8Array(response.body),
  });
  const completeNow = (claim: ClaimRef, response: StoredResponse, expiresAt: number): boolean => {
    const r = holds(claim);
    if (!r) return false;
    records.set(id(claim.scope, claim.key), { ...r, state: 'completed', response: copy(response), expiresAt });
    return true;
  };

  return {
    get size() {
      return records.size;
    },
    async insert(record: RunningRecord) {
      open();
      const k = id(record.scope, record.key);
      if (records.has(k)) return false;
      records.set(k, { ...record, state: 'running', response: undefined });
      return true;
    },
    async get(scope, key) {
      open();
      const r = records.get(id(scope, key));
      return r && { ...r, response: r.response && copy(r.response) };
    },
    async takeOver(record: RunningRecord, previous: RecordVersion) {
      open();
      const k = id(record.scope, record.key);
      const r = records.get(k);
      if (!r || r.owner !== previous.owner || r.state !== previous.state || r.lockedUntil !== previous.lockedUntil) return false;
      records.set(k, { ...record, state: 'running', response: undefined });
      return true;
    },
    async renew(claim, lockedUntil) {
      open();
      const r = holds(claim);
      if (!r) return false;
      records.set(id(claim.scope, claim.key), { ...r, lockedUntil });
      return true;
    },
    async complete(claim, response, expiresAt) {
      open();
      return completeNow(claim, response, expiresAt);
    },
    async release(claim) {
      open();
      if (holds(claim)) records.delete(id(claim.scope, claim.key));
    },
    async purge(now) {
      open();
      let n = 0;
      for (const [k, r] of records) {
        if (r.expiresAt <= now && (r.state === 'completed' || r.lockedUntil <= now)) {
          records.delete(k);
          n++;
        }
      }
      return n;
    },
    async transaction(claim, work, encode): Promise<TransactionOutcome> {
      open();
      if (claim && !holds(claim)) return { status: 'lock-lost' };
      const reply = await work();
      const stored = encode(reply);
      if (!stored) return { status: 'rolled-back', reply };
      if (claim && !completeNow(claim, stored, claim.expiresAt)) return { status: 'lock-lost' };
      return { status: 'committed', reply };
    },
    async close() {
      closed = true;
      records.clear();
    },
  };
}
