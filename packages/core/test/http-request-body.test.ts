// The body of a `Request` handed to deferFetch, read in every engine: Firefox has no
// `Request.body`, so a body read only through it is lost there. Node has it, so its absence is
// simulated by removing the getter, as Firefox's prototype lacks it; the bytes a replay sends are
// compared with what a direct fetch of the same Request sends, against a real local server.
import 'fake-indexeddb/auto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHttpTask, deferFetch, serializeRequest } from '../src/http.js';
import { createTestClient, type TestClient } from '../src/testing/node.js';

interface Seen { key: string | undefined; type: string | undefined; body: Buffer }
let server: Server;
let origin = '';
let seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ key: req.headers['idempotency-key'] as string | undefined, type: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const open: TestClient[] = [];
const restore: Array<() => void> = [];
afterEach(() => {
  seen = [];
  while (open.length) open.pop()!.close();
  while (restore.length) restore.pop()!();
  vi.restoreAllMocks();
});

/** Makes this realm's Request look like Firefox's: no `body` property at all. */
function withoutRequestBody(): void {
  const descriptor = Object.getOwnPropertyDescriptor(Request.prototype, 'body')!;
  delete (Request.prototype as { body?: unknown }).body;
  restore.push(() => Object.defineProperty(Request.prototype, 'body', descriptor));
}

const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);

/** Every kind of body an app hands fetch, each with the content type fetch gives it. */
const kinds: Record<string, () => RequestInit> = {
  text: () => ({ body: 'héllo wörld ✓' }),
  json: () => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1, b: 'ü' }) }),
  bytes: () => ({ body: bytes.slice().buffer }),
  blob: () => ({ body: new Blob([bytes, 'tail ✓'], { type: 'image/x-test' }) }),
  urlsearchparams: () => ({ body: new URLSearchParams({ q: 'a b&c=d', x: 'ü' }) }),
  formdata: () => {
    const fd = new FormData();
    fd.append('title', 'Grüße');
    fd.append('photo', new File([bytes], 'photo-ü.bin', { type: 'application/x-photo' }));
    return { body: fd };
  },
};

function setup() {
  const task = createHttpTask({ name: `body-${open.length}`, allowOrigins: [origin] });
  const t = createTestClient({ tasks: [task] });
  open.push(t);
  return { t, task };
}

