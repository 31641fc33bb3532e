// PostgreSQL, for real: a throwaway cluster started here (Debian's server binaries, 127.0.0.1, a free
// port), the store contract, the transactional mode on a pg client, four server processes sharing the
// database, processes killed between the effect and the record, and the database going down.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotent, jsonReply, type Reply } from '@halfsync/server';
import { postgresStore } from '@halfsync/server/postgres';
import { startCluster, type Cluster } from '../../../scripts/postgres.mjs';
import { storeContract } from './support/contract.js';
import { expectAppliedOnce, expectNoneLost, storm, tally } from './support/storm.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
let cluster: Cluster;
let admin: pg.Pool;
let tables = 0;

beforeAll(async () => {
  cluster = await startCluster();
  admin = new pg.Pool({ connectionString: cluster.url });
  admin.on('error', () => {});
}, 120_000);
afterAll(async () => {
  await admin?.end().catch(() => {});
  await cluster?.destroy();
});

const keyed = (key: string, body = '{}') => new Request('http://shop.test/orders', { method: 'POST', headers: { 'idempotency-key': key }, body });

storeContract('postgresStore', async () => postgresStore({ connectionString: cluster.url, table: `contract_${++tables}` }));

describe('postgresStore', () => {
  it('creates its table on first use; eight instances starting at once do not race', async () => {
    const stores = Array.from({ length: 8 }, () => postgresStore({ connectionString: cluster.url, table: 'started_together' }));
    await Promise.all(stores.map((s) => s.ready()));
    const { rows } = await admin.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'started_together'");
    expect(rows[0]).toEqual({ n: 1 });
    await Promise.all(stores.map((s) => s.close()));
  });

  it('takes a pool it does not own and leaves it open on close', async () => {
    const pool = new pg.Pool({ connectionString: cluster.url });
    const store = postgresStore({ pool, table: `pool_${++tables}` });
    expect(store.pool).toBe(pool);
    expect(await store.insert({ scope: '', key: 'k', owner: 'o', fingerprint: 'f', lockedUntil: 1, expiresAt: 2 })).toBe(true);
    await store.close();
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    await pool.end();
  });

  it('makes its table again if it goes away (a database recreated): one 503, then served', async () => {
    const table = `recreated_${++tables}`;
    const store = postgresStore({ connectionString: cluster.url, table });
    const handle = idempotent(async () => new Response('ok', { status: 201 }), { store });
    expect((await handle(keyed('a-4b1d9e07c2a3f856'))).status).toBe(201);
    await admin.query(`DROP TABLE ${table}`);
    expect((await handle(keyed('b-4b1d9e07c2a3f856'))).status).toBe(503);
    expect((await handle(keyed('b-4b1d9e07c2a3f856'))).status).toBe(201);
    expect((await handle(keyed('b-4b1d9e07c2a3f856'))).headers.get('idempotent-replayed')).toBe('true');
    await store.close();
  });

  it('refuses bad options with INVALID_OPTIONS', () => {
    expect(() => postgresStore({})).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
    expect(() => postgresStore({ connectionString: cluster.url, table: 'a-b' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it('a database that cannot be reached: ready() rejects, and the layer answers 503 with Retry-After without running the handler', async () => {
    const nobody = `postgres://postgres@127.0.0.1:${cluster.port + 1}/postgres`;
    const store = postgresStore({ connectionString: nobody });
    await expect(store.ready()).rejects.toThrow(/ECONNREFUSED|connect/);
    let runs = 0;
    const errors: string[] = [];
    const handle = idempotent(async () => { runs++; return new Response('ok', { status: 201 }); }, { store, onError: (e) => errors.push(e.code) });
    const res = await handle(keyed('k-4b1d9e07c2a3f856'));
    expect([res.status, res.headers.get('retry-after'), runs]).toEqual([503, '5', 0]);
    expect(((await res.json()) as { code: string }).code).toBe('STORE_UNAVAILABLE');
    expect(errors).toContain('STORE_UNAVAILABLE');
    await store.close();
  });
});

describe('the transactional mode on PostgreSQL', () => {
  async function shop() {
    const table = `effects_${++tables}`;
    await admin.query(`CREATE TABLE ${table} (id serial PRIMARY KEY, key text NOT NULL)`);
    const pool = new pg.Pool({ connectionString: cluster.url });
    const store = postgresStore({ pool, table: `keys_${tables}` });
    const count = async () => Number((await admin.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);
    const keyState = async (key: string) => (await admin.query(`SELECT state FROM keys_${tables} WHERE key = $1`, [key])).rows[0]?.state as string | undefined;
    return { table, pool, store, count, keyState, done: async () => { await store.close(); await pool.end(); } };
  }

  it('commits the effect and the key\'s record together on the handler\'s client; the retry is replayed', async () => {
    const s = await shop();
    let runs = 0;
    const handle = idempotent(async (_req, { transaction }) => {
      runs++;
      return transaction(async (client) => {
        const { rows } = await client.query(`INSERT INTO ${s.table} (key) VALUES ($1) RETURNING id`, ['k']);
        return jsonReply({ id: rows[0].id as number }, { status: 201 });
      });
    }, { store: s.store });
    expect(await (await handle(keyed('k-4b1d9e07c2a3f856'))).json()).toEqual({ id: 1 });
    expect(await s.keyState('k-4b1d9e07c2a3f856')).toBe('completed');
    const again = await handle(keyed('k-4b1d9e07c2a3f856'));
    expect([again.headers.get('idempotent-replayed'), await again.json(), runs, await s.count()]).toEqual(['true', { id: 1 }, 1, 1]);
    await s.done();
  });

  it('rolls back the effect with the record when the work throws after writing, or answers 5xx', async () => {
    const s = await shop();
    let attempt = 0;
    const handle = idempotent(async (_req, { transaction }) => {
      attempt++;
      return transaction(async (client): Promise<Reply> => {
        await client.query(`INSERT INTO ${s.table} (key) VALUES ($1)`, ['k']);
        if (attempt === 1) throw new Error('crashed between the effect and the record');
        if (attempt === 2) return jsonReply({ error: 'later' }, { status: 503 });
        return jsonReply({ ok: true }, { status: 201 });
      });
    }, { store: s.store });
    await expect(handle(keyed('k-4b1d9e07c2a3f856'))).rejects.toThrow('crashed between');
    expect([await s.count(), await s.keyState('k-4b1d9e07c2a3f856')]).toEqual([0, undefined]);
    expect((await handle(keyed('k-4b1d9e07c2a3f856'))).status).toBe(503);
    expect([await s.count(), await s.keyState('k-4b1d9e07c2a3f856')]).toEqual([0, undefined]);
    expect((await handle(keyed('k-4b1d9e07c2a3f856'))).status).toBe(201);
    expect(await s.count()).toBe(1);
    await s.done();
  });

  it('rolls back and answers 409 when another request took the key over before the commit', async () => {
    const s = await shop();
    const handle = idempotent(async (_req, { transaction }) => {
      await admin.query(`UPDATE keys_${tables} SET owner = 'another-request' WHERE key = 'k-4b1d9e07c2a3f856'`);
      return transaction(async (client) => {
        await client.query(`INSERT INTO ${s.table} (key) VALUES ($1)`, ['k']);
        return jsonReply({ ok: true }, { status: 201 });
      });
    }, { store: s.store });
    const res = await handle(keyed('k-4b1d9e07c2a3f856'));
    expect([res.status, ((await res.json()) as { code: string }).code, await s.count()]).toEqual([409, 'IDEMPOTENCY_KEY_IN_USE', 0]);
    await s.done();
  });
});

// ---- several OS processes ---------------------------------------------------------------------

const script = fileURLToPath(new URL('./support/server-process.mjs', import.meta.url));
const children = new Set<ChildProcess>();
afterAll(() => { for (const c of children) c.kill('SIGKILL'); });

interface Child { readonly base: string; readonly pid: number; readonly exited: Promise<number | string | null> }

async function spawnServer(env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, [script], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => { children.delete(child); resolve(signal ?? code); }));
  let err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server process did not start: ${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\S+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(m[1]!); }
    });
    void exited.then((how) => { clearTimeout(timer); reject(new Error(`server process exited (${how}) before it was ready: ${err}`)); });
  });
  return { base, pid: child.pid!, exited };
}

