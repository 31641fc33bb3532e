// Hostile input to the http task: whatever the entry (deferFetch, or a payload handed to
// client.defer directly), credentials are never stored, and a request that cannot be replayed is
// refused at defer time with a code, rather than stored, hung on or retried forever.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHttpTask, deferFetch, serializeRequest, type StoredRequest } from '../src/http.js';
import { HalfsyncError } from '../src/errors.js';
import { createTestClient, type TestClient } from '../src/testing/node.js';

const origin = 'http://127.0.0.1:9';
const open: TestClient[] = [];
afterEach(() => { while (open.length) open.pop()!.close(); vi.restoreAllMocks(); });

function setup() {
  const task = createHttpTask({ name: `hostile-${open.length}`, allowOrigins: [origin] });
  const t = createTestClient({ tasks: [task] });
  open.push(t);
  return { t, task };
}

const request = (over: Partial<StoredRequest> = {}): StoredRequest => ({ url: `${origin}/api/orders`, method: 'POST', headers: [['content-type', 'text/plain']], body: { kind: 'text', text: 'x' }, ...over });

/** The coded error `fn` throws. */
function thrown(fn: () => unknown): HalfsyncError {
  try { fn(); } catch (error) { if (error instanceof HalfsyncError) return error; throw error; }
  throw new Error('expected a HalfsyncError, nothing was thrown');
}

describe('a stored request handed to client.defer directly', () => {
  it('refuses a URL with user:password@ and stores nothing', async () => {
    const { t, task } = setup();
    const e = thrown(() => t.client.defer(task, request({ url: 'http://admin:hunter2@127.0.0.1:9/api/orders' })));
    expect(e.code).toBe('INVALID_OPTIONS');
    expect(e.message).toMatch(/credentials/);
    expect(e.message).toMatch(/createHttpTask\(\{ headers \}\)/);
    expect(e.message).not.toMatch(/hunter2/);
    expect(t.client.getSnapshot()).toHaveLength(0);
    expect(await t.client.count()).toBe(0);
  });

  it('refuses a credential header under any spelling: trailing space, upper case, leading space', async () => {
    const { t, task } = setup();
    for (const name of ['Authorization ', 'AUTHORIZATION', ' cookie', 'Proxy-Authorization\t']) {
      const e = thrown(() => t.client.defer(task, request({ headers: [[name, 'Bearer secret']] })));
      expect(e.code, name).toBe('INVALID_OPTIONS');
      expect(e.message, name).toMatch(/must not be stored/);
    }
    expect(await t.client.count()).toBe(0);
  });

  it('refuses header names and values HTTP cannot send', () => {
    const { t, task } = setup();
    expect(thrown(() => t.client.defer(task, request({ headers: [['X Trace', '1']] }))).message).toMatch(/not a valid header name/);
    expect(thrown(() => t.client.defer(task, request({ headers: [['X-Trace ', '1']] }))).message).toMatch(/not a valid header name/);
    expect(thrown(() => t.client.defer(task, request({ headers: [['x-trace', 'a\r\nSet-Cookie: b']] }))).message).toMatch(/line break/);
    expect(thrown(() => t.client.defer(task, request({ headers: [['x-trace', '€']] }))).code).toBe('INVALID_OPTIONS');
    expect(thrown(() => t.client.defer(task, request({ headers: [['x-trace'] as unknown as [string, string]] }))).message).toMatch(/pairs of strings/);
  });

  it('refuses what fetch would refuse at replay: a body on a GET, a bad method, a body of the wrong shape', () => {
    const { t, task } = setup();
    expect(thrown(() => t.client.defer(task, request({ method: 'GET' }))).message).toMatch(/fetch would refuse/);
    expect(thrown(() => t.client.defer(task, request({ method: 'PO ST' }))).message).toMatch(/not an HTTP method/);
    expect(thrown(() => t.client.defer(task, request({ body: { kind: 'bytes', bytes: 'x' } as unknown as StoredRequest['body'] }))).message).toMatch(/body must be/);
  });

  it('refuses a keepalive request whose body is over the 64 KiB browsers allow', () => {
    const { t, task } = setup();
    const big = request({ keepalive: true, body: { kind: 'bytes', bytes: new ArrayBuffer(65_537) } });
    expect(thrown(() => t.client.defer(task, big)).message).toMatch(/keepalive/);
    expect(t.client.defer(task, request({ keepalive: true })).id).toEqual(expect.any(String));
  });

  it('accepts a well-formed request handed over directly', async () => {
    const { t, task } = setup();
    const h = t.client.defer(task, request({ headers: [['content-type', 'application/json'], ['x-trace', ' 42 ']] }));
    expect((await h.persisted).status).toBe('pending');
  });
});

