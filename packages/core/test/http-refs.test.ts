// A parent's value placed in a child's URL (parentValue) stays one path segment or one query
// value, whatever the server returned: it cannot move the request to another path. Against a real
// local server whose first answer holds hostile values.
import 'fake-indexeddb/auto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpTask, deferFetch, parentValue } from '../src/http.js';
import { resolveRefs } from '../src/http-refs.js';
import { createTestClient, type TestClient } from '../src/testing/node.js';

/** What the parent's server returns: ids no one should trust to be well formed. */
const ANSWER = { up: '..', dot: '.', empty: '', encodedUp: '%2e%2e', slash: 'a/b', query: 'a b&c=d#e', path: 'orders/17', plain: 'srv-41' };
type Answer = typeof ANSWER;

let server: Server;
let origin = '';
let seen: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push(req.url ?? '/');
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(req.url === '/parent' ? JSON.stringify(ANSWER) : '{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const open: TestClient[] = [];
afterEach(() => { seen = []; while (open.length) open.pop()!.close(); });

describe('parentValue in a URL', () => {
  it('encodes the value as one path segment or query value, refuses one that would be an empty, . or .. segment, and inserts it as it is only when asked', async () => {
    const task = createHttpTask({ name: 'refs', allowOrigins: [origin] });
    const t = createTestClient({ tasks: [task] });
    open.push(t);
    const parent = await deferFetch(t.client, `${origin}/parent`, { method: 'POST', body: '{}' }, { task });
    const v = (path: `json.${keyof Answer}`, raw = false) => parentValue<Answer>(parent, path, raw ? { raw: true } : {});
    const child = (url: string) => deferFetch(t.client, url, { method: 'POST', body: 'x' }, { task, after: [parent] });
    const ok = {
      slash: await child(`${origin}/items/${v('json.slash')}/pay`),
      encodedUp: await child(`${origin}/items/${v('json.encodedUp')}/pay`),
      inSegment: await child(`${origin}/items/x${v('json.up')}/pay`),
      query: await child(`${origin}/items/${v('json.plain')}?q=${v('json.query')}&n=1`),
      raw: await child(`${origin}/${v('json.path', true)}/pay`),
    };
    const refused = {
      up: await child(`${origin}/items/${v('json.up')}/pay`),
      dot: await child(`${origin}/items/${v('json.dot')}/pay`),
      empty: await child(`${origin}/items/${v('json.empty')}/pay`),
      last: await child(`${origin}/admin/${v('json.up')}`),
    };
    await t.settle();
    for (const [name, h] of Object.entries(ok)) expect(t.client.get(h.id)?.status, name).toBe('succeeded');
    expect(seen.slice(1).sort()).toEqual([
      '/items/%252e%252e/pay',
      '/items/a%2Fb/pay',
      '/items/srv-41?q=a%20b%26c%3Dd%23e&n=1',
      '/items/x../pay',
      '/orders/17/pay',
    ]);
    for (const [name, h] of Object.entries(refused)) {
      const task_ = t.client.get(h.id);
      expect(task_, name).toMatchObject({ status: 'failed', lastError: { code: 'DEPENDENCY_RESULT_UNSAFE', kind: 'permanent' } });
      expect(task_?.lastError?.message, name).toMatch(/nothing was sent.*\{ raw: true \}/);
    }
  });

  it('refuses an option it does not know', () => {
    expect(() => parentValue('a-1', 'json.id', { encode: false } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it('reads the placeholders of requests stored before the raw form existed', () => {
    const stored = { url: 'http://x/items/%7B%7Bhalfsync:p-1:json.id%7D%7D/pay', method: 'POST', headers: [] };
    const parents = { 'p-1': { status: 200, statusText: '', headers: {}, body: '{"id":"a/b"}', bodyTruncated: false } };
    expect(resolveRefs(stored, parents).url).toBe('http://x/items/a%2Fb/pay');
  });
});