describe('a Request handed to deferFetch, in an engine without Request.body (Firefox)', () => {
  it('stores and replays every body kind byte for byte, as a direct fetch of the same Request sends it', async () => {
    withoutRequestBody();
    expect('body' in new Request(origin, { method: 'POST', body: 'x' })).toBe(false);
    const { t, task } = setup();
    const ids: Record<string, string> = {};
    for (const [kind, make] of Object.entries(kinds)) {
      const init = make();
      const request = new Request(`${origin}/echo`, { method: 'POST', ...init, headers: { ...(init.headers as object), 'idempotency-key': `replay-${kind}` } });
      const direct = request.clone();
      direct.headers.set('idempotency-key', `direct-${kind}`);
      await fetch(new Request(direct, { headers: direct.headers }));
      ids[kind] = (await deferFetch(t.client, request, {}, { task })).id;
    }
    await t.settle();
    for (const kind of Object.keys(kinds)) {
      expect(t.client.get(ids[kind]!)?.status, kind).toBe('succeeded');
      const direct = seen.find((s) => s.key === `direct-${kind}`)!;
      const replay = seen.find((s) => s.key === `replay-${kind}`)!;
      expect(replay.body.byteLength, `${kind}: not empty`).toBeGreaterThan(0);
      expect(replay.body.equals(direct.body), `${kind}: the same bytes`).toBe(true);
      expect(replay.type, `${kind}: the same content type`).toBe(direct.type);
    }
  });

  it('stores no body for a request without one', async () => {
    withoutRequestBody();
    const stored = await serializeRequest(new Request(`${origin}/echo`, { method: 'POST' }));
    expect(stored.body).toBeUndefined();
  });

  it('keeps the limits: a body over maxBodyBytes, or not read within bodyTimeoutMs, is refused with BODY_NOT_REPLAYABLE', async () => {
    withoutRequestBody();
    const { t, task } = setup();
    const big = new Request(`${origin}/echo`, { method: 'POST', body: new Uint8Array(2_048) });
    await expect(deferFetch(t.client, big, {}, { task, maxBodyBytes: 1_024 })).rejects.toMatchObject({ code: 'BODY_NOT_REPLAYABLE', message: expect.stringMatching(/longer than 1024 bytes/) });
    vi.spyOn(Request.prototype, 'arrayBuffer').mockImplementation(() => new Promise<ArrayBuffer>(() => {}));
    const started = Date.now();
    const slow = new Request(`${origin}/echo`, { method: 'POST', body: 'x' });
    await expect(deferFetch(t.client, slow, {}, { task, bodyTimeoutMs: 200 })).rejects.toMatchObject({ code: 'BODY_NOT_REPLAYABLE', message: expect.stringMatching(/did not end within 200 ms/) });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(await t.client.count()).toBe(0);
  });

  it('reads a multipart body the engine cannot give back as bytes (WebKit, with a file) as FormData, and encodes it again', async () => {
    withoutRequestBody();
    const original = Request.prototype.arrayBuffer;
    vi.spyOn(Request.prototype, 'arrayBuffer').mockImplementation(function (this: Request) {
      return (this.headers.get('content-type') ?? '').startsWith('multipart/') ? Promise.reject(new TypeError('Unable to read form data blob')) : original.call(this);
    });
    const stored = await serializeRequest(new Request(`${origin}/upload`, { method: 'POST', ...kinds.formdata!() }));
    const type = stored.headers.find(([k]) => k === 'content-type')?.[1] ?? '';
    expect(type).toMatch(/^multipart\/form-data; boundary=----halfsyncFormBoundary/);
    vi.restoreAllMocks();
    // Read back by the engine's own parser: the same fields, file name, type and bytes.
    const parsed = await new Response((stored.body as { bytes: ArrayBuffer }).bytes, { headers: { 'content-type': type } }).formData();
    expect(parsed.getAll('title')).toEqual(['Grüße']);
    const photo = parsed.get('photo') as File;
    expect([photo.name, photo.type]).toEqual(['photo-ü.bin', 'application/x-photo']);
    expect(new Uint8Array(await photo.arrayBuffer())).toEqual(bytes);
  });
});

describe('the referrer of a request deferred from a page', () => {
  it('stores the page\'s URL (no fragment, no credentials) for the default referrer, where the runner would send its own', async () => {
    const page = 'http://127.0.0.1:9/shop/cart?step=2';
    vi.stubGlobal('location', new URL(`${page}#summary`));
    vi.stubGlobal('document', { URL: `${page}#summary` });
    restore.push(() => vi.unstubAllGlobals());
    const stored = await serializeRequest(`${origin}/echo`, { method: 'POST', body: 'x' });
    expect(stored.referrer).toBe(page);
    // A referrer of the app's own choosing, and none at all, are kept as they are.
    expect((await serializeRequest(`${origin}/echo`, { method: 'POST', body: 'x', referrer: '' })).referrer).toBe('');
    expect((await serializeRequest(new Request(`${origin}/echo`, { method: 'POST', body: 'x', referrer: `${origin}/elsewhere` }))).referrer).toBe(`${origin}/elsewhere`);
    vi.unstubAllGlobals();
    // In a worker (no document) the default stays the default.
    expect((await serializeRequest(`${origin}/echo`, { method: 'POST', body: 'x' })).referrer).toBeUndefined();
  });

  it('sends the stored referrer at replay', async () => {
    const { t, task } = setup();
    const sent: Array<string | null> = [];
    const real = globalThis.fetch;
    vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      if (input instanceof Request) sent.push(input.referrer);
      return real(input, init);
    });
    const h = t.client.defer(task, { url: `${origin}/echo`, method: 'POST', headers: [], body: { kind: 'text', text: 'x' }, referrer: `${origin}/shop/cart?step=2` });
    await t.settle();
    expect(t.client.get(h.id)?.status).toBe('succeeded');
    expect(sent).toEqual([`${origin}/shop/cart?step=2`]);
  });
});
