import { HalfsyncServerError } from './errors.js';

/** Response headers as a plain record or as name/value pairs (pairs allow a repeated name). */
export type ReplyHeaders = Readonly<Record<string, string>> | ReadonlyArray<readonly [string, string]>;

/**
 * What transactional work answers. It is plain data, not a `Response`, because it is recorded inside the
 * database transaction that applies the effect, and SQLite's transactions are synchronous: a `Response`'s
 * body can only be read asynchronously.
 */
export interface Reply {
  /** 200–599. A 5xx rolls the transaction back, effect included, and nothing is recorded. */
  readonly status: number;
  readonly headers?: ReplyHeaders;
  /** Text (sent as UTF-8) or bytes. */
  readonly body?: string | Uint8Array | null;
}

/**
 * A JSON {@link Reply}: the value serialised, with `content-type: application/json`.
 *
 * @example
 * ```ts
 * import { jsonReply } from '@halfsync/server';
 * const created = jsonReply({ id: 7 }, { status: 201, headers: { location: '/orders/7' } });
 * ```
 */
export function jsonReply(value: unknown, init: { status?: number; headers?: ReplyHeaders } = {}): Reply {
  const headers = new Headers(init.headers as HeadersInit | undefined);
  if (!headers.has('content-type')) headers.set('content-type', 'application/json');
  return { status: init.status ?? 200, headers: [...headers], body: JSON.stringify(value) };
}

const encoder = new TextEncoder();

/** A reply's parts, checked: a status from 200 to 599, headers, and the body as bytes. */
export function replyParts(reply: Reply): { status: number; headers: Headers; body: Uint8Array<ArrayBuffer> } {
  if (typeof reply !== 'object' || reply === null) {
    throw new HalfsyncServerError('INVALID_REPLY', `transactional work must return a Reply ({ status, headers?, body? }, e.g. from jsonReply()), got ${String(reply)}`);
  }
  const { status, body } = reply;
  if (!Number.isInteger(status) || status < 200 || status > 599) {
    throw new HalfsyncServerError('INVALID_REPLY', `a Reply's status must be an integer from 200 to 599, got ${String(status)}`);
  }
  let bytes: Uint8Array<ArrayBuffer>;
  if (body === undefined || body === null) bytes = new Uint8Array(0);
  else if (typeof body === 'string') bytes = encoder.encode(body);
  else if (body instanceof Uint8Array) bytes = new Uint8Array(body);
  else throw new HalfsyncServerError('INVALID_REPLY', `a Reply's body must be a string or a Uint8Array, got ${typeof body}`);
  let headers: Headers;
  try {
    headers = new Headers(reply.headers as HeadersInit | undefined);
  } catch (error) {
    throw new HalfsyncServerError('INVALID_REPLY', `a Reply's headers are not valid HTTP headers (${(error as Error).message})`, { cause: error });
  }
  return { status, headers, body: bytes };
}
