// The demo shop's backend: a small JSON API over one SQLite file, mounted by Vite under /api in both `vite dev`
// and `vite preview`. It is deliberately a *real* backend (durable, idempotent, validating) so that what the demo
// shows about halfsync's retries and deduplication is true, and it can be switched into failure modes from the page.
// Deduplication is @halfsync/server's, in its transactional mode: each write's effect and its Idempotency-Key record
// commit in one SQLite transaction on the shop's own connection.
//
// Routes, relative to the /api mount:
//   POST /orders  /labels  /emails  /stats   writes: need an Idempotency-Key header; obey the behaviour mode.
//                                            Keys are per customer (the X-Customer header) and per endpoint.
//   POST /stats/batch { sales: [...] }       a batch of sales, applied in order: { results: [...] }
//   POST /orders/note { orderNumber, note }  an order's note (the page saves it latest-wins)
//   GET  /orders  /labels  /emails  /stats   { items: [...] }, newest first (stats in applied order)
//   GET  /behaviour, POST /behaviour { mode }  the failure-mode switch; always answers
//   POST /reset                                 empties every table; always answers

import { idempotent, jsonReply, type FingerprintInput } from '@halfsync/server';
import { toNodeHandler, type NodeHandler } from '@halfsync/server/node';
import { sqliteStore } from '@halfsync/server/sqlite';
import Database from 'better-sqlite3';
import { createHash, randomInt } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin, PreviewServer, ViteDevServer } from 'vite';
import type { BehaviourMode, EmailInput, OrderInput, OrderItem, SaleInput } from './validate.js';
import { PRODUCTS } from '../src/shop.js';
import { HttpError, parseEmail, parseJsonObject, parseLabel, parseMode, parseNote, parseOrder, parseSale, parseSales } from './validate.js';

export { BEHAVIOUR_MODES, ORDER_NUMBER_PATTERN } from './validate.js';
export type { BehaviourMode, EmailInput, LabelInput, OrderInput, OrderItem, SaleInput } from './validate.js';

export interface BackendOptions {
  /** The SQLite file; its folder is created if missing. */
  file: string;
  /** How long the `slow` mode holds each write before answering. Default 2000 ms. */
  slowMs?: number;
}

export interface Backend {
  /**
   * Connect-style middleware. It expects `req.url` relative to the mount point (`/orders`, not `/api/orders`),
   * which is what Connect and Vite give a handler mounted with `middlewares.use('/api', handle)`. It answers every
   * request itself, unknown paths included (a JSON 404 rather than the page server's HTML fallback), so `next` is
   * never called. It is an arrow property so it can be passed around unbound.
   */
  readonly handle: (req: IncomingMessage, res: ServerResponse, next: () => void) => void;
  /** Closes the database; later requests get a 503. Safe to call twice. */
  readonly close: () => void;
  /** Empties every table (the failure mode is left as it is). */
  readonly reset: () => void;
}

export interface Order extends OrderInput {
  /** The server's id of the order (the page learns it from the create's answer). */
  id: number;
  createdAt: string;
  note: string;
}
export interface Label {
  orderNumber: string;
  carrier: string;
  tracking: string;
  createdAt: string;
}
export interface Email extends EmailInput {
  id: number;
  createdAt: string;
}
export interface Sale extends SaleInput {
  appliedSeq: number;
  runningTotalCents: number;
  createdAt: string;
}

const MAX_BODY_BYTES = 64 * 1024;
// A customer id as the page's customer switch makes them: short, printable, no spaces.
const CUSTOMER_PATTERN = /^[\x21-\x7e]{1,64}$/;
// Longer than a task's life in the page (a week of retries at most), so no retry outlives its key.
const KEY_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
// The demo's tables stay small; the cap only keeps a runaway test loop from making the page's lists unusable.
const LIST_LIMIT = 500;

type Outcome = { status: number; body: unknown };
type WriteEndpoint = 'orders' | 'labels' | 'emails' | 'stats' | 'stats-batch' | 'notes';

