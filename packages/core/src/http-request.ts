import type { DeferHandle, DeferOptions, HalfsyncClient } from './client.js';
import { HalfsyncError } from './errors.js';
import { uuid } from './util.js';
import { refsOf } from './http-refs.js';
import type { HttpResult, HttpTaskDefinition, StoredBody, StoredRequest } from './http-model.js';
import { httpTask } from './http-task.js';
import { NEVER_STORED } from './http-checks.js';

// Storing a request as `fetch` would send it, and deferring it: what a page (or a worker) calls.

/** Limits on reading the body of a `Request` passed as the input (its kind cannot be known: it may be a stream). */
export interface RequestBodyLimits {
  /** Refuse a `Request` body longer than this many bytes. Default 16 MiB. */
  readonly maxBodyBytes?: number;
  /** Refuse a `Request` body that has not ended within this many ms. Default 10 000. */
  readonly bodyTimeoutMs?: number;
}

/**
 * Stores a request exactly as `fetch(input, init)` would send it: the method, the headers (less
 * `Authorization`, `Proxy-Authorization` and `Cookie`), and the body, whatever its kind (a string,
 * JSON, an `ArrayBuffer`, a `Blob`, `FormData` with files, `URLSearchParams`), kept as text or as
 * the exact bytes with their `Content-Type` (so a multipart body keeps its boundary, field names,
 * file names and types), with its referrer (a page's own URL for the default one) and
 * `keepalive`. Bodies are never stored as `Blob` or `FormData`, which some browsers refuse in
 * IndexedDB. A `ReadableStream` in `init.body` is refused; the body of a `Request` input is read
 * in full in every engine (Firefox has no `Request.body`), and refused when it is over or does not
 * end within `limits` (a stream that never ends), or when the engine cannot read it back (WebKit,
 * a page's `FormData` holding a file: pass the `FormData` as `init.body` instead).
 */
export async function serializeRequest(input: RequestInfo | URL, init: RequestInit = {}, task: HttpTaskDefinition = httpTask, limits: RequestBodyLimits = {}): Promise<StoredRequest> {
  if (typeof ReadableStream !== 'undefined' && init.body instanceof ReadableStream) {
    throw new HalfsyncError('BODY_NOT_REPLAYABLE', `task "${task.name}": a ReadableStream body cannot be stored for replay; pass a string, ArrayBuffer, Blob or FormData`);
  }
  if (input instanceof Request && input.bodyUsed) {
    throw new HalfsyncError('BODY_NOT_REPLAYABLE', `task "${task.name}": the Request's body was already read; pass a fresh Request`);
  }
  let request: Request;
  try {
    request = new Request(input instanceof URL ? input.href : input, init);
  } catch (error) {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${task.name}": fetch would refuse this request (${(error as Error).message})`, { cause: error });
  }
  const headers: Array<[string, string]> = [];
  const stripped: string[] = [];
  request.headers.forEach((value, key) => {
    if (NEVER_STORED.includes(key)) stripped.push(key);
    else headers.push([key, value]);
  });
  /** Puts the content type of a body halfsync encoded itself in place of the one the request had. */
  const retype = (contentType: string) => {
    const type = headers.find(([key, value]) => key === 'content-type' && value.startsWith('multipart/form-data'));
    if (type) type[1] = contentType;
  };
  let stored: StoredBody | undefined;
  if (init.body != null) {
    const body = init.body;
    if (typeof body === 'string') stored = { kind: 'text', text: body };
    else {
      let bytes: ArrayBuffer;
      try {
        bytes = await request.arrayBuffer();
      } catch (error) {
        // WebKit cannot read back a FormData body that holds a File or Blob ("Unable to read
        // form data blob"), though it sends one and reads each File: encode it here instead.
        if (!(typeof FormData !== 'undefined' && body instanceof FormData)) {
          throw new HalfsyncError('BODY_NOT_REPLAYABLE', `task "${task.name}": this browser could not read the request body (${(error as Error)?.message ?? String(error)}); pass the body in init, as a string, ArrayBuffer, Blob or FormData`, { cause: error });
        }
        const multipart = await encodeMultipart(body);
        bytes = multipart.bytes;
        retype(multipart.contentType);
      }
      stored = { kind: 'bytes', bytes };
    }
  } else if (input instanceof Request && request.method !== 'GET' && request.method !== 'HEAD') {
    const read = await readRequestBody(request, task.name, limits);
    if (read?.contentType) retype(read.contentType);
    if (read) stored = { kind: 'bytes', bytes: read.bytes };
  }
  const out: { -readonly [K in keyof StoredRequest]: StoredRequest[K] } = {
    url: request.url, method: request.method, headers, credentials: request.credentials, mode: request.mode === 'navigate' ? 'same-origin' : request.mode,
    cache: request.cache, redirect: request.redirect, referrerPolicy: request.referrerPolicy,
  };
  // "about:client" is the default: the context that makes the request. That is this page now, but
  // would be the worker's script at replay, so a page's request keeps the page's URL.
  const referrer = request.referrer === 'about:client' ? pageReferrer() : request.referrer;
  if (typeof referrer === 'string') out.referrer = referrer;
  if (request.keepalive === true) out.keepalive = true;
  if (request.integrity) out.integrity = request.integrity;
  if (stored) out.body = stored;
  if (stripped.length > 0) out.strippedHeaders = stripped;
  return out;
}

