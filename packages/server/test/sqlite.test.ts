// The SQLite store: its table, the rules over real HTTP with many concurrent requests in one process, and
// the transactional mode on the handler's own better-sqlite3 connection.
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HalfsyncServerError, idempotent, jsonReply, type Reply } from '@halfsync/server';
import { sqliteStore, type SqliteStore } from '@halfsync/server/sqlite';
import { serve, type Running } from './support/http.js';
import { expectAppliedOnce, expectNoneLost, storm, tally } from './support/storm.js';

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'halfsync-server-sqlite-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });
let files = 0;
const freshFile = () => join(dir, `db-${++files}`, 'keys.db');

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** A shop database with an effects table, the store on the same connection, and both kinds of route. */
function shop(file = freshFile()) {
  mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  cleanup.push(() => { if (db.open) db.close(); });
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY, key TEXT NOT NULL)');
  const store = sqliteStore({ database: db });
  const insert = db.prepare<[string]>('INSERT INTO effects (key) VALUES (?)');
  const effectsOf = () => db.prepare<[], { key: string; n: number }>('SELECT key, count(*) AS n FROM effects GROUP BY key').all();
  // Default mode: the effect is applied by the handler, the layer records the response after it returns.
  const plain = idempotent(async (request) => {
    const { key } = (await request.json()) as { key: string };
    await new Promise((r) => setTimeout(r, 2));
    const id = Number(insert.run(key).lastInsertRowid);
    return Response.json({ key, effect: id }, { status: 201 });
  }, { store });
  // Transactional mode: the effect and the record commit together.
  const transactional = idempotent(async (request, { transaction }) => {
    const { key } = (await request.json()) as { key: string };
    await new Promise((r) => setTimeout(r, 2));
    return transaction((tx) => {
      const id = Number(tx.prepare<[string]>('INSERT INTO effects (key) VALUES (?)').run(key).lastInsertRowid);
      return jsonReply({ key, effect: id }, { status: 201 });
    });
  }, { store });
  return { db, store, plain, transactional, effectsOf };
}

async function run(handler: (request: Request) => Promise<Response>): Promise<Running> {
  const r = await serve(handler);
  cleanup.push(() => r.close());
  return r;
}

const post = (base: string, key: string | null, body: unknown = { key }) =>
  fetch(base, { method: 'POST', headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'idempotency-key': key }) }, body: JSON.stringify(body) });