/** The schema, one step per version (`PRAGMA user_version`). */
export const MIGRATIONS: readonly string[] = [
  `CREATE TABLE orders (
     id INTEGER PRIMARY KEY,
     order_number TEXT NOT NULL UNIQUE,
     customer_name TEXT NOT NULL,
     customer_email TEXT NOT NULL,
     customer_address TEXT NOT NULL,
     items TEXT NOT NULL,
     total_cents INTEGER NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE labels (
     id INTEGER PRIMARY KEY,
     order_number TEXT NOT NULL UNIQUE,
     carrier TEXT NOT NULL,
     tracking TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE emails (
     id INTEGER PRIMARY KEY,
     "to" TEXT NOT NULL,
     subject TEXT NOT NULL,
     body TEXT NOT NULL,
     order_number TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   -- No uniqueness on order_number: recording a sale twice under two keys double-counts, which is exactly what
   -- the demo wants to be able to show (deduplication is the Idempotency-Key's job, not the schema's).
   CREATE TABLE stats (
     applied_seq INTEGER PRIMARY KEY,
     order_number TEXT NOT NULL,
     total_cents INTEGER NOT NULL,
     item_count INTEGER NOT NULL,
     running_total_cents INTEGER NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE idempotency (
     endpoint TEXT NOT NULL,
     key TEXT NOT NULL,
     request_hash TEXT NOT NULL,
     status INTEGER NOT NULL,
     response TEXT NOT NULL,
     created_at TEXT NOT NULL,
     PRIMARY KEY (endpoint, key)
   );`,
  // The records move to @halfsync/server's table (created by sqliteStore before migrating): same scope (the
  // endpoint), key and fingerprint, so every key recorded by the hand-written deduplication still replays.
  `INSERT OR IGNORE INTO halfsync_idempotency (scope, key, fingerprint, state, owner, locked_until, expires_at, status, headers, body)
     SELECT endpoint, key, request_hash, 'completed', 'migrated', 0,
            CAST(strftime('%s', created_at) AS INTEGER) * 1000 + ${KEY_RETENTION_MS}, status,
            '[["content-type","application/json"],["cache-control","no-store"]]', CAST(response AS BLOB)
     FROM idempotency;
   DROP TABLE idempotency;`,
  // Orders take a note the page saves latest-wins.
  `ALTER TABLE orders ADD COLUMN note TEXT NOT NULL DEFAULT '';`,
];

/**
 * Brings the file's schema up to date, one transaction per step, tracked by `PRAGMA user_version`. The idempotency
 * store's table must exist first (`sqliteStore({ database: db })` creates it).
 */