/** The URL of the page running this code, as a referrer (no fragment, no credentials); undefined in a worker. */
function pageReferrer(): string | undefined {
  if ((globalThis as { document?: unknown }).document === undefined || typeof location === 'undefined') return undefined;
  try {
    const url = new URL(location.href);
    url.hash = '';
    url.username = '';
    url.password = '';
    return url.href;
  } catch {
    return undefined;
  }
}

/**
 * Reads the body of a `Request` passed as the input, in full: undefined when it has none. Where
 * the engine has `Request.body` (a stream: Chromium, WebKit) it is read chunk by chunk, refused as
 * soon as it is over `maxBodyBytes`; where it has not (Firefox), `arrayBuffer()` reads it (such a
 * body cannot be a stream there) and the limit is checked once read. Either way a body not ended
 * within `bodyTimeoutMs` is refused. A multipart body the engine cannot read back (WebKit, with a
 * file in it) is read as `FormData` and encoded again; its new content type is returned.
 */
async function readRequestBody(request: Request, task: string, limits: RequestBodyLimits): Promise<{ bytes: ArrayBuffer; contentType?: string } | undefined> {
  const maxBytes = limits.maxBodyBytes ?? 16 * 1_048_576;
  const timeoutMs = limits.bodyTimeoutMs ?? 10_000;
  const refuse = (why: string, cause?: unknown) => new HalfsyncError(
    'BODY_NOT_REPLAYABLE',
    `task "${task}": the Request's body ${why}; pass the body in init instead, as a string, ArrayBuffer, Blob or FormData`,
    cause === undefined ? {} : { cause },
  );
  const stream = (request as { body?: ReadableStream<Uint8Array> | null }).body;
  if (stream === null) return undefined;
  // A spare copy, read as FormData if the engine cannot give a multipart body's bytes back.
  const spare = /^multipart\/form-data/i.test(request.headers.get('content-type') ?? '') ? request.clone() : undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<'late'>((resolve) => { timer = setTimeout(() => resolve('late'), timeoutMs); });
  const notEnded = () => refuse(`did not end within ${timeoutMs} ms (bodyTimeoutMs); a stream that does not end cannot be stored for replay`);
  const tooLong = () => refuse(`is longer than ${maxBytes} bytes (maxBodyBytes)`);
  try {
    let read: ArrayBuffer | 'late' | 'long';
    try {
      read = stream === undefined ? await Promise.race([request.arrayBuffer(), late]) : await readStream(stream, late, maxBytes);
    } catch (error) {
      if (!spare) throw refuse(`could not be read (${(error as Error)?.message ?? String(error)})`, error);
      let form: FormData | 'late';
      try {
        form = await Promise.race([spare.formData(), late]);
      } catch (again) {
        // WebKit reads no FormData body that holds a file or blob back, by any means; it only sends it.
        throw new HalfsyncError(
          'BODY_NOT_REPLAYABLE',
          `task "${task}": the Request's body, multipart form data, cannot be read back in this browser (${(error as Error)?.message ?? String(error)}; as FormData: ${(again as Error)?.message ?? String(again)}); ` +
          'pass the FormData itself as init.body, deferFetch(client, url, { method, body: formData }), which halfsync encodes itself',
          { cause: again },
        );
      }
      if (form === 'late') throw notEnded();
      const multipart = await encodeMultipart(form);
      if (multipart.bytes.byteLength > maxBytes) throw tooLong();
      return multipart;
    }
    if (read === 'late') throw notEnded();
    if (read === 'long' || read.byteLength > maxBytes) throw tooLong();
    // An engine without Request.body cannot say "no body" but by an empty one: store none.
    if (stream === undefined && read.byteLength === 0) return undefined;
    return { bytes: read };
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a stream to its end; gives up, cancelling it, when `late` comes first or it is over `maxBytes`. */
async function readStream(stream: ReadableStream<Uint8Array>, late: Promise<'late'>, maxBytes: number): Promise<ArrayBuffer | 'late' | 'long'> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let stop: 'late' | 'long' | undefined;
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), late]);
      if (next === 'late') { stop = 'late'; break; }
      if (next.done) break;
      size += next.value.byteLength;
      if (size > maxBytes) { stop = 'long'; break; }
      chunks.push(next.value);
    }
  } catch (error) {
    reader.cancel().catch(() => {});
    throw error;
  }
  if (stop) { reader.cancel().catch(() => {}); return stop; }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return out.buffer;
}

