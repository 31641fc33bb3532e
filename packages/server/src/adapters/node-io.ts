import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { concat, TOO_LARGE } from '../body.js';
import { HalfsyncServerError } from '../errors.js';
import { nullBodyStatus } from '../stored.js';

// node:http's request and response, as the Fetch API's: a `Request` whose body is read only when
// the handler reads it, a `Response` written back, and a response captured as the handler writes it.

/** A Fetch `Request` for a node:http request; its body is read from `req` only when the handler reads it. */
export function toRequest(req: IncomingMessage): Request {
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
export async function writeResponse(res: ServerResponse, response: Response, req?: IncomingMessage, base?: OutgoingHttpHeaders): Promise<void> {
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


export function urlOf(req: IncomingMessage): string {
  const encrypted = (req.socket as { encrypted?: boolean } | undefined)?.encrypted === true;
  const host = req.headers.host ?? 'localhost';
  // Express and Connect take a mount's prefix off req.url; the client sent originalUrl.
  const original = (req as { originalUrl?: unknown }).originalUrl;
  return `${encrypted ? 'https' : 'http'}://${host}${typeof original === 'string' ? original : (req.url ?? '/')}`;
}

export function headersOf(req: IncomingMessage): Headers {
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
export function bodyStream(req: IncomingMessage): ReadableStream<Uint8Array> {
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
export function peekBody(req: IncomingMessage, limit: number): Promise<Uint8Array<ArrayBuffer> | typeof TOO_LARGE> {
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

export function bytesOf(parsed: unknown): Uint8Array<ArrayBuffer> {
  if (parsed instanceof Uint8Array) return new Uint8Array(parsed);
  if (typeof parsed === 'string') return new TextEncoder().encode(parsed);
  // A parsed JSON or form body: the same bytes parse to the same value, and serialise back the same.
  return new TextEncoder().encode(JSON.stringify(parsed) ?? '');
}

export interface Capture {
  /** The response the handlers wrote, once they end it. */
  readonly response: Promise<Response>;
  /** Puts the response's own methods back. */
  restore(): void;
  /** Whether the handlers ended their response. */
  ended(): boolean;
}

/** After the layer answered for handlers still running: their writes are dropped, and nothing they do throws. */
export function discardWrites(res: ServerResponse): void {
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

export type Callback = (error?: Error | null) => void;
export type Chunk = string | Uint8Array | null | undefined;

/**
 * Holds back what handlers write to `res` and hands it over as a `Response` when they end it, so the layer
 * can record it before the client sees it. Headers set with `setHeader` stay on `res` until then.
 */
export function captureResponse(res: ServerResponse): Capture {
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
