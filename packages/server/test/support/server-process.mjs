// One server process of the multi-process tests: the built package, as an application installs it, over
// PostgreSQL or a SQLite file shared with other processes. Prints "READY <base url>" once listening.
//   HS_STORE=postgres HS_DATABASE_URL=postgres://...    or    HS_STORE=sqlite HS_SQLITE_FILE=/path/keys.db
//   HS_LOCK_TIMEOUT_MS (default 30000)
// Routes: POST /default (the effect, then the response is recorded by the layer) and POST /transactional
// (the effect and the record in one transaction). Each answers 201 { key, effect, pid }. A request with
// "x-crash: after-effect" (default), "in-transaction" or "after-commit" (transactional) kills this process
// at that point with SIGKILL, as a power cut would.
// Under an Express mount, with keys scoped to the signed-in user: POST /api/orders (default mode) and
// /api/orders/transactional, each needing "authorization: Bearer <user>.<token number>" (a refreshed token has
// another number, and the same user) and answering 201 { key, user, effect, pid }; their effects are recorded
// with route "api:<user>".
import Database from 'better-sqlite3';
import express from 'express';
import { createServer } from 'node:http';
import pg from 'pg';
import { idempotent, jsonReply } from '@halfsync/server';
import { idempotency, idempotencyOf, toNodeHandler } from '@halfsync/server/node';
import { postgresStore } from '@halfsync/server/postgres';
import { sqliteStore } from '@halfsync/server/sqlite';

const lockTimeoutMs = Number(process.env.HS_LOCK_TIMEOUT_MS ?? 30_000);
const die = () => process.kill(process.pid, 'SIGKILL');
const pause = () => new Promise((r) => setTimeout(r, Math.random() * 4));

let store;
let applyPlain;
let applyInTransaction;
if (process.env.HS_STORE === 'postgres') {
  const pool = new pg.Pool({ connectionString: process.env.HS_DATABASE_URL, max: 10 });
  pool.on('error', () => {});
  store = postgresStore({ pool });
  applyPlain = async (key, route) => Number((await pool.query('INSERT INTO effects (key, route, pid) VALUES ($1, $2, $3) RETURNING id', [key, route, process.pid])).rows[0].id);
  applyInTransaction = async (client, key, route) => Number((await client.query('INSERT INTO effects (key, route, pid) VALUES ($1, $2, $3) RETURNING id', [key, route, process.pid])).rows[0].id);
} else {
  // Waits for a lock from the first statement on: a process killed a moment ago may still hold one
  // while the file is recovered, and switching to WAL takes one too.
  const db = new Database(process.env.HS_SQLITE_FILE, { timeout: 10_000 });
  // SQLite can answer the switch to WAL with SQLITE_BUSY at once, without waiting (the file is
  // being recovered after a kill): try again for a few seconds.
  for (let tries = 0; ; tries++) {
    try { db.pragma('journal_mode = WAL'); break; } catch (error) {
      if (error?.code !== 'SQLITE_BUSY' || tries >= 100) throw error;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
  db.exec('CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY, key TEXT NOT NULL, route TEXT NOT NULL, pid INTEGER NOT NULL)');
  store = sqliteStore({ database: db });
  const insert = db.prepare('INSERT INTO effects (key, route, pid) VALUES (?, ?, ?)');
  applyPlain = async (key, route) => Number(insert.run(key, route, process.pid).lastInsertRowid);
  applyInTransaction = (_tx, key, route) => Number(insert.run(key, route, process.pid).lastInsertRowid);
}

const plain = idempotent(async (request) => {
  const { key } = await request.json();
  await pause();
  const effect = await applyPlain(key, 'default');
  if (request.headers.get('x-crash') === 'after-effect') die();
  return Response.json({ key, effect, pid: process.pid }, { status: 201 });
}, { store, lockTimeoutMs });

const transactional = idempotent(async (request, { transaction }) => {
  const { key } = await request.json();
  const crash = request.headers.get('x-crash');
  await pause();
  const answer = await transaction(process.env.HS_STORE === 'postgres'
    ? async (client) => {
        const effect = await applyInTransaction(client, key, 'transactional');
        if (crash === 'in-transaction') die();
        return jsonReply({ key, effect, pid: process.pid }, { status: 201 });
      }
    : (tx) => {
        const effect = applyInTransaction(tx, key, 'transactional');
        if (crash === 'in-transaction') die();
        return jsonReply({ key, effect, pid: process.pid }, { status: 201 });
      });
  if (crash === 'after-commit') die();
  return answer;
}, { store, lockTimeoutMs });

// What an authentication middleware verifies: the user behind the token, the same after a refresh.
const userOf = (req) => /^Bearer ([a-z]+)\.\d+$/.exec(req.headers.authorization ?? '')?.[1];
const api = express.Router();
api.use((req, res, next) => (userOf(req) ? next() : void res.status(401).json({ error: 'sign in' })));
api.use(idempotency({ store, lockTimeoutMs, scope: (req) => userOf(req) }));
api.use(express.json());
api.post('/orders', async (req, res, next) => {
  try {
    const user = userOf(req);
    await pause();
    const effect = await applyPlain(req.body.key, `api:${user}`);
    res.status(201).json({ key: req.body.key, user, effect, pid: process.pid });
  } catch (error) {
    next(error);
  }
});
api.post('/orders/transactional', async (req, res, next) => {
  try {
    const user = userOf(req);
    const { key } = req.body;
    await pause();
    const answer = await idempotencyOf(req, store).transaction(process.env.HS_STORE === 'postgres'
      ? async (client) => jsonReply({ key, user, effect: await applyInTransaction(client, key, `api:${user}`), pid: process.pid }, { status: 201 })
      : (tx) => jsonReply({ key, user, effect: applyInTransaction(tx, key, `api:${user}`), pid: process.pid }, { status: 201 }));
    res.status(answer.status).type('json').send(await answer.text());
  } catch (error) {
    next(error);
  }
});
const app = express();
app.use('/api', api);

const routes = { '/default': toNodeHandler(plain), '/transactional': toNodeHandler(transactional) };
const server = createServer((req, res) => {
  if (req.url.startsWith('/api/')) return void app(req, res);
  const route = routes[new URL(req.url, 'http://x').pathname];
  if (!route) return void res.writeHead(404).end();
  route(req, res, (error) => {
    process.stderr.write(`handler failed: ${error?.stack ?? error}\n`);
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`READY http://127.0.0.1:${server.address().port}\n`);
});
