// What the SQL stores share: the table name rule and how headers are kept in a text column.
import { HalfsyncServerError } from '../errors.js';

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