/**
 * Encodes `form` as multipart/form-data by the HTML standard's algorithm, as browsers do for
 * `fetch`: line breaks in names and text values become CRLF; `"`, CR and LF in names and file
 * names are percent-escaped; a file without a type is sent as application/octet-stream.
 */
async function encodeMultipart(form: FormData): Promise<{ bytes: ArrayBuffer; contentType: string }> {
  const boundary = `----halfsyncFormBoundary${uuid().replace(/-/g, '')}`;
  const encoder = new TextEncoder();
  const crlf = (s: string) => s.replace(/\r\n|\r|\n/g, '\r\n');
  const quoted = (s: string) => s.replace(/\n/g, '%0A').replace(/\r/g, '%0D').replace(/"/g, '%22');
  const chunks: Uint8Array[] = [];
  // Iterated through a cast: the worker build's WebWorker lib has no iterable FormData type.
  for (const [name, value] of form as unknown as Iterable<[string, FormDataEntryValue]>) {
    const disposition = `--${boundary}\r\nContent-Disposition: form-data; name="${quoted(crlf(name))}"`;
    if (typeof value === 'string') {
      chunks.push(encoder.encode(`${disposition}\r\n\r\n${crlf(value)}\r\n`));
    } else {
      chunks.push(
        encoder.encode(`${disposition}; filename="${quoted(value.name)}"\r\nContent-Type: ${value.type || 'application/octet-stream'}\r\n\r\n`),
        new Uint8Array(await value.arrayBuffer()),
        encoder.encode('\r\n'),
      );
    }
  }
  chunks.push(encoder.encode(`--${boundary}--\r\n`));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.byteLength; }
  return { bytes: out.buffer, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** Options of {@link deferFetch}. */
export interface DeferFetchOptions extends DeferOptions, RequestBodyLimits {
  /** The http task to use. Default {@link httpTask}. */
  readonly task?: HttpTaskDefinition;
}

/**
 * Defers a `fetch`: stores the request durably and lets the runner send it, retrying until the
 * server takes it. Resolves (once the body is read, before it is persisted) with the task's handle.
 * An `Idempotency-Key` header in `init` becomes the task's idempotency key.
 *
 * @example
 * ```ts
 * const handle = await deferFetch(client, '/api/orders', {
 *   method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(order),
 * });
 * await handle.persisted;
 * ```
 */
export async function deferFetch(
  client: HalfsyncClient,
  input: RequestInfo | URL,
  init: RequestInit = {},
  options: DeferFetchOptions = {},
): Promise<DeferHandle<HttpResult>> {
  const { task = httpTask, maxBodyBytes, bodyTimeoutMs, ...deferOptions } = options;
  const stored = await serializeRequest(input, init, task, { maxBodyBytes, bodyTimeoutMs });
  const after = new Set((deferOptions.after ?? []).map((h) => (typeof h === 'string' ? h : h.id)));
  for (const id of refsOf(stored)) {
    if (!after.has(id)) throw new HalfsyncError('INVALID_OPTIONS', `task "${task.name}": the request refers to task ${id}'s result (parentValue) but does not run after it; add it to after`, { details: { id } });
  }
  return client.defer(task, stored, withRequestKey(stored, deferOptions));
}

/** The defer options of a stored request: an `Idempotency-Key` it carries becomes the task's key. */
export function withRequestKey(stored: StoredRequest, options: DeferOptions = {}): DeferOptions {
  const key = stored.headers.find(([k]) => k === 'idempotency-key')?.[1];
  return key && options.idempotencyKey === undefined ? { ...options, idempotencyKey: key } : options;
}

