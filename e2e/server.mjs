// The e2e test server, on 127.0.0.1: serves the built e2e app (e2e/.dist) and a small API that
// records every request, deduplicates by Idempotency-Key as a careful backend does, notices two
// requests of one key in flight at once, and misbehaves on command.
//   POST /api/ops        the effect: { n, ... } -> { seq, dup }
//   POST /api/echo       records method, headers and the exact body bytes
//   ANY  /api/auth       401 unless `Authorization: Bearer renewed`, then 200 (recorded)
//   ANY  /api/gone       404 (recorded): a resource already deleted
//   GET  /api/_log       what was received
//   POST /api/_control   { reset?, script?: [behaviour...], default?: behaviour, flaky?: {...} }
// A behaviour is { status?, delayMs?, retryAfter?, hang?, down?, lose? }: `down` resets the connection
// (a network error in the browser), `hang` never answers, `lose` applies the effect and then resets
// the connection instead of answering.
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL(process.env.E2E_DIST ?? './.dist/', import.meta.url));
const port = Number(process.env.PORT ?? 4310);
const types = { '.html': 'text/html', '.js': 'text/javascript', '.map': 'application/json', '.css': 'text/css', '.json': 'application/json' };

let state;
function reset() {
  state = {
    received: [], // every request to /api/ops and /api/echo, in arrival order
    effects: new Map(), // idempotency key -> stored response
    inflight: new Map(), // idempotency key -> count
    overlaps: [], // keys seen twice in flight at once
    seq: 0,
    script: [],
    // Behaviours for the next requests of one path, before `script` (a batch's request failing, say).
    scriptFor: {},
    default: { status: 200 },
    flaky: undefined,
    hung: new Set(),
  };
}
reset();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const readBody = (req) => new Promise((resolve, reject) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => resolve(Buffer.concat(chunks)));
  req.on('error', reject);
});
const json = (res, status, body, headers = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
};

function nextBehaviour(path) {
  if (state.scriptFor[path]?.length > 0) return state.scriptFor[path].shift();
  if (state.script.length > 0) return state.script.shift();
  const f = state.flaky;
  if (f) {
    const r = Math.random();
    if (r < f.hang) return { hang: true };
    if (r < f.hang + f.p500) return { status: 500 };
    if (r < f.hang + f.p500 + f.p429) return { status: 429, retryAfter: f.retryAfter ?? 1 };
  }
  return state.default;
}

async function api(req, res, path) {
  if (path === '/api/_log' && req.method === 'GET') {
    return json(res, 200, {
      received: state.received,
      applied: [...state.effects.entries()].map(([key, v]) => ({ key, seq: v.seq, n: v.n })),
      overlaps: state.overlaps,
    });
  }
  if (path === '/api/_control' && req.method === 'POST') {
    const body = JSON.parse((await readBody(req)).toString() || '{}');
    if (body.reset) reset();
    if (body.script) state.script = body.script;
    if (body.scriptFor) state.scriptFor = body.scriptFor;
    if (body.default) state.default = body.default;
    if ('flaky' in body) state.flaky = body.flaky ?? undefined;
    return json(res, 200, { ok: true });
  }
  if (path === '/api/auth' || path === '/api/gone') {
    await readBody(req);
    const status = path === '/api/gone' ? 404 : req.headers.authorization === 'Bearer renewed' ? 200 : 401;
    state.received.push({
      path, key: req.headers['idempotency-key'], at: Date.now(), attempt: 0, status, dup: false, clientGone: false,
      behaviour: String(status), method: req.method, headers: { authorization: req.headers.authorization },
    });
    return json(res, status, { status });
  }
  if ((path === '/api/ops' || path === '/api/echo') && req.method === 'POST') {
    const key = req.headers['idempotency-key'];
    const body = await readBody(req);
    const at = Date.now();
    const behaviour = nextBehaviour(path);
    const entry = {
      path, key, at, attempt: Number(req.headers['x-attempt'] ?? 0), status: 0, dup: false, clientGone: false,
      behaviour: behaviour.hang ? 'hang' : behaviour.down ? 'down' : String(behaviour.status ?? 200),
    };
    state.received.push(entry);
    if (key) {
      const n = (state.inflight.get(key) ?? 0) + 1;
      state.inflight.set(key, n);
      if (n > 1) state.overlaps.push({ key, at });
    }
    const done = () => { if (key) state.inflight.set(key, state.inflight.get(key) - 1); };
    res.on('close', () => { if (!res.writableEnded) entry.clientGone = true; });
    if (behaviour.down) { done(); req.socket.destroy(); return; }
    if (behaviour.hang) {
      // Never answers; the connection ends when the client gives up.
      res.on('close', done);
      return;
    }
    if (behaviour.delayMs) await sleep(behaviour.delayMs);
    const status = behaviour.status ?? 200;
    entry.status = status;
    if (status !== 200) {
      done();
      const headers = behaviour.retryAfter !== undefined ? { 'retry-after': String(behaviour.retryAfter) } : {};
      return json(res, status, { error: `scripted ${status}` }, headers);
    }
    if (path === '/api/echo') {
      entry.method = req.method;
      entry.headers = { 'content-type': req.headers['content-type'], authorization: req.headers.authorization, 'idempotency-key': key, referer: req.headers.referer };
      entry.bodyBase64 = body.toString('base64');
      entry.sha256 = createHash('sha256').update(body).digest('hex');
    } else {
      entry.body = JSON.parse(body.toString() || 'null');
    }
    // The effect is applied once per key; a repeat gets the stored response.
    let effect = key ? state.effects.get(key) : undefined;
    if (effect) { entry.dup = true; }
    else {
      effect = { seq: ++state.seq, n: entry.body?.n };
      if (key) state.effects.set(key, effect);
    }
    done();
    // `lose`: applied, then the connection is cut before the answer (an answer lost on its way back).
    if (behaviour.lose) { entry.clientGone = true; req.socket.destroy(); return; }
    return json(res, 200, { seq: effect.seq, dup: entry.dup });
  }
  return json(res, 404, { error: `no route ${req.method} ${path}` });
}

async function file(res, path) {
  const rel = normalize(path === '/' ? '/index.html' : path).replace(/^(\.\.[/\\])+/, '');
  try {
    const data = await readFile(join(root, rel));
    res.writeHead(200, { 'content-type': types[extname(rel)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
    res.end(data);
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found');
  }
}

const server = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const handle = path.startsWith('/api/') ? api(req, res, path) : file(res, path);
  handle.catch((error) => { if (!res.headersSent) json(res, 500, { error: String(error) }); });
});
server.listen(port, '127.0.0.1', () => console.log(`e2e server on http://127.0.0.1:${port}/`));
