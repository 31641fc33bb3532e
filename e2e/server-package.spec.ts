// Exactly once, end to end (guarantee 12): the durable HTTP task against a server guarded by
// @halfsync/server, with the service worker killed mid-request through the DevTools Protocol, in Chromium.
// The spec runs its own server on 127.0.0.1: the built e2e app (e2e/.dist) and one guarded route whose
// handler records an order in SQLite, in the transactional mode, so the effects can be counted.
import { test, expect, type Page } from '@playwright/test';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { halfsyncKit } from '@halfsync/core/testing';
import { idempotent, jsonReply } from '@halfsync/server';
import { toNodeHandler } from '@halfsync/server/node';
import { sqliteStore, type SqliteStore } from '@halfsync/server/sqlite';

const dist = fileURLToPath(new URL('./.dist/', import.meta.url));
const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json', '.css': 'text/css' };

let dir: string;
let db: Database.Database;
let store: SqliteStore;
let server: Server;
let base: string;
let handlerMs = 0;
/** Every request that reached the guarded route, and those whose client went away before the answer. */
const arrived: string[] = [];
const clientGone: string[] = [];

test.beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'halfsync-e2e-server-'));
  db = new Database(join(dir, 'shop.db'));
  db.pragma('journal_mode = WAL');
  db.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, key TEXT NOT NULL)');
  store = sqliteStore({ database: db });
  const placeOrder = toNodeHandler(idempotent(async (request, { transaction, key }) => {
    await new Promise((resolve) => setTimeout(resolve, handlerMs));
    const { item } = (await request.json()) as { item: string };
    return transaction((tx) => {
      const id = Number(tx.prepare('INSERT INTO orders (item, key) VALUES (?, ?)').run(item, key).lastInsertRowid);
      return jsonReply({ order: id, item }, { status: 201, headers: { 'x-order': String(id) } });
    });
  }, {
    store,
    // Keys belong to their caller: here every request carries the one test user's token.
    scope: (request) => (request.headers.get('authorization') === 'Bearer fresh-at-replay' ? 'test-user' : 'anonymous'),
  }));

  server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/api/orders' && req.method === 'POST') {
      const key = String(req.headers['idempotency-key']);
      arrived.push(key);
      res.on('close', () => { if (!res.writableEnded) clientGone.push(key); });
      void placeOrder(req, res);
      return;
    }
    const rel = normalize(path === '/' ? '/index.html' : path).replace(/^(\.\.[/\\])+/, '');
    readFile(join(dist, rel)).then(
      (data) => res.writeHead(200, { 'content-type': types[extname(rel)] ?? 'application/octet-stream', 'cache-control': 'no-cache' }).end(data),
      () => res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

test.afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  db?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function until(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Hs = { client: { ready: Promise<string> }; deferFetch(url: string, init?: RequestInit): Promise<string> };
const hsOf = (page: Page) => ({
  ready: () => page.evaluate(() => (window as unknown as { hs: Hs }).hs.client.ready),
  deferFetch: (url: string, init: { method: string; headers: Record<string, string>; body: string }) =>
    page.evaluate(([u, i]) => (window as unknown as { hs: Hs }).hs.deferFetch(u, i), [url, init] as const),
});

test('a worker killed mid-request: the retry is answered from the record, the effect applies once, and the task\'s result is the original response', async ({ page }) => {
  // A 6 s lease: the fresh worker's retry comes seconds after the first attempt's handler (1 s) has finished.
  await page.goto(`${base}/?leaseMs=6000`);
  const hs = hsOf(page);
  expect(await hs.ready()).toBe('sync');
  const kit = await halfsyncKit(page);
  handlerMs = 1_000;

  const id = await hs.deferFetch('/api/orders', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ item: 'fountain pen' }) });
  // Killed while the server is still handling the first attempt: the page never sees that answer.
  await kit.stopWorker({ when: () => until(() => arrived.length === 1, 'the first attempt') });
  // The page notices the orphaned lease and wakes a fresh worker, which sends the request again.
  const task = await kit.waitForTask(id, 'succeeded', { timeoutMs: 30_000 });
  const key = task.idempotencyKey;

  expect(arrived).toEqual([key, key]);
  expect(clientGone).toEqual([key]);
  expect(task.attempts).toBe(2);
  // One effect.
  expect(db.prepare('SELECT item, key FROM orders').all()).toEqual([{ item: 'fountain pen', key }]);

  // The first attempt's response was recorded with its effect; the second attempt was answered from that record.
  const recorded = await store.get('test-user', key);
  expect(recorded?.state).toBe('completed');
  const original = new TextDecoder().decode(recorded!.response!.body);
  expect(JSON.parse(original)).toEqual({ order: 1, item: 'fountain pen' });
  const result = task.result as { status: number; headers: Record<string, string>; body: string };
  expect(result.status).toBe(201);
  expect(result.body).toBe(original);
  expect(result.headers['x-order']).toBe('1');
  expect(result.headers['idempotent-replayed']).toBe('true');

  // Any later retry of the same request gets the same original response, and applies nothing.
  const again = await fetch(`${base}/api/orders`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key, authorization: 'Bearer fresh-at-replay' }, body: JSON.stringify({ item: 'fountain pen' }) });
  expect([again.status, again.headers.get('idempotent-replayed'), await again.text()]).toEqual([201, 'true', original]);
  expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 1 });
});
