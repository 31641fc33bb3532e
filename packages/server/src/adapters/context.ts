// What both adapters share: the context a middleware recorded for a request, handed to the route.
import { HalfsyncServerError } from '../errors.js';
import type { IdempotencyContext } from '../idempotency.js';
import type { IdempotencyStore } from '../store.js';

/** The context recorded for a request, checked against the store the caller expects. */
export function contextFor<Tx, Out>(entry: { context: unknown; store: unknown } | undefined, store: IdempotencyStore<Tx, Out>): IdempotencyContext<Tx, Out> {
  if (!entry) {
    throw new HalfsyncServerError('CONTEXT_MISSING', 'this request did not pass through the idempotency middleware: mount idempotency({ store }) before this route');
  }
  if (entry.store !== store) {
    throw new HalfsyncServerError('CONTEXT_MISSING', 'this request was guarded by an idempotency middleware with another store: pass idempotencyOf() the store that middleware was given');
  }
  return entry.context as IdempotencyContext<Tx, Out>;
}
