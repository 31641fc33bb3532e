import type { IncomingMessage, ServerResponse } from 'node:http';
import { createIdempotencyLayer, type IdempotencyContext, type IdempotencyOptions } from '../idempotency.js';
import type { IdempotencyStore } from '../store.js';
import { contextFor } from './context.js';
import { captureResponse, discardWrites, headersOf, peekBody, toRequest, urlOf, writeResponse, type Capture } from './node-io.js';

/** A Connect/Express middleware; with node:http, call it with the rest of your handler as `next`. */
export type NodeMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * Options of the node middleware: those of the layer, with `scope` given the node request, so that it can read
 * what your authentication middleware set on it.
 */
export interface NodeIdempotencyOptions<Tx = never, Out = never> extends Omit<IdempotencyOptions<Tx, Out>, 'scope'> {
  /**
   * The caller's account, from the principal your authentication verified (the same after a token refresh), never
   * the raw token. Keys are unique within it. Required, in effect, for requests with credentials: see
   * {@link IdempotencyOptions.scope}.
   */
  readonly scope?: (req: IncomingMessage) => string | Promise<string>;
}

/** A node:http listener made from a Fetch handler; under Connect or Express, errors go to `next`. */
export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => Promise<void>;

/**
 * The layer as Express, Connect or node:http middleware. It guards what comes after it: the handlers'
 * response (whatever they write: `res.json`, `res.send`, `res.end`, a pipe) is held in memory until it is
 * recorded, then sent, so guard requests whose responses are records, not streams.
 *
 * The request is fingerprinted as the client sent it: the URL before any mount took its prefix off
 * (`req.originalUrl`), and the body's bytes, as every adapter does, so a retry gets the same answer whichever
 * instance and framework it reaches. Mount it before a body parser, and it reads the raw body and puts it back
 * for whatever reads it next. Behind one, it takes the raw bytes a parser kept (`express.json({ verify:
 * keepRawBody })`, or any `req.rawBody`); failing that, the parsed `req.body` serialised again as JSON, in which
 * two bodies that parse alike (numbers past 2^53, a duplicated member, other spacing) are one request. A
 * `req.body` is trusted only when a parser read the stream (Express 4's sets `req.body = {}` on every request).
 *
 * In a handler, {@link idempotencyOf} gives the request's key and the transactional mode.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { idempotency } from '@halfsync/server/node';
 * import { sqliteStore } from '@halfsync/server/sqlite';
 *
 * const app = express();
 * app.use(express.json());
 * app.use('/api', idempotency({ store: sqliteStore({ file: 'data/idempotency.db' }) }));
 * app.post('/api/orders', (req, res) => { res.status(201).json({ received: req.body }); });
 * ```
 */
export function idempotency<Tx = never, Out = never>(options: NodeIdempotencyOptions<Tx, Out>): NodeMiddleware {
  // The layer sees a Fetch Request; the scope is asked about the node request it was made from.
  const nodeOf = new WeakMap<Request, IncomingMessage>();
  const scope = options.scope;
  const layer = createIdempotencyLayer({ ...options, scope: scope && ((request: Request) => scope(nodeOf.get(request)!)) });
  return (req, res, next) => {
    let request: Request;
    try {
      request = new Request(urlOf(req), { method: req.method ?? 'GET', headers: headersOf(req) });
    } catch (error) {
      next(error);
      return;
    }
    nodeOf.set(request, req);
    const passed = new Response(null);
    // What middleware before this one set for this request (CORS, a request id): every answer keeps it.
    const before = res.getHeaders();
    let handedOn = false;
    let capture: Capture | undefined;
    layer
      .handle({ request, readBody: (limit) => peekBody(req, limit) }, async (context, body) => {
        contexts.set(req, { context, store: options.store });
        handedOn = true;
        if (body === undefined) {
          next();
          return passed;
        }
        capture = captureResponse(res);
        next();
        return capture.response;
      })
      .then(
        async (response) => {
          if (response === passed) return;
          // The layer answered before the handlers ended (maxHandlerMs): what they write later goes nowhere.
          const late = capture !== undefined && !capture.ended();
          if (late) capture!.restore();
          await writeResponse(res, response, req, before);
          if (late) discardWrites(res);
        },
        (error: unknown) => {
          capture?.restore();
          if (res.headersSent) return void res.destroy();
          if (!handedOn) return next(error);
          res.statusCode = 500;
          res.end();
        },
      );
  };
}

const contexts = new WeakMap<IncomingMessage, { context: unknown; store: unknown }>();

/**
 * The idempotency context of a request the {@link idempotency} middleware let through: its key, and
 * `transaction` for the transactional mode. Pass the store the middleware was given: the context's types come
 * from it, and a request guarded with another store, or not guarded at all, throws `CONTEXT_MISSING`.
 *
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import express from 'express';
 * import { jsonReply } from '@halfsync/server';
 * import { idempotency, idempotencyOf } from '@halfsync/server/node';
 * import { sqliteStore } from '@halfsync/server/sqlite';
 *
 * const db = new Database('data/shop.db');
 * const store = sqliteStore({ database: db });
 * const app = express();
 * app.use(express.json(), idempotency({ store }));
 * app.post('/orders', async (req, res) => {
 *   const answer = await idempotencyOf(req, store).transaction((tx) => {
 *     tx.prepare('INSERT INTO orders (body) VALUES (?)').run(JSON.stringify(req.body));
 *     return jsonReply({ ok: true }, { status: 201 });
 *   });
 *   res.status(answer.status).type('json').send(await answer.text());
 * });
 * ```
 */
export function idempotencyOf<Tx, Out>(req: IncomingMessage, store: IdempotencyStore<Tx, Out>): IdempotencyContext<Tx, Out> {
  return contextFor(contexts.get(req), store);
}

/**
 * Turns a Fetch-API handler, such as one made by `idempotent()`, into a node:http listener, which Express
 * and Connect also take. The request's body is streamed to the handler as it reads it; the response is
 * streamed back. A handler that throws gets `next(error)` under Express or Connect, or a bare 500.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { idempotent, memoryStore } from '@halfsync/server';
 * import { toNodeHandler } from '@halfsync/server/node';
 *
 * const handle = idempotent(async (request) => Response.json(await request.json(), { status: 201 }), { store: memoryStore() });
 * createServer(toNodeHandler(handle)).listen(3000, '127.0.0.1');
 * ```
 */
export function toNodeHandler(handler: (request: Request) => Response | Promise<Response>): NodeHandler {
  return async (req, res, next) => {
    let response: Response;
    try {
      response = await handler(toRequest(req));
    } catch (error) {
      if (next) return next(error);
      if (!res.headersSent) {
        res.statusCode = 500;
        res.setHeader('connection', 'close');
      }
      res.end();
      return;
    }
    await writeResponse(res, response, req);
  };
}

/**
 * Keeps the raw bytes a body parser read, for the fingerprint: pass it as the parser's `verify` option
 * (`express.json({ verify: keepRawBody })`, any body-parser type). It sets `req.rawBody`, which the middleware
 * prefers to the parsed `req.body`.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { idempotency, keepRawBody } from '@halfsync/server/node';
 * import { memoryStore } from '@halfsync/server';
 *
 * const app = express();
 * app.use(express.json({ verify: keepRawBody }), idempotency({ store: memoryStore() }));
 * ```
 */
export function keepRawBody(req: IncomingMessage, _res: ServerResponse, buffer: Buffer): void {
  (req as { rawBody?: Buffer }).rawBody = buffer;
}
