// What the SQL stores share: the table name rule, how headers are kept in a text column, and how
// a row reads back as a record.
import { HalfsyncServerError } from '../errors.js';
import type { IdempotencyRecord } from '../store.js';

/** A table name the stores can quote safely: letters, digits and underscores, at most 63 (PostgreSQL's limit). */
export function checkTableName(table: string): string {
  if (typeof table !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(table)) {
    throw new HalfsyncServerError('INVALID_OPTIONS', `the idempotency table name must be letters, digits and underscores (at most 63, not starting with a digit), got ${JSON.stringify(table)}`);
  }
  return table;
}

/** Headers as JSON pairs, so a repeated name keeps its order. */
export function encodeHeaders(headers: ReadonlyArray<readonly [string, string]>): string {
  return JSON.stringify(headers);
}

/** The pairs {@link encodeHeaders} wrote; anything malformed is dropped rather than replayed. */
export function decodeHeaders(text: string | null): Array<readonly [string, string]> {
  if (!text) return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  return value.filter((p): p is [string, string] => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string');
}

/** A row of the idempotency table as a driver returns it (times as numbers, or as strings from a `bigint`). */
export interface KeyRow {
  scope: string;
  key: string;
  fingerprint: string;
  state: 'running' | 'completed';
  owner: string;
  locked_until: number | string;
  expires_at: number | string;
  status: number | null;
  headers: string | null;
  body: Uint8Array | null;
}

/** The record a row holds; a completed row carries the response to replay. */
export function toRecord(row: KeyRow): IdempotencyRecord {
  return {
    scope: row.scope,
    key: row.key,
    fingerprint: row.fingerprint,
    state: row.state,
    owner: row.owner,
    lockedUntil: Number(row.locked_until),
    expiresAt: Number(row.expires_at),
    response:
      row.state === 'completed' && row.status !== null
        ? { status: row.status, headers: decodeHeaders(row.headers), body: new Uint8Array(row.body ?? new Uint8Array(0)) }
        : undefined,
  };
}