describe('deferFetch with a Request whose body is a stream', () => {
  it('refuses a stream that never ends and never sends, within the time limit', async () => {
    const { t, task } = setup();
    const silent = new Request(`${origin}/api/upload`, { method: 'POST', body: new ReadableStream<Uint8Array>({}), duplex: 'half' } as RequestInit);
    // Without the limit this read never ends: the test's own timeout is the bound.
    const e = await deferFetch(t.client, silent, {}, { task, bodyTimeoutMs: 200 }).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(HalfsyncError);
    expect(e).toMatchObject({ code: 'BODY_NOT_REPLAYABLE', message: expect.stringMatching(/did not end within 200 ms/) });
    expect(await t.client.count()).toBe(0);
  });

  it('refuses a stream that never ends at the size limit, without reading it forever', async () => {
    const { t, task } = setup();
    const endless = new Request(`${origin}/api/upload`, {
      method: 'POST', duplex: 'half',
      body: new ReadableStream<Uint8Array>({ pull(c) { c.enqueue(new Uint8Array(64 * 1024)); } }),
    } as RequestInit);
    const e = await deferFetch(t.client, endless, {}, { task, maxBodyBytes: 1_048_576 }).catch((error: unknown) => error);
    expect(e).toMatchObject({ code: 'BODY_NOT_REPLAYABLE', message: expect.stringMatching(/longer than 1048576 bytes/) });
  });

  it('reads a Request whose body ends, as before', async () => {
    const { t, task } = setup();
    const h = await deferFetch(t.client, new Request(`${origin}/api/orders`, { method: 'POST', body: 'order 7' }), {}, { task });
    const stored = (await h.persisted).payload as StoredRequest;
    expect(new TextDecoder().decode((stored.body as { bytes: ArrayBuffer }).bytes)).toBe('order 7');
  });
});

describe('referrer and keepalive', () => {
  it('are stored and sent again at replay', async () => {
    const { t, task } = setup();
    const sent: RequestInit[] = [];
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
      sent.push(input instanceof Request ? { keepalive: input.keepalive, referrer: input.referrer } : init ?? {});
      return new Response('ok');
    });
    const stored = await serializeRequest(new Request(`${origin}/api/beacon`, { method: 'POST', body: 'b', keepalive: true, referrer: `${origin}/checkout` }), {}, task);
    expect(stored).toMatchObject({ keepalive: true, referrer: `${origin}/checkout` });
    const h = await deferFetch(t.client, `${origin}/api/beacon`, { method: 'POST', body: 'b', keepalive: true, referrer: `${origin}/checkout` }, { task });
    await t.settle();
    expect(t.client.get(h.id)?.status).toBe('succeeded');
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ keepalive: true, referrer: `${origin}/checkout` });
  });

  it('leave the default referrer out', async () => {
    const { task } = setup();
    const stored = await serializeRequest(`${origin}/api/x`, { method: 'POST', body: 'b' }, task);
    expect('referrer' in stored).toBe(false);
    expect('keepalive' in stored).toBe(false);
  });
});