const send = async (base: string, path: string, key: string, crash?: string) => {
  try {
    const res = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key, ...(crash ? { 'x-crash': crash } : {}) }, body: JSON.stringify({ key }) });
    return { status: res.status, replayed: res.headers.get('idempotent-replayed') === 'true', body: await res.text() };
  } catch {
    return { status: 0, replayed: false, body: '' };
  }
};

describe('several server processes sharing one database', () => {
  beforeAll(() => {
    // The processes run the package as it is published: build it.
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    execFileSync(process.execPath, [tsc, '-p', 'packages/server/tsconfig.build.json'], { cwd: root, stdio: 'pipe' });
  }, 120_000);

  it('is published as ESM with an entry per driver: the main entry and the adapters load neither pg nor better-sqlite3', () => {
    // A resolve hook that reports each package Node resolves while the entries are imported from the built package.
    const hook = 'export async function resolve(specifier, context, next) {\n' +
      '  if (/^[@a-z]/.test(specifier) && !specifier.startsWith("node:")) process.stderr.write(`resolve ${specifier}\\n`);\n' +
      '  return next(specifier, context);\n}\n';
    const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
    const resolved = (entries: string[]) => {
      const code = `${entries.map((e) => `await import(${JSON.stringify(e)});`).join('\n')}`;
      const child = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8' });
      expect(child.stderr.split('\n').filter((l) => !l.startsWith('resolve '))).toEqual(['']);
      expect(child.status).toBe(0);
      return child.stderr.split('\n').filter((l) => l.startsWith('resolve ')).map((l) => l.slice('resolve '.length));
    };
    const light = resolved(['@halfsync/server', '@halfsync/server/node', '@halfsync/server/hono']);
    expect(light).toEqual(['@halfsync/server', '@halfsync/server/node', '@halfsync/server/hono']);
    expect(resolved(['@halfsync/server/sqlite'])).toEqual(['@halfsync/server/sqlite', 'better-sqlite3']);
    expect(resolved(['@halfsync/server/postgres'])).toEqual(['@halfsync/server/postgres', 'pg']);
  });

  it.each(['default', 'transactional'])(
    'PostgreSQL, four processes, %s mode: 200 keys each sent 20 times at once across them: each effect applied once, every other answer a replay or a 409, none lost',
    async (mode) => {
      await admin.query('CREATE TABLE IF NOT EXISTS effects (id bigserial PRIMARY KEY, key text NOT NULL, route text NOT NULL, pid int NOT NULL)');
      const servers = await Promise.all(Array.from({ length: 4 }, () => spawnServer({ HS_STORE: 'postgres', HS_DATABASE_URL: cluster.url })));
      expect(new Set(servers.map((s) => s.pid)).size).toBe(4);
      const keys = Array.from({ length: 200 }, (_, i) => `${mode}-${i}-${crypto.randomUUID()}`);
      const answers = await storm({ servers: servers.map((s) => s.base), path: `/${mode}`, keys, sends: 20, parallelKeys: 10 });
      const originals = expectAppliedOnce(answers);
      const { rows } = await admin.query<{ key: string; n: number; pids: number }>(
        'SELECT key, count(*)::int AS n, count(DISTINCT pid)::int AS pids FROM effects WHERE route = $1 AND key = ANY($2) GROUP BY key', [mode, keys]);
      expect(rows).toHaveLength(200);
      expect(rows.filter((r) => r.n !== 1)).toEqual([]);
      // The effects really were applied by all four processes.
      const { rows: byPid } = await admin.query('SELECT DISTINCT pid FROM effects WHERE route = $1 AND key = ANY($2)', [mode, keys]);
      expect(byPid.length).toBe(4);
      const t = tally(answers);
      expect([t.originals, t.replays + t.conflicts, t.other]).toEqual([200, 200 * 19, 0]);
      await expectNoneLost(servers.map((s) => s.base), `/${mode}`, originals);
      for (const s of servers) process.kill(s.pid, 'SIGTERM');
      await Promise.all(servers.map((s) => s.exited));
    },
    120_000,
  );
});

