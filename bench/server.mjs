// The bench server, on 127.0.0.1 (an ephemeral port unless given): the built bench app and
// POST /api/ok, which reads the body and answers 200 at once. Every response is cross-origin
// isolated (COOP + COEP), so performance.now() has its fine resolution in the page and worker.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';

const types = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json', '.css': 'text/css', '.json': 'application/json' };
const isolation = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' };

/**
 * Starts the server. Resolves with its origin, the per-label request counts of /api/ok and close().
 * @param {{ root: string, port?: number }} options
 */
export async function startServer({ root, port = 0 }) {
  /** @type {Map<string, number>} */
  const counts = new Map();
  const server = createServer({ noDelay: true, keepAlive: true }, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/api/ok') {
      req.resume();
      req.on('end', () => {
        const k = url.searchParams.get('k') ?? '';
        counts.set(k, (counts.get(k) ?? 0) + 1);
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': '11', ...isolation });
        res.end('{"ok":true}');
      });
      return;
    }
    const rel = normalize(url.pathname === '/' ? '/index.html' : url.pathname).replace(/^(\.\.[/\\])+/, '');
    readFile(join(root, rel)).then(
      (data) => {
        res.writeHead(200, { 'content-type': types[/** @type {keyof typeof types} */ (extname(rel))] ?? 'application/octet-stream', 'cache-control': 'no-cache', ...isolation });
        res.end(data);
      },
      () => {
        res.writeHead(404, { 'content-type': 'text/plain', ...isolation });
        res.end('not found');
      },
    );
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(undefined));
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the bench server has no port');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    counts,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve(undefined)); }),
  };
}
