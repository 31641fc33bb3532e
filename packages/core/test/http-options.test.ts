// createHttpTask's options do what they say or are refused, and a request that fails the same way
// every time while the browser is online is told apart from being offline. Against a real local
// server that answers some requests and cuts others.
import 'fake-indexeddb/auto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createHttpTask, deferFetch, type HttpTaskOptions } from '../src/http.js';
import { createTestClient, type TestClient } from '../src/testing/node.js';

interface Seen { method: string; path: string }
let server: Server;
let origin = '';
let seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const path = req.url ?? '/';
    seen.push({ method: req.method ?? '', path });
    // `/cut` answers a HEAD but cuts every other request, as a server behind a broken CORS
    // preflight looks from a page: there, but this request never gets through.
    if (path === '/cut' && req.method !== 'HEAD') { req.socket.destroy(); return; }
    const status = path === '/gone' ? 404 : 200;
    req.resume();
    req.on('end', () => { res.writeHead(status, { 'content-type': 'text/plain' }); res.end(`answer ${status}`); });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const open: TestClient[] = [];
afterEach(() => { seen = []; while (open.length) open.pop()!.close(); vi.unstubAllGlobals(); });

function setup(options: Omit<HttpTaskOptions, 'allowOrigins'> = {}, allow = origin) {
  const task = createHttpTask({ name: `opts-${open.length}`, allowOrigins: [allow], ...options });
  const t = createTestClient({ tasks: [task] });
  open.push(t);
  return { t, task, defer: (url: string, init: RequestInit = {}) => deferFetch(t.client, url, init, { task }) };
}

/** Runs the due tasks `n` times, moving the clock to the next due time in between. */
async function tries(t: TestClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const s = await t.drain();
    if (s.nextDueAt !== undefined) t.clock.set(s.nextDueAt);
  }
}

describe('createHttpTask options', () => {
  it('honours laneFailure: with "skip" a request that failed for good does not hold the ones behind it', async () => {
    const skip = setup({ orderKey: 'lane', laneFailure: 'skip' });
    const a = await skip.defer(`${origin}/gone`, { method: 'DELETE' });
    const b = await skip.defer(`${origin}/ok`, { method: 'POST', body: 'after' });
    await skip.t.settle();
    expect([skip.t.client.get(a.id)?.status, skip.t.client.get(b.id)?.status]).toEqual(['failed', 'succeeded']);
    // The default holds the lane, as documented.
    const hold = setup({ orderKey: 'lane' });
    const c = await hold.defer(`${origin}/gone`, { method: 'DELETE' });
    const d = await hold.defer(`${origin}/ok`, { method: 'POST', body: 'after' });
    await hold.t.settle();
    expect([hold.t.client.get(c.id)?.status, hold.t.client.get(d.id)?.status]).toEqual(['failed', 'pending']);
  });

  it('refuses an option it does not have, naming it, rather than ignoring it', () => {
    const options = { name: 'typo', retries: 3 } as HttpTaskOptions;
    expect(() => createHttpTask(options)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringMatching(/no option "retries"/), details: { option: 'retries' } }));
    expect(() => createHttpTask({ name: 'lanes', laneFailure: 'sometimes' as 'skip' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringMatching(/laneFailure/) }));
  });
});

describe('a request that cannot be made while the browser is online', () => {
  it('says UNREACHABLE_WHILE_ONLINE, what to check, when the server answers a plain request: no attempt used, tried again', async () => {
    const { t, defer } = setup({ retry: { maxAttempts: 1 } });
    const h = await defer(`${origin}/cut`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await tries(t, 3);
    const task = t.client.get(h.id)!;
    expect(task).toMatchObject({ status: 'pending', attempts: 0, unreachable: 3, lastError: { code: 'UNREACHABLE_WHILE_ONLINE', kind: 'unreachable', permanent: false } });
    expect(task.lastError?.message).toMatch(/CORS preflight.*Idempotency-Key/);
    // One HEAD answers for the tries of a few seconds, not one per try.
    expect(seen.filter((s) => s.method === 'HEAD')).toEqual([{ method: 'HEAD', path: '/cut' }]);
  });

  it('stays NETWORK_ERROR when the server does not answer at all, when the browser is offline, and with probeUnreachable: false', async () => {
    const down = 'http://127.0.0.1:9';
    const a = setup({}, down);
    const h = await a.defer(`${down}/orders`, { method: 'POST', body: 'x' });
    await tries(a.t, 1);
    expect(a.t.client.get(h.id)?.lastError).toMatchObject({ code: 'NETWORK_ERROR', kind: 'unreachable' });

    const quiet = setup({ probeUnreachable: false });
    const q = await quiet.defer(`${origin}/cut`, { method: 'POST', body: 'x' });
    await tries(quiet.t, 1);
    expect(quiet.t.client.get(q.id)?.lastError).toMatchObject({ code: 'NETWORK_ERROR', kind: 'unreachable' });
    expect(seen.filter((s) => s.method === 'HEAD')).toEqual([]);

    const offline = setup();
    const o = await offline.defer(`${origin}/cut`, { method: 'POST', body: 'x' });
    vi.stubGlobal('navigator', { onLine: false });
    await offline.t.drain();
    vi.unstubAllGlobals();
    expect(seen.filter((s) => s.method === 'HEAD')).toEqual([]);
    expect(seen.filter((s) => s.method === 'POST')).toHaveLength(2);
    expect(offline.t.client.get(o.id)).toMatchObject({ attempts: 0, lastError: { code: 'NETWORK_ERROR', kind: 'unreachable' } });
  });
});