describe('four server processes behind an Express mount, keys scoped to the signed-in user', () => {
  // Each key is sent 10 times at once across the processes, by two users in turn, each send with a token of its own
  // (as after refreshes): each user's effect applies once, each user only ever sees their own response.
  it.each(['postgres', 'sqlite'] as const)('%s: two users sharing 100 keys, tokens refreshed between sends: one effect and one answer per user and key', async (kind) => {
    let env: Record<string, string>;
    let effects: (keys: string[]) => Promise<Array<{ key: string; route: string; n: number }>>;
    let cleanupDir: string | undefined;
    if (kind === 'postgres') {
      await admin.query('CREATE TABLE IF NOT EXISTS effects (id bigserial PRIMARY KEY, key text NOT NULL, route text NOT NULL, pid int NOT NULL)');
      env = { HS_STORE: 'postgres', HS_DATABASE_URL: cluster.url };
      effects = async (keys) => (await admin.query<{ key: string; route: string; n: number }>(
        "SELECT key, route, count(*)::int AS n FROM effects WHERE route LIKE 'api:%' AND key = ANY($1) GROUP BY key, route", [keys])).rows;
    } else {
      cleanupDir = mkdtempSync(join(tmpdir(), 'halfsync-server-mount-'));
      const file = join(cleanupDir, 'shop.db');
      env = { HS_STORE: 'sqlite', HS_SQLITE_FILE: file };
      const { default: Database } = await import('better-sqlite3');
      effects = async (keys) => {
        const db = new Database(file, { readonly: true });
        try {
          const rows = db.prepare("SELECT key, route, count(*) AS n FROM effects WHERE route LIKE 'api:%' GROUP BY key, route").all() as Array<{ key: string; route: string; n: number }>;
          const wanted = new Set(keys);
          return rows.filter((r) => wanted.has(r.key));
        } finally { db.close(); }
      };
    }
    // The first process creates the SQLite tables; the others open them.
    const first = await spawnServer(env);
    const servers = [first, ...(await Promise.all(Array.from({ length: 3 }, () => spawnServer(env))))];
    const bases = servers.map((s) => s.base);
    const keys = Array.from({ length: 100 }, (_, i) => `mount-${kind}-${i}-${crypto.randomUUID()}`);
    const users = ['ada', 'bob'] as const;
    const answers = await storm({ servers: bases, path: '/api/orders', keys, sends: 10, parallelKeys: 5, headers: (i) => ({ authorization: `Bearer ${users[i % 2]}.${i}` }) });
    for (const [u, user] of users.entries()) {
      const mine = new Map([...answers].map(([key, list]) => [key, list.filter((_, i) => i % 2 === u)]));
      const originals = expectAppliedOnce(mine);
      expect(originals.size).toBe(100);
      for (const body of originals.values()) expect(JSON.parse(body)).toMatchObject({ user });
      await expectNoneLost(bases, '/api/orders', originals, { authorization: `Bearer ${user}.999` });
    }
    const rows = await effects(keys);
    expect(rows).toHaveLength(200);
    expect(rows.filter((r) => r.n !== 1)).toEqual([]);
    // Under the mount, the path the client sent is what is fingerprinted: the same key on another endpoint is refused.
    const elsewhere = await fetch(`${bases[0]}/api/orders/transactional`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': keys[0]!, authorization: 'Bearer ada.1000' }, body: JSON.stringify({ key: keys[0] }),
    });
    expect(elsewhere.status).toBe(422);
    const unscoped = await fetch(`${bases[1]}/default`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': keys[0]!, authorization: 'Bearer ada.1001' }, body: JSON.stringify({ key: keys[0] }),
    });
    expect([unscoped.status, ((await unscoped.json()) as { code: string }).code]).toEqual([500, 'SCOPE_REQUIRED']);
    for (const s of servers) process.kill(s.pid, 'SIGTERM');
    await Promise.all(servers.map((s) => s.exited));
    if (cleanupDir) rmSync(cleanupDir, { recursive: true, force: true });
  }, 120_000);
});

