import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { HalfsyncServerError } from '../errors.js';
import type { Reply } from '../reply.js';
import type { IdempotencyStore, TransactionOutcome } from '../store.js';
import type { StoredResponse } from '../stored.js';
import { checkTableName, encodeHeaders, toRecord, type KeyRow } from './sql.js';

/** Options of {@link sqliteStore}: a `file` to open, or a `database` you opened. */
export interface SqliteStoreOptions {
  /**
   * The SQLite file to keep keys in (created, with its folder, if missing). The store opens it in WAL mode
   * with `synchronous = FULL`, so a recorded response survives a power cut, and closes it in `close()`.
   */
  readonly file?: string;
  /**
   * An open better-sqlite3 connection to keep keys in, instead of `file`. Pass the one your handlers use
   * for the transactional mode: the key's record then commits in the same transaction as the effect.
   * The store leaves its settings alone and does not close it.
   */
  readonly database?: Database.Database;
  /** The table, created if missing. Default `halfsync_idempotency`. */
  readonly table?: string;
}

/**
 * A store in SQLite, through better-sqlite3: the embedded default, with no server to run. Transactional
 * work is synchronous (better-sqlite3's transactions are), gets the `Database` and returns a {@link Reply}.
 */
export interface SqliteStore extends IdempotencyStore<Database.Database, Reply> {
  /** The connection the store uses. */
  readonly database: Database.Database;
  /** The table it keeps keys in. */
  readonly table: string;
}


/**
 * Creates a SQLite store and its table. One process, or several on one machine sharing the file:
 * SQLite's locking makes each step atomic across them. Several machines: use `postgresStore`.
 *
 * @example
 * ```ts
 * import { idempotent } from '@halfsync/server';
 * import { sqliteStore } from '@halfsync/server/sqlite';
 *
 * const store = sqliteStore({ file: 'data/idempotency.db' });
 * const handle = idempotent(async () => Response.json({ ok: true }, { status: 201 }), { store });
 * ```
 */
export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  if ((options?.file === undefined) === (options?.database === undefined)) {
    throw new HalfsyncServerError('INVALID_OPTIONS', 'sqliteStore needs exactly one of { file: "path/to/keys.db" } or { database } (an open better-sqlite3 connection)');
  }
  const table = checkTableName(options.table ?? 'halfsync_idempotency');
  const owned = options.database === undefined;
  let db: Database.Database;
  if (options.database) {
    db = options.database;
  } else {
    const file = options.file!;
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    db = new Database(file);
    walMode(db);
    // FULL: in WAL mode NORMAL may lose the last commits on a power cut, and a lost record is a replayed effect.
    db.pragma('synchronous = FULL');
  }
  const t = `"${table}"`;
  db.exec(`CREATE TABLE IF NOT EXISTS ${t} (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'completed')),
    owner TEXT NOT NULL,
    locked_until INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    status INTEGER,
    headers TEXT,
    body BLOB,
    PRIMARY KEY (scope, key)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON ${t} (expires_at);`);

  const q = {
    insert: db.prepare(
      `INSERT INTO ${t} (scope, key, fingerprint, state, owner, locked_until, expires_at)
       VALUES (@scope, @key, @fingerprint, 'running', @owner, @lockedUntil, @expiresAt) ON CONFLICT (scope, key) DO NOTHING`,
    ),
    get: db.prepare<[string, string], KeyRow>(`SELECT * FROM ${t} WHERE scope = ? AND key = ?`),
    takeOver: db.prepare(
      `UPDATE ${t} SET fingerprint = @fingerprint, state = 'running', owner = @owner, locked_until = @lockedUntil,
         expires_at = @expiresAt, status = NULL, headers = NULL, body = NULL
       WHERE scope = @scope AND key = @key AND owner = @previousOwner AND state = @previousState AND locked_until = @previousLockedUntil`,
    ),
    renew: db.prepare(`UPDATE ${t} SET locked_until = @lockedUntil WHERE scope = @scope AND key = @key AND owner = @owner AND state = 'running'`),
    complete: db.prepare(
      `UPDATE ${t} SET state = 'completed', status = @status, headers = @headers, body = @body, expires_at = @expiresAt
       WHERE scope = @scope AND key = @key AND owner = @owner AND state = 'running'`,
    ),
    release: db.prepare(`DELETE FROM ${t} WHERE scope = @scope AND key = @key AND owner = @owner AND state = 'running'`),
    purge: db.prepare(`DELETE FROM ${t} WHERE expires_at <= @now AND (state = 'completed' OR locked_until <= @now)`),
  };
  const completion = (claim: { scope: string; key: string; owner: string }, response: StoredResponse, expiresAt: number) => ({
    scope: claim.scope, key: claim.key, owner: claim.owner, expiresAt,
    status: response.status, headers: encodeHeaders(response.headers), body: Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength),
  });
  // Thrown inside a transaction to roll it back without an error escaping.
  const rollback = Symbol('rollback');

  return {
    database: db,
    table,
    async insert(record) {
      return q.insert.run(record).changes === 1;
    },
    async get(scope, key) {
      const row = q.get.get(scope, key);
      return row && toRecord(row);
    },
    async takeOver(record, previous) {
      return q.takeOver.run({ ...record, previousOwner: previous.owner, previousState: previous.state, previousLockedUntil: previous.lockedUntil }).changes === 1;
    },
    async renew(claim, lockedUntil) {
      return q.renew.run({ scope: claim.scope, key: claim.key, owner: claim.owner, lockedUntil }).changes === 1;
    },
    async complete(claim, response, expiresAt) {
      return q.complete.run(completion(claim, response, expiresAt)).changes === 1;
    },
    async release(claim) {
      q.release.run({ scope: claim.scope, key: claim.key, owner: claim.owner });
    },
    async purge(now) {
      // The layer's purge timer outlives a closed database: say so in the store's own terms.
      if (!db.open) throw new HalfsyncServerError('STORE_CLOSED', 'this SQLite store\'s database was closed: create a new store');
      return q.purge.run({ now }).changes;
    },
    async transaction(claim, work, encode) {
      let outcome: TransactionOutcome | undefined;
      const run = db.transaction(() => {
        const reply: unknown = work(db);
        if (typeof (reply as { then?: unknown } | null)?.then === 'function') {
          throw new HalfsyncServerError(
            'TRANSACTION_NOT_SYNC',
            'SQLite transaction work must be synchronous (better-sqlite3 cannot keep a transaction open across an await): do the awaiting before transaction(), then write and return a Reply',
          );
        }
        const stored = encode(reply as Reply);
        if (!stored) {
          outcome = { status: 'rolled-back', reply: reply as Reply };
          throw rollback;
        }
        if (claim && q.complete.run(completion(claim, stored, claim.expiresAt)).changes !== 1) {
          outcome = { status: 'lock-lost' };
          throw rollback;
        }
        outcome = { status: 'committed', reply: reply as Reply };
      });
      try {
        run.immediate();
      } catch (error) {
        if (error !== rollback) throw error;
      }
      return outcome!;
    },
    async close() {
      if (owned && db.open) db.close();
    },
  };
}

/**
 * Switches a database to WAL. SQLite can answer the switch with SQLITE_BUSY at once, without its
 * busy timeout (another process is recovering the file after a crash): it is tried again for up to
 * 5 s, as several processes starting together on one file need.
 */
function walMode(db: Database.Database): void {
  for (let tries = 0; ; tries++) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if ((error as { code?: string }).code !== 'SQLITE_BUSY' || tries >= 100) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}

