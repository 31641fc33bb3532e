import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { concat, TOO_LARGE } from '../body.js';
import { HalfsyncServerError } from '../errors.js';
import { createIdempotencyLayer, type IdempotencyContext, type IdempotencyOptions } from '../idempotency.js';
import type { IdempotencyStore } from '../store.js';
import { nullBodyStatus } from '../stored.js';
import { contextFor } from './context.js';

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

/** A Fetch `Request` for a node:http request; its body is read from `req` only when the handler reads it. */
function toRequest(req: IncomingMessage): Request {
  const method = (req.method ?? 'GET').toUpperCase();
  const init: RequestInit & { duplex?: 'half' } = { method, headers: headersOf(req) };
  if (method !== 'GET' && method !== 'HEAD') {
    init.body = bodyStream(req);
    init.duplex = 'half';
  }
  return new Request(urlOf(req), init);
}

/**
 * Sends a Fetch `Response` through a node:http response. Headers already set on `res` are dropped (a handler's,
 * when the answer is another), but for `base`, which the response's own headers override. When the request
 * body was not read to its end (a 413, say), the connection is closed after the response rather than reading
 * the rest.
 */
async function writeResponse(res: ServerResponse, response: Response, req?: IncomingMessage, base?: OutgoingHttpHeaders): Promise<void> {
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  if (base) for (const [name, value] of Object.entries(base)) if (value !== undefined) res.setHeader(name, value);
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader('set-cookie', cookies);
  if (req && !req.complete) res.setHeader('connection', 'close');
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) {
        await reader.cancel();
        return;
      }
      if (!res.write(value)) await new Promise<void>((resolve) => {
        const go = () => { res.off('drain', go); res.off('close', go); resolve(); };
        res.on('drain', go);
        res.on('close', go);
      });
    }
  } catch (error) {
    res.destroy(error as Error);
    return;
  }
  res.end();
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

function urlOf(req: IncomingMessage): string {
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const host = req.headers.host ?? 'localhost';
  // Express and Connect take a mount's prefix off req.url; the client sent originalUrl.
  const original = (req as { originalUrl?: unknown }).originalUrl;
  return `${encrypted ? 'https' : 'http'}://${host}${typeof original === 'string' ? original : (req.url ?? '/')}`;
}

function headersOf(req: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.startsWith(':')) continue;
    try {
      headers.append(name, raw[i + 1]!);
    } catch {
      // A value Fetch cannot hold. For the key itself that is a key no client should send: keep it
      // detectably invalid rather than absent, so the layer answers 400 "invalid", not "missing".
      if (name.toLowerCase() === 'idempotency-key') headers.set('idempotency-key', '\u0001');
    }
  }
  return headers;
}

/** The body as a Web stream that reads from `req` on demand, and leaves the rest unread if cancelled. */
function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    pull: (controller) =>
      new Promise<void>((resolve, reject) => {
        const cleanup = () => {
          req.off('readable', attempt);
          req.off('end', attempt);
          req.off('error', fail);
        };
        const fail = (error: unknown) => {
          cleanup();
          reject(error);
        };
        function attempt(): boolean {
          const chunk = req.read() as Buffer | string | null;
          if (chunk !== null) {
            cleanup();
            controller.enqueue(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
            resolve();
            return true;
          }
          if (req.readableEnded || req.destroyed) {
            cleanup();
            controller.close();
            resolve();
            return true;
          }
          return false;
        }
        if (attempt()) return;
        req.on('readable', attempt);
        req.on('end', attempt);
        req.on('error', fail);
      }),
    cancel: () => {
      req.pause();
    },
  });
}

/**
 * Reads the body for the fingerprint without taking it away: from `req.body` if a parser set it, otherwise
 * from the stream, after which the bytes are put back (`unshift`) before the stream ends, so a parser or
 * handler after the middleware reads them as if nobody had.
 */
function peekBody(req: IncomingMessage, limit: number): Promise<Uint8Array<ArrayBuffer> | typeof TOO_LARGE> {
  const { rawBody, body: parsed, _body: parserRan } = req as { rawBody?: unknown; body?: unknown; _body?: unknown };
  // A parser read the stream (body-parser 1.x says so with _body; 2.x leaves the stream ended).
  const consumed = parserRan === true || req.readableEnded || (req.complete && !req.readable);
  if (consumed && rawBody instanceof Uint8Array) {
    return Promise.resolve(rawBody.byteLength > limit ? TOO_LARGE : new Uint8Array(rawBody));
  }
  if (consumed && parsed !== undefined) {
    const bytes = bytesOf(parsed);
    return Promise.resolve(bytes.byteLength > limit ? TOO_LARGE : bytes);
  }
  if (req.readableEnded) {
    return Promise.reject(
      new HalfsyncServerError(
        'INVALID_OPTIONS',
        'the request body was read before the idempotency middleware and left no req.body to fingerprint: mount the middleware before whatever reads the body, or after a body parser',
      ),
    );
  }
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.resolve(TOO_LARGE);
  // Nothing buffered and nothing to come: reading would only end the stream for whoever reads it next.
  if (req.complete && req.readableLength === 0) return Promise.resolve(new Uint8Array(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('readable', pump);
      req.off('error', fail);
    };
    const fail = (error: unknown) => {
      cleanup();
      reject(error);
    };
    function pump(): void {
      for (;;) {
        const chunk = req.read() as Buffer | string | null;
        if (chunk === null) break;
        const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        chunks.push(buffer);
        size += buffer.length;
        if (size > limit) {
          cleanup();
          resolve(TOO_LARGE);
          return;
        }
      }
      if (!req.complete) return;
      cleanup();
      // Synchronously, before the 'end' that the last read scheduled: Node then sees data and does not end.
      if (size > 0) req.unshift(Buffer.concat(chunks, size));
      resolve(concat(chunks, size));
    }
    req.on('readable', pump);
    req.on('error', fail);
    pump();
  });
}

