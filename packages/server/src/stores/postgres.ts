import pg from 'pg';
import type { Pool, PoolClient } from 'pg';
import { HalfsyncServerError } from '../errors.js';
import type { Reply } from '../reply.js';
import type { ClaimRef, IdempotencyStore, TransactionOutcome } from '../store.js';
import type { StoredResponse } from '../stored.js';
import { checkTableName, encodeHeaders, toRecord, type KeyRow } from './sql.js';

/** Options of {@link postgresStore}: a `pool` you made, or a `connectionString` for a pool the store makes. */
export interface PostgresStoreOptions {
  /**
   * Your `pg` pool. Use the one your handlers use for the transactional mode: the work then runs on a
   * client of this pool, and the key's record commits in its transaction. The store does not end it.
   */
  readonly pool?: Pool;
  /** A connection string for a pool the store makes, and ends in `close()`. */
  readonly connectionString?: string;
  /** The table, created if missing. Default `halfsync_idempotency`. */
  readonly table?: string;
}

/**
 * A store in PostgreSQL, through `pg`: for several server instances sharing one database. Transactional work
 * gets the `pg` client that holds the transaction (`BEGIN` ... `COMMIT`) and may be async.
 */
export interface PostgresStore extends IdempotencyStore<PoolClient, Reply | Promise<Reply>> {
  /** The pool the store uses. */
  readonly pool: Pool;
  /** The table it keeps keys in. */
  readonly table: string;
  /**
   * Creates the table if it is missing. Every step does this first, so calling it is optional: await it
   * at start-up to fail fast when the database cannot be reached. After a failure the next call tries again.
   */
  ready(): Promise<void>;
}


