import { HalfsyncError } from './errors.js';
import type { StoredBody, StoredRequest } from './http-model.js';

// The http task's checks: what a stored request may hold and where it may go, reading a response
// within a cap, and the signals that bound an attempt.

export const NEVER_STORED = ['authorization', 'proxy-authorization', 'cookie'];
export const RETRYABLE_STATUS = new Set([408, 425, 429]);
/** An HTTP token (RFC 9110 5.6.2): what a header name and a method are made of. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What browsers allow a keepalive request's body to carry. */
export const KEEPALIVE_MAX_BYTES = 65_536;
export const bodyBytes = (body: StoredBody): number => (body.kind === 'text' ? new TextEncoder().encode(body.text).byteLength : body.bytes.byteLength);
export const show = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : typeof v);

export const OPTION_KEYS: ReadonlySet<string> = new Set([
  'name', 'allowOrigins', 'headers', 'classify', 'refreshCredentials', 'timeoutMs', 'maxResponseBytes',
  'retry', 'retention', 'orderKey', 'laneFailure', 'probeUnreachable', 'priority', 'rateLimit',
]);
/** How long a probe's answer stands for other requests to the same URL. */
export const PROBE_TTL_MS = 5_000;

export const selfOrigin = (): string | undefined => (typeof location === 'undefined' ? undefined : location.origin);

export function checkOrigin(task: string, url: string, allowed: ReadonlySet<string>): URL {
  let parsed: URL;
  try {
    parsed = new URL(url, typeof location === 'undefined' ? undefined : location.href);
  } catch (error) {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${task}": ${JSON.stringify(url)} is not a URL`, { cause: error });
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new HalfsyncError('ORIGIN_NOT_ALLOWED', `task "${task}": only http and https requests can be replayed, not ${parsed.protocol}`);
  }
  if (parsed.username !== '' || parsed.password !== '') {
    throw new HalfsyncError(
      'INVALID_OPTIONS',
      `task "${task}": the URL holds credentials (user:password@${parsed.host}), which halfsync never stores; remove them from the URL and supply an Authorization header at replay with createHttpTask({ headers })`,
    );
  }
  if (parsed.origin !== selfOrigin() && !allowed.has(parsed.origin)) {
    throw new HalfsyncError(
      'ORIGIN_NOT_ALLOWED',
      `task "${task}": ${parsed.origin} is not this page's origin; add it to createHttpTask({ allowOrigins: ['${parsed.origin}'] }) if the task may send there`,
      { details: { origin: parsed.origin } },
    );
  }
  return parsed;
}

export async function readCapped(res: Response, cap: number): Promise<{ body: string; truncated: boolean }> {
  if (!res.body) return { body: '', truncated: false };
  // The common case, a small body of known length, in one read.
  const length = Number(res.headers.get('content-length') ?? Number.NaN);
  if (length <= cap) return { body: await res.text(), truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > cap) { truncated = true; await reader.cancel().catch(() => {}); break; }
  }
  const all = new Uint8Array(Math.min(size, cap));
  let at = 0;
  for (const c of chunks) {
    const take = c.subarray(0, Math.min(c.byteLength, all.byteLength - at));
    all.set(take, at);
    at += take.byteLength;
    if (at >= all.byteLength) break;
  }
  return { body: new TextDecoder().decode(all), truncated };
}

export function timeoutSignal(ms: number): AbortSignal {
  const timeout = (AbortSignal as { timeout?: (ms: number) => AbortSignal }).timeout;
  if (timeout) return timeout(ms);
  const c = new AbortController();
  setTimeout(() => c.abort(new DOMException('the probe timed out', 'TimeoutError')), ms);
  return c.signal;
}

export function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (any) return any(signals);
  const c = new AbortController();
  for (const s of signals) {
    if (s.aborted) { c.abort(s.reason); break; }
    s.addEventListener('abort', () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

/**
 * Checks a payload of an http task, however it reached `defer` (deferFetch, or a payload built by
 * hand): the shape of a stored request, an allowed origin and no credentials in the URL, header
 * names checked as HTTP compares them (trimmed, any case) so no credential header is stored under
 * another spelling, valid names and values, and whatever `fetch` itself would refuse at replay.
 */
export function checkStoredRequest(task: string, request: StoredRequest, allowed: ReadonlySet<string>): void {
  const bad = (what: string): never => {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${task}": ${what}`);
  };
  if (typeof request !== 'object' || request === null || typeof request.url !== 'string' || typeof request.method !== 'string' || !Array.isArray(request.headers)) {
    bad('the payload must be a stored request; use deferFetch(client, url, init)');
  }
  checkOrigin(task, request.url, allowed);
  if (!TOKEN.test(request.method)) bad(`${show(request.method)} is not an HTTP method`);
  for (const pair of request.headers as readonly unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
      bad('headers must be [name, value] pairs of strings');
    }
    const [key, value] = pair as [string, string];
    const normal = key.trim().toLowerCase();
    if (NEVER_STORED.includes(normal)) {
      bad(`the ${JSON.stringify(key)} header (${normal}) must not be stored; supply it at replay with createHttpTask({ headers })`);
    }
    if (!TOKEN.test(key)) bad(`${JSON.stringify(key)} is not a valid header name (letters, digits and !#$%&'*+-.^_\`|~ only, no spaces)`);
    // eslint-disable-next-line no-control-regex
    if (/[\0\r\n]|[^\u0000-\u00ff]/.test(value)) bad(`the ${key} header's value holds a line break, a NUL or a character beyond Latin-1, which HTTP cannot send`);
  }
  const body = request.body;
  if (body !== undefined && !(body?.kind === 'text' && typeof body.text === 'string') && !(body?.kind === 'bytes' && body.bytes instanceof ArrayBuffer)) {
    bad('body must be { kind: "text", text } or { kind: "bytes", bytes: ArrayBuffer }');
  }
  if (request.referrer !== undefined) {
    if (typeof request.referrer !== 'string') bad(`referrer must be a string, got ${show(request.referrer)}`);
    else if (request.referrer !== '' && request.referrer !== 'about:client') {
      let ref: URL | undefined;
      try { ref = new URL(request.referrer); } catch { bad(`referrer ${JSON.stringify(request.referrer)} is not a URL`); }
      if (ref && (ref.username !== '' || ref.password !== '')) bad('the referrer holds credentials, which halfsync never stores');
    }
  }
  if (request.keepalive !== undefined && typeof request.keepalive !== 'boolean') bad(`keepalive must be a boolean, got ${show(request.keepalive)}`);
  if (request.keepalive && body && bodyBytes(body) > KEEPALIVE_MAX_BYTES) {
    bad(`a keepalive request's body may be at most ${KEEPALIVE_MAX_BYTES} bytes (browsers refuse more); send it without keepalive`);
  }
  // The rest as the engine itself judges it (a body on a GET, a mode that does not fit the method...):
  // a request fetch would refuse at replay must not be stored.
  if (typeof Request === 'function') {
    try {
      new Request(request.url, {
        method: request.method, headers: request.headers as Array<[string, string]>,
        body: body === undefined ? undefined : body.kind === 'text' ? body.text : body.bytes,
        credentials: request.credentials, mode: request.mode, cache: request.cache, redirect: request.redirect,
        referrerPolicy: request.referrerPolicy, integrity: request.integrity, keepalive: request.keepalive,
      });
    } catch (error) {
      bad(`fetch would refuse this request at replay (${(error as Error)?.message ?? String(error)})`);
    }
  }
}