function bytesOf(parsed: unknown): Uint8Array<ArrayBuffer> {
  if (parsed instanceof Uint8Array) return new Uint8Array(parsed);
  if (typeof parsed === 'string') return new TextEncoder().encode(parsed);
  // A parsed JSON or form body: the same bytes parse to the same value, and serialise back the same.
  return new TextEncoder().encode(JSON.stringify(parsed) ?? '');
}

interface Capture {
  /** The response the handlers wrote, once they end it. */
  readonly response: Promise<Response>;
  /** Puts the response's own methods back. */
  restore(): void;
  /** Whether the handlers ended their response. */
  ended(): boolean;
}

/** After the layer answered for handlers still running: their writes are dropped, and nothing they do throws. */
function discardWrites(res: ServerResponse): void {
  const target = res as unknown as Record<string, unknown>;
  const same = () => res;
  target.setHeader = same;
  target.removeHeader = () => {};
  target.writeHead = same;
  target.flushHeaders = () => {};
  target.write = () => true;
  target.end = (...args: unknown[]) => {
    const done = args.find((a): a is () => void => typeof a === 'function');
    if (done) queueMicrotask(done);
    return res;
  };
}

type Callback = (error?: Error | null) => void;
type Chunk = string | Uint8Array | null | undefined;

/**
 * Holds back what handlers write to `res` and hands it over as a `Response` when they end it, so the layer
 * can record it before the client sees it. Headers set with `setHeader` stay on `res` until then.
 */
function captureResponse(res: ServerResponse): Capture {
  const target = res as unknown as Record<string, unknown>;
  const names = ['writeHead', 'write', 'end', 'flushHeaders'] as const;
  const saved = names.map((name) => [name, Object.prototype.hasOwnProperty.call(res, name), target[name]] as const);
  const chunks: Uint8Array[] = [];
  let ended = false;
  let settle!: (response: Response) => void;
  let failed!: (error: unknown) => void;
  const response = new Promise<Response>((resolve, reject) => {
    settle = resolve;
    failed = reject;
  });
  const add = (chunk: Chunk, encoding?: BufferEncoding) => {
    if (chunk === null || chunk === undefined) return;
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, encoding ?? 'utf8') : new Uint8Array(chunk));
  };
  const restore = () => {
    for (const [name, own, value] of saved) {
      if (own) target[name] = value;
      else delete target[name];
    }
  };
  target.writeHead = (status: number, reason?: string | Record<string, unknown> | unknown[], headers?: Record<string, unknown> | unknown[]) => {
    res.statusCode = status;
    let fields = headers;
    if (typeof reason === 'string') res.statusMessage = reason;
    else fields = reason;
    if (Array.isArray(fields)) {
      if (Array.isArray(fields[0])) for (const [k, v] of fields as Array<[string, string]>) res.setHeader(k, v);
      else for (let i = 0; i + 1 < fields.length; i += 2) res.setHeader(String(fields[i]), String(fields[i + 1]));
    } else if (fields) {
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) res.setHeader(k, v as string | string[] | number);
    }
    return res;
  };
  target.flushHeaders = () => {};
  target.write = (chunk: Chunk, encoding?: BufferEncoding | Callback, callback?: Callback) => {
    add(chunk, typeof encoding === 'string' ? encoding : undefined);
    const done = typeof encoding === 'function' ? encoding : callback;
    if (done) queueMicrotask(() => done());
    return true;
  };
  target.end = (chunk?: Chunk | Callback, encoding?: BufferEncoding | Callback, callback?: Callback) => {
    let done = callback;
    let data: Chunk = undefined;
    let charset: BufferEncoding | undefined;
    if (typeof chunk === 'function') done = chunk;
    else {
      data = chunk;
      if (typeof encoding === 'function') done = encoding;
      else charset = encoding;
    }
    add(data, charset);
    ended = true;
    restore();
    try {
      const headers = new Headers();
      for (const [name, value] of Object.entries(res.getHeaders())) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) headers.append(name, String(v));
      }
      const status = res.statusCode;
      settle(new Response(nullBodyStatus(status) ? null : concat(chunks), { status, statusText: res.statusMessage || undefined, headers }));
    } catch (error) {
      failed(error);
    }
    if (done) res.once('finish', () => done());
    return res;
  };
  return { response, restore, ended: () => ended };
}