// The lock a dead server's claim holds the key for; long enough that the survivor's first retry comes before it passes.
const CRASH_LOCK_MS = 2_500;

describe('a server killed between the effect and the record (SIGKILL, as a power cut)', () => {
  let sqliteDir: string;
  beforeAll(() => { sqliteDir = mkdtempSync(join(tmpdir(), 'halfsync-server-crash-')); });
  afterAll(() => { if (sqliteDir) rmSync(sqliteDir, { recursive: true, force: true }); });
  let n = 0;

  const stores = {
    postgres: async () => {
      await admin.query('CREATE TABLE IF NOT EXISTS effects (id bigserial PRIMARY KEY, key text NOT NULL, route text NOT NULL, pid int NOT NULL)');
      const env = { HS_STORE: 'postgres', HS_DATABASE_URL: cluster.url, HS_LOCK_TIMEOUT_MS: String(CRASH_LOCK_MS) };
      return { env, effects: async (key: string) => Number((await admin.query('SELECT count(*) AS n FROM effects WHERE key = $1', [key])).rows[0].n) };
    },
    sqlite: async () => {
      const file = join(sqliteDir, `shop-${++n}.db`);
      const env = { HS_STORE: 'sqlite', HS_SQLITE_FILE: file, HS_LOCK_TIMEOUT_MS: String(CRASH_LOCK_MS) };
      const { default: Database } = await import('better-sqlite3');
      return {
        env,
        effects: async (key: string) => {
          const db = new Database(file, { readonly: true });
          try { return (db.prepare('SELECT count(*) AS n FROM effects WHERE key = ?').get(key) as { n: number }).n; } finally { db.close(); }
        },
      };
    },
  };

  describe.each(['postgres', 'sqlite'] as const)('%s', (kind) => {
    it('default mode: the retry waits out the dead claim\'s lock, then runs the handler again, so the effect applies twice (the documented trade-off)', async () => {
      const { env, effects } = await stores[kind]();
      const [doomed, survivor] = await Promise.all([spawnServer(env), spawnServer(env)]);
      const key = `crash-default-${crypto.randomUUID()}`;
      expect((await send(doomed.base, '/default', key, 'after-effect')).status).toBe(0);
      expect(await doomed.exited).toBe('SIGKILL');
      expect(await effects(key)).toBe(1);
      expect((await send(survivor.base, '/default', key)).status).toBe(409);
      await new Promise((r) => setTimeout(r, CRASH_LOCK_MS + 100));
      const retry = await send(survivor.base, '/default', key);
      expect([retry.status, retry.replayed]).toEqual([201, false]);
      expect(await effects(key)).toBe(2);
      process.kill(survivor.pid, 'SIGTERM');
    }, 60_000);

    it('transactional mode, killed inside the transaction: the effect was rolled back, and the retry applies it once', async () => {
      const { env, effects } = await stores[kind]();
      const [doomed, survivor] = await Promise.all([spawnServer(env), spawnServer(env)]);
      const key = `crash-in-tx-${crypto.randomUUID()}`;
      expect((await send(doomed.base, '/transactional', key, 'in-transaction')).status).toBe(0);
      expect(await doomed.exited).toBe('SIGKILL');
      expect(await effects(key)).toBe(0);
      await new Promise((r) => setTimeout(r, CRASH_LOCK_MS + 100));
      const retry = await send(survivor.base, '/transactional', key);
      expect([retry.status, retry.replayed]).toEqual([201, false]);
      expect(await effects(key)).toBe(1);
      process.kill(survivor.pid, 'SIGTERM');
    }, 60_000);

    it('transactional mode, killed after the commit: the retry is answered at once from the record, and the effect applied once', async () => {
      const { env, effects } = await stores[kind]();
      const [doomed, survivor] = await Promise.all([spawnServer(env), spawnServer(env)]);
      const key = `crash-after-commit-${crypto.randomUUID()}`;
      expect((await send(doomed.base, '/transactional', key, 'after-commit')).status).toBe(0);
      expect(await doomed.exited).toBe('SIGKILL');
      const retry = await send(survivor.base, '/transactional', key);
      expect([retry.status, retry.replayed]).toEqual([201, true]);
      expect(JSON.parse(retry.body)).toMatchObject({ key, pid: doomed.pid });
      expect(await effects(key)).toBe(1);
      process.kill(survivor.pid, 'SIGTERM');
    }, 60_000);
  });
});

