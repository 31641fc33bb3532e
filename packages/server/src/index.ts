// @halfsync/server: the server's half of "applied exactly once". The stores that need a database driver
// live in their own entries (@halfsync/server/sqlite, /postgres), so importing this one loads neither.
export {
  idempotent,
  createIdempotencyLayer,
  type IdempotencyOptions,
  type IdempotencyContext,
  type IdempotentHandler,
  type IdempotencyLayer,
  type LayerRequest,
  type Downstream,
} from './idempotency.js';
export { memoryStore, type MemoryStore } from './stores/memory.js';
export type { IdempotencyStore, IdempotencyRecord, RunningRecord, ClaimRef, RecordVersion, TransactionOutcome } from './store.js';
export { jsonReply, type Reply, type ReplyHeaders } from './reply.js';
export { NEVER_STORED, NOT_STORED_BY_DEFAULT, type StoredResponse, type HeaderPolicy } from './stored.js';
export { HalfsyncServerError, type HalfsyncServerErrorCode, type HalfsyncServerErrorOptions } from './errors.js';
export { parseIdempotencyKey, MAX_KEY_LENGTH, MIN_KEY_LENGTH, type KeyVerdict } from './key.js';
export { requestFingerprint, type FingerprintInput, type Fingerprinter } from './fingerprint.js';
export type { Verdict } from './rules.js';
export { TOO_LARGE } from './body.js';
export { PROBLEMS, DEFAULT_PROBLEM_TYPE_BASE, type ProblemCode } from './problem.js';