export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `${db.name} has schema version ${current} but this backend knows only up to ${MIGRATIONS.length}; ` +
        'it was written by a newer checkout: delete the file or start the demo with --reset',
    );
  }
  MIGRATIONS.slice(current).forEach((sql, i) => {
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${current + i + 1}`);
    })();
  });
}

/** Deletes a database file together with its WAL and shared-memory files (a stale WAL would replay into a new file). */
export function deleteDatabase(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true });
}

// Sorted keys, so the fingerprint compares what was asked for, not how the client happened to order its fields.
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const fields = value as Record<string, unknown>;
    return `{${Object.keys(fields)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(fields[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const CARRIERS = [
  { name: 'UPS', tracking: () => `1Z${digits(6, 36).toUpperCase()}03${digits(8)}` },
  { name: 'DHL', tracking: () => `JD01460${digits(13)}` },
  { name: 'PostNL', tracking: () => `3S${digits(4, 36).toUpperCase()}${digits(9)}NL` },
] as const;

function digits(count: number, radix = 10): string {
  return Array.from({ length: count }, () => randomInt(radix).toString(radix)).join('');
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  const tooLarge = () => new HttpError(413, `the request body is larger than ${MAX_BODY_BYTES} bytes: send a smaller one`);
  if (Number(req.headers['content-length']) > MAX_BODY_BYTES) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(chunk);
      req.off('data', onData);
      reject(tooLarge());
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * A write's fingerprint: the SHA-256 of its body as canonical JSON, so the same object sent with its fields in
 * another order is the same request (the key's scope is the endpoint). A body that is not JSON is hashed as bytes.
 */
function fingerprint({ body }: FingerprintInput): string {
  let canonical: string;
  try {
    canonical = canonicalJson(JSON.parse(new TextDecoder().decode(body)));
  } catch {
    return createHash('sha256').update(body).digest('hex');
  }
  return createHash('sha256').update(canonical).digest('hex');
}

/** A write's Idempotency-Key scope: its endpoint, and the customer who sent it when the request says (X-Customer). */
function scopeOf(endpoint: WriteEndpoint, request: Request): string {
  const customer = request.headers.get('x-customer');
  if (customer === null) return endpoint;
  if (!CUSTOMER_PATTERN.test(customer)) {
    throw new HttpError(400, 'the X-Customer header must be the customer\'s id: 1 to 64 printable characters without spaces');
  }
  // The endpoint has no space, so "<endpoint> <customer>" never reads as another endpoint's scope.
  return `${endpoint} ${customer}`;
}

function errorResponse(error: HttpError): Response {
  const body = error.field ? { error: error.message, field: error.field } : { error: error.message };
  return Response.json(body, { status: error.status, headers: { 'cache-control': 'no-store' } });
}

export function createBackend(options: BackendOptions): Backend {
  const slowMs = options.slowMs ?? 2000;
  mkdirSync(dirname(options.file), { recursive: true });
  const db = new Database(options.file);
  db.pragma('journal_mode = WAL');
  // FULL, not NORMAL: in WAL mode NORMAL can lose the last commits on a power cut or OS crash, and a 201 here is a
  // promise that the write is kept (the worker stops retrying once it sees one). One fsync per commit is nothing at
  // the demo's request rate.
  db.pragma('synchronous = FULL');
  // The Idempotency-Key records live beside the shop's tables, on the same connection, so that each write's effect
  // and its record commit in one transaction (the store's transactional mode).
  const store = sqliteStore({ database: db });
  migrate(db);

  let mode: BehaviourMode = 'healthy';
  let closed = false;

  const q = {
    orderExists: db.prepare<[string], { n: number }>('SELECT 1 AS n FROM orders WHERE order_number = ?'),
    insertOrder: db.prepare(
      `INSERT INTO orders (order_number, customer_name, customer_email, customer_address, items, total_cents, created_at)
       VALUES (@orderNumber, @name, @email, @address, @items, @totalCents, @createdAt)`,
    ),
    labelFor: db.prepare<[string], LabelRow>('SELECT * FROM labels WHERE order_number = ?'),
    insertLabel: db.prepare(
      'INSERT INTO labels (order_number, carrier, tracking, created_at) VALUES (@orderNumber, @carrier, @tracking, @createdAt)',
    ),
    insertEmail: db.prepare(
      `INSERT INTO emails ("to", subject, body, order_number, created_at) VALUES (@to, @subject, @body, @orderNumber, @createdAt)`,
    ),
    setNote: db.prepare('UPDATE orders SET note = @note WHERE order_number = @orderNumber'),
    lastSale: db.prepare<[], StatsRow>('SELECT * FROM stats ORDER BY applied_seq DESC LIMIT 1'),
    insertSale: db.prepare(
      `INSERT INTO stats (applied_seq, order_number, total_cents, item_count, running_total_cents, created_at)
       VALUES (@appliedSeq, @orderNumber, @totalCents, @itemCount, @runningTotalCents, @createdAt)`,
    ),
    orders: db.prepare<[number], OrderRow>('SELECT * FROM orders ORDER BY id DESC LIMIT ?'),
    labels: db.prepare<[number], LabelRow>('SELECT * FROM labels ORDER BY id DESC LIMIT ?'),
    emails: db.prepare<[number], EmailRow>('SELECT * FROM emails ORDER BY id DESC LIMIT ?'),
    stats: db.prepare<[number], StatsRow>(
      'SELECT * FROM (SELECT * FROM stats ORDER BY applied_seq DESC LIMIT ?) ORDER BY applied_seq ASC',
    ),
  };

  // Each effect runs inside the key's transaction; its outcome (including a 409) is what a replay returns.
  const effects: Record<WriteEndpoint, (body: Record<string, unknown>) => (createdAt: string) => Outcome> = {
    orders(body) {
      const order = parseOrder(body);
      return (createdAt) => {
        if (q.orderExists.get(order.orderNumber)) {
          return conflict(
            `order ${order.orderNumber} already exists and was placed with a different Idempotency-Key: ` +
              'to retry that order resend it with its original key, to place a new one use a new order number',
          );
        }
        const { name, email, address } = order.customer;
        const { orderNumber, totalCents } = order;
        const { lastInsertRowid } = q.insertOrder.run({ orderNumber, name, email, address, items: JSON.stringify(order.items), totalCents, createdAt });
        return { status: 201, body: { ...order, id: Number(lastInsertRowid), createdAt, note: '' } satisfies Order };
      };
    },
    labels(body) {
      const input = parseLabel(body);
      return (createdAt) => {
        // A label only for an order the server has: nothing is made against a missing id.
        if (!q.orderExists.get(input.orderNumber)) return { status: 422, body: { error: `there is no order ${input.orderNumber}: create it first` } };
        const existing = q.labelFor.get(input.orderNumber);
        if (existing) {
          return conflict(
            `order ${input.orderNumber} already has a shipping label (${existing.carrier} ${existing.tracking}) made ` +
              'with a different Idempotency-Key: retry with the original key to get that label back',
          );
        }
        const carrier = CARRIERS[randomInt(CARRIERS.length)] ?? CARRIERS[0];
        const label: Label = { orderNumber: input.orderNumber, carrier: carrier.name, tracking: carrier.tracking(), createdAt };
        q.insertLabel.run(label);
        return { status: 201, body: label };
      };
    },
    emails(body) {
      const input = parseEmail(body);
      return (createdAt) => {
        const { lastInsertRowid } = q.insertEmail.run({ ...input, createdAt });
        return { status: 201, body: { id: Number(lastInsertRowid), ...input, createdAt } satisfies Email };
      };
    },
    stats(body) {
      const sale = parseSale(body);
      return (createdAt) => {
        const last = q.lastSale.get();
        const appliedSeq = (last?.applied_seq ?? 0) + 1;
        const runningTotalCents = (last?.running_total_cents ?? 0) + sale.totalCents;
        q.insertSale.run({ ...sale, appliedSeq, runningTotalCents, createdAt });
        return { status: 201, body: { appliedSeq, runningTotalCents } };
      };
    },
    'stats-batch'(body) {
      const sales = parseSales(body);
      return (createdAt) => {
        const results = sales.map((sale) => {
          const last = q.lastSale.get();
          const appliedSeq = (last?.applied_seq ?? 0) + 1;
          const runningTotalCents = (last?.running_total_cents ?? 0) + sale.totalCents;
          q.insertSale.run({ ...sale, appliedSeq, runningTotalCents, createdAt });
          return { appliedSeq, runningTotalCents };
        });
        return { status: 201, body: { results } };
      };
    },
    notes(body) {
      const input = parseNote(body);
      return () => {
        const { changes } = q.setNote.run({ orderNumber: input.orderNumber, note: input.note });
        if (changes === 0) return { status: 404, body: { error: `there is no order ${input.orderNumber}` } };
        return { status: 200, body: input };
      };
    },
  };

  // One guarded handler per endpoint. A key's scope is the customer who sent it (the X-Customer header, the
  // signed-in customer of the task that sent it) and the endpoint, so that one customer's key never answers another
  // customer with their recorded response, and one key may serve two endpoints. A request without X-Customer shares
  // its endpoint's scope with every other such request (the scope keys had before customers were told apart). The body
  // was read by the layer (413 past the limit) and is parsed here; a 400 for a bad body is the request's real outcome
  // and is recorded like any other answer under 500.
  const writers = Object.fromEntries(
    (Object.keys(effects) as WriteEndpoint[]).map((endpoint) => {
      const handle = idempotent(
        async (request, { transaction }) => {
          let apply: (createdAt: string) => Outcome;
          try {
            apply = effects[endpoint](parseJsonObject(await request.text()));
          } catch (error) {
            if (error instanceof HttpError) return errorResponse(error);
            throw error;
          }
          return transaction(() => {
            const outcome = apply(new Date().toISOString());
            return jsonReply(outcome.body, { status: outcome.status, headers: { 'cache-control': 'no-store' } });
          });
        },
        { store, scope: (request) => scopeOf(endpoint, request), fingerprint, maxBodyBytes: MAX_BODY_BYTES, expiresAfterMs: KEY_RETENTION_MS },
      );
      return [endpoint, toNodeHandler(handle)];
    }),
  ) as Record<WriteEndpoint, NodeHandler>;

  async function write(endpoint: WriteEndpoint, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const current = mode;
    if (current === 'down') {
      // No answer at all: the browser sees a network error, as it would if the server were unreachable.
      req.socket.destroy();
      return;
    }
    if (current === 'failing' || current === 'rejecting') {
      await readBody(req);
      if (current === 'failing') throw new HttpError(500, 'the backend is set to fail every write (demo switch)');
      throw new HttpError(400, 'the backend is set to reject every write (demo switch)');
    }
    if (current === 'slow') await new Promise((resolve) => setTimeout(resolve, slowMs));
    if (closed) throw closedError();
    await writers[endpoint](req, res, (error) => fail(req, res, error));
  }

  type Route = Partial<Record<'GET' | 'POST', (req: IncomingMessage, res: ServerResponse) => Promise<void> | void>>;
  const listing = (read: () => unknown[]) => (_req: IncomingMessage, res: ServerResponse) => send(res, 200, { items: read() });
  const routes: Record<string, Route> = {
    '/orders': { POST: (req, res) => write('orders', req, res), GET: listing(() => q.orders.all(LIST_LIMIT).map(toOrder)) },
    '/labels': { POST: (req, res) => write('labels', req, res), GET: listing(() => q.labels.all(LIST_LIMIT).map(toLabel)) },
    '/emails': { POST: (req, res) => write('emails', req, res), GET: listing(() => q.emails.all(LIST_LIMIT).map(toEmail)) },
    '/stats': { POST: (req, res) => write('stats', req, res), GET: listing(() => q.stats.all(LIST_LIMIT).map(toSale)) },
    '/stats/batch': { POST: (req, res) => write('stats-batch', req, res) },
    '/orders/note': { POST: (req, res) => write('notes', req, res) },
    // The price list the shop's periodic check reads (a read: no Idempotency-Key needed).
    '/prices': { GET: (_req, res) => send(res, 200, { checkedAt: Date.now(), prices: Object.fromEntries(PRODUCTS.map((p) => [p.sku, p.priceCents])) }) },
    '/behaviour': {
      GET: (_req, res) => send(res, 200, { mode }),
      POST: async (req, res) => {
        mode = parseMode(parseJsonObject(await readBody(req)));
        send(res, 200, { mode });
      },
    },
    '/reset': {
      POST: (_req, res) => {
        reset();
        send(res, 200, { reset: true });
      },
    },
  };

  function reset(): void {
    if (closed) throw closedError();
    db.transaction(() => {
      for (const table of ['orders', 'labels', 'emails', 'stats', store.table]) db.exec(`DELETE FROM ${table}`);
    }).immediate();
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (closed) throw closedError();
    // Connect leaves an empty path as "/"; a trailing slash is tolerated so "/orders/" is not a confusing 404.
    const path = (req.url ?? '/').split('?')[0]?.replace(/(.)\/+$/, '$1') ?? '/';
    const entry = routes[path];
    if (!entry) {
      throw new HttpError(404, `no API route ${path}: the routes are ${Object.keys(routes).join(', ')} (under /api)`);
    }
    const handler = req.method === 'GET' || req.method === 'POST' ? entry[req.method] : undefined;
    if (!handler) {
      const allowed = Object.keys(entry).join(', ');
      res.setHeader('allow', allowed);
      throw new HttpError(405, `${req.method ?? '?'} is not allowed on ${path}: use ${allowed}`);
    }
    await handler(req, res);
  }

  function fail(req: IncomingMessage, res: ServerResponse, error: unknown): void {
    if (error instanceof HttpError) {
      // A 413 is sent before the body has been read; closing the connection spares reading the rest of it.
      if (error.status === 413) res.setHeader('connection', 'close');
      send(res, error.status, error.field ? { error: error.message, field: error.field } : { error: error.message });
      return;
    }
    console.error(`[demo backend] ${req.method} ${req.url} failed:`, error);
    send(res, 500, { error: `the demo backend failed unexpectedly (${String(error)}); see the dev server's terminal` });
  }

  return {
    handle: (req, res, _next) => {
      route(req, res).catch((error: unknown) => fail(req, res, error));
    },
    close: () => {
      if (closed) return;
      closed = true;
      db.close();
    },
    reset,
  };
}

function closedError(): HttpError {
  return new HttpError(503, 'the demo backend has been closed (the server is shutting down or restarting): try again shortly');
}

function conflict(message: string): Outcome {
  return { status: 409, body: { error: message } };
}

interface OrderRow {
  id: number;
  note: string;
  order_number: string;
  customer_name: string;
  customer_email: string;
  customer_address: string;
  items: string;
  total_cents: number;
  created_at: string;
}
interface LabelRow {
  order_number: string;
  carrier: string;
  tracking: string;
  created_at: string;
}
interface EmailRow {
  id: number;
  to: string;
  subject: string;
  body: string;
  order_number: string;
  created_at: string;
}
interface StatsRow {
  applied_seq: number;
  order_number: string;
  total_cents: number;
  item_count: number;
  running_total_cents: number;
  created_at: string;
}

const toOrder = (r: OrderRow): Order => ({
  id: r.id,
  note: r.note,
  orderNumber: r.order_number,
  customer: { name: r.customer_name, email: r.customer_email, address: r.customer_address },
  items: JSON.parse(r.items) as OrderItem[],
  totalCents: r.total_cents,
  createdAt: r.created_at,
});
const toLabel = (r: LabelRow): Label => ({
  orderNumber: r.order_number,
  carrier: r.carrier,
  tracking: r.tracking,
  createdAt: r.created_at,
});
const toEmail = (r: EmailRow): Email => ({
  id: r.id,
  to: r.to,
  subject: r.subject,
  body: r.body,
  orderNumber: r.order_number,
  createdAt: r.created_at,
});
const toSale = (r: StatsRow): Sale => ({
  appliedSeq: r.applied_seq,
  orderNumber: r.order_number,
  totalCents: r.total_cents,
  itemCount: r.item_count,
  runningTotalCents: r.running_total_cents,
  createdAt: r.created_at,
});

export interface BackendPluginOptions {
  /** The SQLite file. Default: demo/data/shop.db. */
  file?: string;
  /** Start from an empty shop: delete the file before opening it. */
  reset?: boolean;
  /** See BackendOptions.slowMs. */
  slowMs?: number;
}

const DEFAULT_FILE = fileURLToPath(new URL('../data/shop.db', import.meta.url));

// Vite re-imports its config, and so calls backendPlugin again, each time it restarts the dev server after a
// config edit. "--reset" means "start this run from an empty shop", not "wipe it on every restart", so the files
// already reset are remembered on globalThis, which outlives the re-imported module.
const RESET_FILES = Symbol.for('halfsync.demo.backend.resetFiles');
function resetOnce(file: string): void {
  const registry = globalThis as typeof globalThis & { [RESET_FILES]?: Set<string> };
  const done = (registry[RESET_FILES] ??= new Set());
  if (done.has(file)) return;
  done.add(file);
  deleteDatabase(file);
}

/** Mounts the backend under /api on Vite's dev and preview servers, and closes it when that server closes. */
export function backendPlugin(options: BackendPluginOptions = {}): Plugin {
  const file = options.file ?? DEFAULT_FILE;
  const mount = (server: ViteDevServer | PreviewServer) => {
    if (options.reset) resetOnce(file);
    const backend = createBackend({ file, slowMs: options.slowMs });
    server.middlewares.use('/api', backend.handle);
    // Without an http server (middleware mode) nothing signals the end; the process exit then closes the file, and
    // WAL keeps every committed write either way.
    server.httpServer?.once('close', backend.close);
  };
  return { name: 'halfsync-demo-backend', configureServer: mount, configurePreviewServer: mount };
}
