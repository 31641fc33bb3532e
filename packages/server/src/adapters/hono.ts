import { readLimited, TOO_LARGE } from '../body.js';
import { createIdempotencyLayer, type IdempotencyContext, type IdempotencyOptions } from '../idempotency.js';
import type { IdempotencyStore } from '../store.js';
import { contextFor } from './context.js';

/**
 * The parts of a Hono `Context` the middleware uses, so that Hono is not a dependency: any Hono 4 context
 * fits, and so does anything else with a raw `Request` and a settable `Response`.
 */
export interface HonoContext {
  readonly req: { readonly raw: Request };
  res: Response | undefined;
}

/** A Hono middleware, typed structurally. */
export type HonoMiddleware = (c: HonoContext, next: () => Promise<void>) => Promise<Response | void>;

const contexts = new WeakMap<Request, { context: unknown; store: unknown }>();

/** Options of the Hono middleware: those of the layer, with `scope` given the Hono context. */
export interface HonoIdempotencyOptions<Tx = never, Out = never> extends Omit<IdempotencyOptions<Tx, Out>, 'scope'> {
  /**
   * The caller's account, from the principal your authentication verified (the same after a token refresh), never
   * the raw token. Keys are unique within it. Required, in effect, for requests with credentials: see
   * {@link IdempotencyOptions.scope}.
   */
  readonly scope?: (c: HonoContext) => string | Promise<string>;
}

/**
 * The layer as Hono middleware: it guards the handlers after it and sends their response once it is
 * recorded. The body is fingerprinted from a clone of the request, so handlers read it as usual; the URL is the
 * one the client sent, whatever `app.route()` mounts the handlers under, as in every adapter.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { idempotency } from '@halfsync/server/hono';
 * import { sqliteStore } from '@halfsync/server/sqlite';
 *
 * const app = new Hono();
 * app.use('/api/*', idempotency({ store: sqliteStore({ file: 'data/idempotency.db' }) }));
 * app.post('/api/orders', async (c) => c.json({ received: await c.req.json() }, 201));
 * ```
 */
export function idempotency<Tx = never, Out = never>(options: HonoIdempotencyOptions<Tx, Out>): HonoMiddleware {
  // The layer sees the raw Request; the scope is asked about the context it came in.
  const contextOf = new WeakMap<Request, HonoContext>();
  const scope = options.scope;
  const layer = createIdempotencyLayer({ ...options, scope: scope && ((request: Request) => scope(contextOf.get(request)!)) });
  return async (c, next) => {
    const raw = c.req.raw;
    contextOf.set(raw, c);
    const passed = new Response(null);
    // What middleware before this one set for this request (CORS, a request id): every answer keeps it.
    const before = new Headers(c.res?.headers);
    const response = await layer.handle(
      {
        request: raw,
        readBody: async (limit) => {
          const read = await readLimited(raw.clone().body, limit, raw.headers.get('content-length'));
          // Refused: the handlers will not read the original either, and cancelling both branches frees the source.
          if (read === TOO_LARGE) raw.body?.cancel().catch(() => {});
          return read;
        },
      },
      async (context, body) => {
        contexts.set(raw, { context, store: options.store });
        await next();
        if (body === undefined) return passed;
        return c.res ?? new Response(null, { status: 404 });
      },
    );
    if (response === passed) return;
    // Hono merges the headers of the response being replaced (the handler's, when the answer is another)
    // into the new one: start from what was set before the handler instead.
    const out = new Response(response.body, response);
    before.forEach((value, name) => { if (name !== 'set-cookie' && !out.headers.has(name)) out.headers.set(name, value); });
    c.res = undefined;
    c.res = out;
    return out;
  };
}

/**
 * The idempotency context of a request the {@link idempotency} middleware let through: its key, and
 * `transaction` for the transactional mode. Pass the store the middleware was given: the context's types come
 * from it, and a request guarded with another store, or not guarded at all, throws `CONTEXT_MISSING`.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import pg from 'pg';
 * import { jsonReply } from '@halfsync/server';
 * import { idempotency, idempotencyOf } from '@halfsync/server/hono';
 * import { postgresStore } from '@halfsync/server/postgres';
 *
 * const store = postgresStore({ pool: new pg.Pool({ connectionString: process.env.DATABASE_URL }) });
 * const app = new Hono();
 * app.use('/api/*', idempotency({ store }));
 * app.post('/api/orders', async (c) => {
 *   const order: unknown = await c.req.json();
 *   return idempotencyOf(c, store).transaction(async (client) => {
 *     await client.query('INSERT INTO orders (body) VALUES ($1)', [JSON.stringify(order)]);
 *     return jsonReply({ ok: true }, { status: 201 });
 *   });
 * });
 * ```
 */
export function idempotencyOf<Tx, Out>(c: { readonly req: { readonly raw: Request } }, store: IdempotencyStore<Tx, Out>): IdempotencyContext<Tx, Out> {
  return contextFor(contexts.get(c.req.raw), store);
}