describe('sqliteStore', () => {
  it('creates its table (and the file and folder) and keeps keys across close and reopen', async () => {
    const file = freshFile();
    let runs = 0;
    const handler = (store: SqliteStore) => idempotent(async () => { runs++; return Response.json({ runs }, { status: 201 }); }, { store });
    const first = sqliteStore({ file });
    expect(first.table).toBe('halfsync_idempotency');
    expect(first.database.pragma('journal_mode', { simple: true })).toBe('wal');
    const a = await run(handler(first));
    expect((await post(a.base, 'k-4b1d9e07c2a3f856')).status).toBe(201);
    await a.close();
    await first.close();
    expect(first.database.open).toBe(false);

    const second = sqliteStore({ file });
    cleanup.push(() => second.close());
    const b = await run(handler(second));
    const again = await post(b.base, 'k-4b1d9e07c2a3f856');
    expect([again.status, again.headers.get('idempotent-replayed'), await again.json()]).toEqual([201, 'true', { runs: 1 }]);
    expect(runs).toBe(1);
  });

  it('refuses bad options with INVALID_OPTIONS', () => {
    const db = new Database(':memory:');
    cleanup.push(() => { db.close(); });
    for (const options of [{}, { file: freshFile(), database: db }, { database: db, table: 'drop table;' }, { database: db, table: '1abc' }]) {
      expect(() => sqliteStore(options)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    }
    expect(sqliteStore({ database: db, table: 'my_keys' }).table).toBe('my_keys');
  });

  it('deletes expired records on purge', async () => {
    const store = sqliteStore({ file: freshFile() });
    cleanup.push(() => store.close());
    await store.insert({ scope: '', key: 'old', owner: 'o', fingerprint: 'f', lockedUntil: 10, expiresAt: 100 });
    await store.insert({ scope: '', key: 'new', owner: 'o', fingerprint: 'f', lockedUntil: 10, expiresAt: 1_000 });
    expect(await store.purge(500)).toBe(1);
    expect([await store.get('', 'old'), (await store.get('', 'new'))?.key]).toEqual([undefined, 'new']);
  });
});

describe('SQLite, one process, many concurrent requests', () => {
  it.each([['default', 'plain'], ['transactional', 'transactional']] as const)(
    '%s mode: 200 keys each sent 20 times at once: each effect applied once, every other answer a replay or a 409, none lost',
    async (_mode, route) => {
      const s = shop();
      const server = await run(s[route]);
      const keys = Array.from({ length: 200 }, (_, i) => `key-${i}-${crypto.randomUUID()}`);
      const answers = await storm({ servers: [server.base], path: '/', keys, sends: 20, parallelKeys: 10 });
      const originals = expectAppliedOnce(answers);
      expect(originals.size).toBe(200);
      const effects = s.effectsOf();
      expect(effects).toHaveLength(200);
      expect(effects.filter((e) => e.n !== 1)).toEqual([]);
      const t = tally(answers);
      expect(t.originals).toBe(200);
      expect(t.replays + t.conflicts).toBe(200 * 19);
      await expectNoneLost([server.base], '/', originals);
    },
    60_000,
  );
});

describe('the transactional mode on SQLite', () => {
  it('records the key in the effect\'s transaction: the row is completed when the effect is there', async () => {
    const s = shop();
    const server = await run(s.transactional);
    expect((await post(server.base, 'k1-4b1d9e07c2a3f856')).status).toBe(201);
    const row = s.db.prepare<[], { state: string; status: number; body: Buffer }>('SELECT state, status, body FROM halfsync_idempotency WHERE key = \'k1-4b1d9e07c2a3f856\'').get();
    expect(row?.state).toBe('completed');
    expect(row?.status).toBe(201);
    expect(JSON.parse(row!.body.toString())).toMatchObject({ key: 'k1-4b1d9e07c2a3f856', effect: 1 });
  });

  it('rolls the effect back with the record when the work throws after writing, so the retry applies it once', async () => {
    const s = shop();
    let attempt = 0;
    const handle = idempotent(async (_request, { transaction }) => {
      attempt++;
      return transaction((tx) => {
        tx.prepare('INSERT INTO effects (key) VALUES (?)').run('k');
        if (attempt === 1) throw new Error('crashed between the effect and the record');
        return jsonReply({ ok: true }, { status: 201 });
      });
    }, { store: s.store });
    await expect(handle(new Request('http://x/', { method: 'POST', headers: { 'idempotency-key': 'k-4b1d9e07c2a3f856' }, body: '{}' }))).rejects.toThrow('crashed between');
    expect(s.effectsOf()).toEqual([]);
    expect(s.db.prepare('SELECT count(*) AS n FROM halfsync_idempotency').get()).toEqual({ n: 0 });
    const retry = await handle(new Request('http://x/', { method: 'POST', headers: { 'idempotency-key': 'k-4b1d9e07c2a3f856' }, body: '{}' }));
    expect(retry.status).toBe(201);
    expect(s.effectsOf()).toEqual([{ key: 'k', n: 1 }]);
  });

  it('rolls back a 5xx reply, effect included', async () => {
    const s = shop();
    const handle = idempotent(async (_request, { transaction }) =>
      transaction((tx): Reply => {
        tx.prepare('INSERT INTO effects (key) VALUES (?)').run('k');
        return jsonReply({ error: 'warehouse offline' }, { status: 503 });
      }), { store: s.store });
    const res = await handle(new Request('http://x/', { method: 'POST', headers: { 'idempotency-key': 'k-4b1d9e07c2a3f856' }, body: '{}' }));
    expect(res.status).toBe(503);
    expect(s.effectsOf()).toEqual([]);
    expect(await s.store.get('', 'k-4b1d9e07c2a3f856')).toBeUndefined();
  });

  it('refuses asynchronous work with TRANSACTION_NOT_SYNC and writes nothing', async () => {
    const s = shop();
    const handle = idempotent(async (_request, { transaction }) =>
      transaction(((tx: Database.Database) => Promise.resolve().then(() => {
        tx.prepare('INSERT INTO effects (key) VALUES (?)').run('late');
        return jsonReply(1);
      })) as unknown as (tx: Database.Database) => Reply), { store: s.store });
    const error = await handle(new Request('http://x/', { method: 'POST', headers: { 'idempotency-key': 'k-4b1d9e07c2a3f856' }, body: '{}' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HalfsyncServerError);
    expect((error as HalfsyncServerError).code).toBe('TRANSACTION_NOT_SYNC');
    await new Promise((r) => setTimeout(r, 10));
    expect(await s.store.get('', 'k-4b1d9e07c2a3f856')).toBeUndefined();
  });
});

describe('a SQLite store that is down', () => {
  it('answers 503 with Retry-After and does not run the handler when the database is closed', async () => {
    const s = shop();
    let runs = 0;
    const errors: string[] = [];
    const handle = idempotent(async () => { runs++; return new Response('ok', { status: 201 }); }, { store: s.store, onError: (e) => errors.push(e.code) });
    s.db.close();
    const res = await handle(new Request('http://x/', { method: 'POST', headers: { 'idempotency-key': 'k-4b1d9e07c2a3f856' }, body: '{}' }));
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(((await res.json()) as { code: string }).code).toBe('STORE_UNAVAILABLE');
    expect(runs).toBe(0);
    // The claim failed, and so did the purge of expired keys that the request set off.
    expect(new Set(errors)).toEqual(new Set(['STORE_UNAVAILABLE']));
  });

  it('answers 503 with Retry-After when another connection holds the write lock past the busy timeout', async () => {
    const file = freshFile();
    const store = sqliteStore({ file });
    cleanup.push(() => store.close());
    store.database.pragma('busy_timeout = 50');
    const other = new Database(file);
    cleanup.push(() => { if (other.open) other.close(); });
    other.exec('BEGIN IMMEDIATE');
    let runs = 0;
    const handle = idempotent(async () => { runs++; return new Response('ok', { status: 201 }); }, { store });
    const res = await handle(new Request('http://x/', { method: 'POST', headers: { 'idempotency-key': 'k-4b1d9e07c2a3f856' }, body: '{}' }));
    expect([res.status, res.headers.get('retry-after'), runs]).toEqual([503, '5', 0]);
    other.exec('ROLLBACK');
    expect((await handle(new Request('http://x/', { method: 'POST', headers: { 'idempotency-key': 'k-4b1d9e07c2a3f856' }, body: '{}' }))).status).toBe(201);
  });
});
