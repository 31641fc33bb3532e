// The shop's deferred work: four tasks, each its own halfsync task, shared by the page and the
// service worker. Each POSTs to the backend with the task's Idempotency-Key.
import { defineTask, PermanentError, RetryableError, UnreachableError, type TaskContext } from '@halfsync/core';
import type { Order } from './shop';

/** POSTs JSON and sorts the outcome into success, a retryable failure or a permanent one. */
async function postJson<T>(path: string, body: unknown, ctx: TaskContext): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': ctx.idempotencyKey },
      body: JSON.stringify(body),
      signal: ctx.signal,
    });
  } catch (error) {
    // Offline or refused: not counted as an attempt; retried when the network returns.
    throw new UnreachableError(`the backend is unreachable (${(error as Error).message})`, { code: 'NETWORK_ERROR', cause: error });
  }
  const text = await res.text();
  const message = (() => { try { return (JSON.parse(text) as { error?: string }).error ?? text; } catch { return text; } })();
  if (res.ok) return JSON.parse(text) as T;
  if (res.status >= 500 || res.status === 429 || res.status === 408) {
    const after = Number(res.headers.get('retry-after'));
    throw Object.assign(new RetryableError(`${res.status}: ${message}`, { code: `HTTP_${res.status}`, retryAfterMs: after > 0 ? after * 1000 : undefined }), { status: res.status });
  }
  throw Object.assign(new PermanentError(`${res.status}: ${message}`, { code: `HTTP_${res.status}` }), { status: res.status, body: text });
}

// Transient failures (5xx) retry until the task is a week old; backoff capped at 30 s for the demo.
const retry = { baseDelayMs: 1_000, maxDelayMs: 30_000 };

/** Submits the order to the backend. */
export const submitOrder = defineTask('submit-order', {
  run: (order: Order, ctx) => postJson<{ orderNumber: string }>('/api/orders', {
    orderNumber: order.orderNumber, customer: order.customer, items: order.items, totalCents: order.totalCents,
  }, ctx),
  retry,
});

/** Generates the shipping label. */
export const generateLabel = defineTask('generate-label', {
  run: (p: { orderNumber: string; address: string }, ctx) => postJson<{ tracking: string; carrier: string }>('/api/labels', p, ctx),
  retry,
});

/** Sends the confirmation email (through the backend's outbox). */
export const sendConfirmation = defineTask('send-confirmation', {
  run: (p: { orderNumber: string; to: string; subject: string; body: string }, ctx) => postJson<{ id: number }>('/api/emails', p, ctx),
  retry,
});

/** Records the sale in the statistics; one lane, so statistics apply in the order sales happened. */
export const recordSale = defineTask('record-sale', {
  run: (p: { orderNumber: string; totalCents: number; itemCount: number }, ctx) => postJson<{ appliedSeq: number; runningTotalCents: number }>('/api/stats', p, ctx),
  orderKey: 'sales-statistics',
  retry,
});

export const tasks = [submitOrder, generateLabel, sendConfirmation, recordSale];
