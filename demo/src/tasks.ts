// The shop's deferred work, shared by the page and the service worker. Checkout defers, in one tick,
// a chain: submit the order, then (for the order the server created) the shipping label and the
// confirmation email, and the sales statistics in a batch lane that skips failures. A note on an
// order is saved latest-wins. Each request carries its task's Idempotency-Key.
import { defineBatchTask, definePeriodicTask, defineTask, PermanentError, RetryableError, UnreachableError, type TaskContext } from '@halfsync/core';
import type { Order } from './shop';

/** What the backend answers for a created order. */
export interface CreatedOrder { id: number; orderNumber: string }

/** POSTs JSON and sorts the outcome into success, a retryable failure or a permanent one. */
async function postJson<T>(path: string, body: unknown, ctx: Pick<TaskContext, 'idempotencyKey' | 'signal' | 'owner'>): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: 'POST',
      // The customer whose action it was: the backend scopes idempotency keys per customer.
      headers: { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey, ...(ctx.owner ? { 'x-customer': ctx.owner } : {}) },
      body: JSON.stringify(body),
      signal: ctx.signal,
    });
  } catch (error) {
    // Offline or refused: not counted as an attempt; retried when the network returns.
    throw new UnreachableError(`the backend is unreachable (${(error as Error).message})`, { code: 'NETWORK_ERROR', cause: error });
  }
  const text = await res.text();
  // The backend's errors are { error } from the shop or problem+json ({ detail }) from its idempotency layer.
  const message = (() => { try { const j = JSON.parse(text) as { error?: string; detail?: string }; return j.detail ?? j.error ?? text; } catch { return text; } })();
  if (res.ok) return JSON.parse(text) as T;
  const after = Number(res.headers.get('retry-after'));
  const retryAfterMs = after > 0 ? after * 1000 : undefined;
  // 409 with Retry-After: the same key is still being worked on (a retry after a runner died).
  if (res.status >= 500 || res.status === 429 || res.status === 408 || (res.status === 409 && retryAfterMs !== undefined)) {
    throw Object.assign(new RetryableError(`${res.status}: ${message}`, { code: `HTTP_${res.status}`, retryAfterMs }), { status: res.status });
  }
  throw Object.assign(new PermanentError(`${res.status}: ${message}`, { code: `HTTP_${res.status}` }), { status: res.status, body: text });
}
const post = <T>(path: string, body: unknown, ctx: TaskContext) => postJson<T>(path, body, ctx);

// Transient failures (5xx) retry until the task is a week old; backoff capped at 30 s for the demo.
const retry = { baseDelayMs: 1_000, maxDelayMs: 30_000 };

/** The order the server created, as a dependent task reads it. */
function createdOrder(ctx: TaskContext): CreatedOrder {
  const order = ctx.resultOf(submitOrder);
  if (!order) throw new PermanentError('it runs after the order, whose result is missing', { code: 'NO_ORDER' });
  return order;
}

/** Submits the order to the backend; the server answers with its id. The highest priority: after a
 * day offline, the order goes before the statistics and notes queued meanwhile. */
export const submitOrder = defineTask('submit-order', {
  priority: 9,
  run: (order: Order, ctx) => post<CreatedOrder>('/api/orders', {
    orderNumber: order.orderNumber, customer: order.customer, items: order.items, totalCents: order.totalCents,
  }, ctx),
  retry,
});

/** Generates the shipping label, for the order the server created (runs after submitOrder). */
export const generateLabel = defineTask('generate-label', {
  run: (p: { address: string }, ctx) => post<{ tracking: string; carrier: string }>('/api/labels', { orderNumber: createdOrder(ctx).orderNumber, address: p.address }, ctx),
  retry,
});

/** Sends the confirmation email (through the backend's outbox), once the order exists. */
export const sendConfirmation = defineTask('send-confirmation', {
  run: (p: { to: string; subject: string; body: string }, ctx) => {
    const { orderNumber, id } = createdOrder(ctx);
    return post<{ id: number }>('/api/emails', { ...p, orderNumber, body: `${p.body}\n\n(Order ${orderNumber}, number ${id} at the shop.)` }, ctx);
  },
  retry,
});

/**
 * Records sales in the statistics, in batches (one request for up to 20 sales), in sale order,
 * in a lane that skips a sale that fails for good instead of holding every later one.
 */
export const recordSale = defineBatchTask('record-sale', {
  batch: { max: 20, waitMs: 1_500 },
  // Statistics can wait: the lowest priority, and at most 30 requests a minute (the statistics
  // endpoint's quota), across every tab and the worker.
  priority: 0,
  rateLimit: '30/m',
  orderKey: 'sales-statistics',
  laneFailure: 'skip',
  async run(sales: ReadonlyArray<{ orderNumber: string; totalCents: number; itemCount: number }>, ctx) {
    const { results } = await postJson<{ results: Array<{ appliedSeq: number; runningTotalCents: number }> }>('/api/stats/batch', { sales }, ctx);
    return results;
  },
  retry,
});

/** Saves the note of an order; deferred with a supersede key, so only the latest edit is sent. */
export const saveNote = defineTask('save-note', {
  run: (p: { orderNumber: string; note: string }, ctx) => post<{ orderNumber: string; note: string }>('/api/orders/note', p, ctx),
  retry,
});

/** The shop's prices as the backend has them, and when it said so. */
export interface PriceCheck { checkedAt: number; prices: Record<string, number> }

/**
 * Checks the shop's prices with the backend once a minute, at most, across every tab and the
 * worker; a night with the shop closed makes one check when it opens, not hundreds.
 */
export const checkPrices = definePeriodicTask('check-prices', {
  every: '1m',
  priority: 1,
  async run(_input: undefined, ctx): Promise<PriceCheck> {
    let res: Response;
    try {
      res = await fetch('/api/prices', { signal: ctx.signal });
    } catch (error) {
      throw new UnreachableError(`the backend is unreachable (${(error as Error).message})`, { code: 'NETWORK_ERROR', cause: error });
    }
    if (!res.ok) throw new RetryableError(`prices answered ${res.status}`, { code: `HTTP_${res.status}` });
    return (await res.json()) as PriceCheck;
  },
  retry,
});

export const tasks = [submitOrder, generateLabel, sendConfirmation, recordSale, saveNote, checkPrices];