// Last: this takes the database down.
describe('the database going down and coming back', () => {
  it('mid-request: 503 RESPONSE_NOT_RECORDED, not a success; while down: 503 STORE_UNAVAILABLE, handler not run; back up: applied', async () => {
    const store = postgresStore({ connectionString: cluster.url, table: `down_${++tables}` });
    await store.ready();
    let runs = 0;
    let takeDown = true;
    const errors: string[] = [];
    const handle = idempotent(async () => {
      runs++;
      if (takeDown) await cluster.stop();
      return Response.json({ run: runs }, { status: 201 });
    }, { store, onError: (e) => errors.push(e.code) });

    const during = await handle(keyed('k1-4b1d9e07c2a3f856'));
    expect([during.status, during.headers.get('retry-after'), ((await during.json()) as { code: string }).code]).toEqual([503, '5', 'RESPONSE_NOT_RECORDED']);
    expect(errors).toContain('RESPONSE_NOT_RECORDED');

    const whileDown = await handle(keyed('k2-4b1d9e07c2a3f856'));
    expect([whileDown.status, whileDown.headers.get('retry-after'), ((await whileDown.json()) as { code: string }).code]).toEqual([503, '5', 'STORE_UNAVAILABLE']);
    expect(runs).toBe(1);

    takeDown = false;
    await cluster.start();
    const after = await handle(keyed('k2-4b1d9e07c2a3f856'));
    expect([after.status, await after.json()]).toEqual([201, { run: 2 }]);
    await store.close();
  }, 60_000);
});