/**
 * Creates a PostgreSQL store. Keys are claimed with `INSERT ... ON CONFLICT DO NOTHING` on the primary key,
 * and every later step is a compare-and-set on the claim's owner, so any number of server processes and
 * machines can share the table. The table is created on first use, under an advisory lock so that
 * instances starting together do not race.
 *
 * @example
 * ```ts
 * import pg from 'pg';
 * import { idempotent } from '@halfsync/server';
 * import { postgresStore } from '@halfsync/server/postgres';
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const handle = idempotent(async () => Response.json({ ok: true }, { status: 201 }), { store: postgresStore({ pool }) });
 * ```
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  if ((options?.pool === undefined) === (options?.connectionString === undefined)) {
    throw new HalfsyncServerError('INVALID_OPTIONS', 'postgresStore needs exactly one of { pool } (a pg.Pool) or { connectionString: "postgres://..." }');
  }
  const table = checkTableName(options.table ?? 'halfsync_idempotency');
  const owned = options.pool === undefined;
  const pool = options.pool ?? new pg.Pool({ connectionString: options.connectionString });
  // An idle connection that dies (a database restart) is reported on the pool; unheard, it would end the process.
  if (owned) pool.on('error', () => {});
  const t = `"${table}"`;
  let closed = false;

  let creating: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    if (closed) return Promise.reject(new HalfsyncServerError('STORE_CLOSED', 'this PostgreSQL store was closed: create a new one'));
    creating ??= createTable().catch((error: unknown) => {
      creating = undefined;
      throw error;
    });
    return creating;
  };
  async function createTable(): Promise<void> {
    const client = await pool.connect();
    let failed: Error | undefined;
    try {
      await client.query('BEGIN');
      // CREATE TABLE IF NOT EXISTS is not safe against itself: two instances starting at once can both try.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`halfsync_idempotency:${table}`]);
      await client.query(`CREATE TABLE IF NOT EXISTS ${t} (
        scope text NOT NULL,
        key text NOT NULL,
        fingerprint text NOT NULL,
        state text NOT NULL CHECK (state IN ('running', 'completed')),
        owner text NOT NULL,
        locked_until bigint NOT NULL,
        expires_at bigint NOT NULL,
        status integer,
        headers text,
        body bytea,
        PRIMARY KEY (scope, key)
      )`);
      await client.query(`CREATE INDEX IF NOT EXISTS "${table}_expires_at" ON ${t} (expires_at)`);
      await client.query('COMMIT');
    } catch (error) {
      failed = error as Error;
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release(failed);
    }
  }

  const sql = {
    insert: `INSERT INTO ${t} (scope, key, fingerprint, state, owner, locked_until, expires_at)
             VALUES ($1, $2, $3, 'running', $4, $5, $6) ON CONFLICT (scope, key) DO NOTHING`,
    get: `SELECT * FROM ${t} WHERE scope = $1 AND key = $2`,
    takeOver: `UPDATE ${t} SET fingerprint = $3, state = 'running', owner = $4, locked_until = $5, expires_at = $6,
                 status = NULL, headers = NULL, body = NULL
               WHERE scope = $1 AND key = $2 AND owner = $7 AND state = $8 AND locked_until = $9`,
    renew: `UPDATE ${t} SET locked_until = $4 WHERE scope = $1 AND key = $2 AND owner = $3 AND state = 'running'`,
    complete: `UPDATE ${t} SET state = 'completed', status = $4, headers = $5, body = $6, expires_at = $7
               WHERE scope = $1 AND key = $2 AND owner = $3 AND state = 'running'`,
    release: `DELETE FROM ${t} WHERE scope = $1 AND key = $2 AND owner = $3 AND state = 'running'`,
    purge: `DELETE FROM ${t} WHERE expires_at <= $1 AND (state = 'completed' OR locked_until <= $1)`,
  };
  const completion = (claim: ClaimRef, response: StoredResponse, expiresAt: number) => [
    claim.scope, claim.key, claim.owner, response.status, encodeHeaders(response.headers),
    Buffer.from(response.body.buffer, response.body.byteOffset, response.body.byteLength), expiresAt,
  ];
  const run = async (text: string, values: unknown[]) => {
    await ready();
    try {
      return await pool.query(text, values);
    } catch (error) {
      // The table went away (a database restored or recreated): make it again on the next step.
      if ((error as { code?: unknown }).code === '42P01') creating = undefined;
      throw error;
    }
  };

  return {
    pool,
    table,
    ready,
    async insert(r) {
      return (await run(sql.insert, [r.scope, r.key, r.fingerprint, r.owner, r.lockedUntil, r.expiresAt])).rowCount === 1;
    },
    async get(scope, key) {
      const row = (await run(sql.get, [scope, key])).rows[0] as KeyRow | undefined;
      return row && toRecord(row);
    },
    async takeOver(r, previous) {
      const values = [r.scope, r.key, r.fingerprint, r.owner, r.lockedUntil, r.expiresAt, previous.owner, previous.state, previous.lockedUntil];
      return (await run(sql.takeOver, values)).rowCount === 1;
    },
    async renew(claim, lockedUntil) {
      return (await run(sql.renew, [claim.scope, claim.key, claim.owner, lockedUntil])).rowCount === 1;
    },
    async complete(claim, response, expiresAt) {
      return (await run(sql.complete, completion(claim, response, expiresAt))).rowCount === 1;
    },
    async release(claim) {
      await run(sql.release, [claim.scope, claim.key, claim.owner]);
    },
    async purge(now) {
      return (await run(sql.purge, [now])).rowCount ?? 0;
    },
    async transaction(claim, work, encode): Promise<TransactionOutcome> {
      await ready();
      const client = await pool.connect();
      // A client whose connection failed mid-transaction is destroyed, not put back in the pool.
      let broken: Error | undefined;
      try {
        await client.query('BEGIN').catch((error: unknown) => {
          broken = error as Error;
          throw error;
        });
        try {
          const reply = await work(client);
          const stored = encode(reply);
          if (!stored) {
            await client.query('ROLLBACK');
            return { status: 'rolled-back', reply };
          }
          if (claim && (await client.query(sql.complete, completion(claim, stored, claim.expiresAt))).rowCount !== 1) {
            await client.query('ROLLBACK');
            return { status: 'lock-lost' };
          }
          await client.query('COMMIT');
          return { status: 'committed', reply };
        } catch (error) {
          await client.query('ROLLBACK').catch((e: unknown) => {
            broken = e as Error;
          });
          throw error;
        }
      } finally {
        client.release(broken);
      }
    },
    async close() {
      closed = true;
      if (owned) await pool.end();
    },
  };
}
