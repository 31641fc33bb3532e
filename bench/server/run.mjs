#!/usr/bin/env node
// npm run bench:server: what @halfsync/server's Idempotency-Key layer costs per request over the handler it
// guards, with the memory, SQLite and PostgreSQL stores, measured in one run and printed as ratios.
//
// Every request has a new key, so each takes the full path: fingerprint, claim, handler, record. Two kinds of
// handler: one that does no I/O (the layer's whole cost shows), and one that writes a row to the database, as a
// real effect does (with the layer, in the default mode the record is a write of its own; in the transactional
// mode it shares the effect's transaction). Requests go straight to the Fetch handler (no HTTP), one at a time
// and 16 at a time. The databases are durable: SQLite in WAL with synchronous = FULL, PostgreSQL with its
// default fsync and synchronous_commit, a throwaway cluster on 127.0.0.1 deleted afterwards.
//
// Method: the variants of a comparison run interleaved, their order rotated each repetition, after a warm-up;
// each figure is the median and min–max over the repetitions, each ratio is taken per repetition.
//   --quick   fewer requests and repetitions (a smoke run)
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { idempotent, jsonReply, memoryStore } from '@halfsync/server';
import { postgresStore } from '@halfsync/server/postgres';
import { sqliteStore } from '@halfsync/server/sqlite';
import { startCluster } from '../../scripts/postgres.mjs';

const quick = process.argv.includes('--quick');
const REPS = quick ? 2 : 5;
const COUNT = quick ? 150 : 1_000;
const dir = mkdtempSync(join(tmpdir(), 'halfsync-bench-server-'));
const body = JSON.stringify({ orderNumber: 'HS-ABC123', items: [{ sku: 'MUG-1', qty: 2, priceCents: 1250 }], totalCents: 2500 });
let keys = 0;
const request = (key = `bench-key-${String(++keys).padStart(8, "0")}`) =>
  new Request('http://bench.local/orders', { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body });

/** µs per request over `count` requests with `concurrency` in flight. */
async function timeRequests(handle, count, concurrency) {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next++ < count) {
      const res = await handle(request());
      if (res.status !== 201) throw new Error(`expected 201, got ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }
  }));
  return Number(process.hrtime.bigint() - start) / 1000 / count;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });

/** Runs the variants interleaved; the first is the baseline. Returns per-variant time and ratio spreads. */
async function compare(variants, concurrency) {
  const times = variants.map(() => []);
  for (const v of variants) await timeRequests(v.handle, Math.ceil(COUNT / 5), concurrency); // warm-up
  for (let rep = 0; rep < REPS; rep++) {
    for (let j = 0; j < variants.length; j++) {
      const i = (j + rep) % variants.length;
      times[i].push(await timeRequests(variants[i].handle, COUNT, concurrency));
    }
  }
  return variants.map((v, i) => ({ name: v.name, time: spread(times[i]), ratio: i === 0 ? null : spread(times[i].map((t, rep) => t / times[0][rep])) }));
}

/** µs per replay of one recorded key. */
async function timeReplays(handle, count) {
  const key = `replayed-key-${String(++keys).padStart(8, "0")}`;
  await (await handle(request(key))).arrayBuffer();
  const reps = [];
  for (let rep = 0; rep < REPS; rep++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i++) {
      const res = await handle(request(key));
      if (res.headers.get('idempotent-replayed') !== 'true') throw new Error('expected a replay');
      await res.arrayBuffer();
    }
    reps.push(Number(process.hrtime.bigint() - start) / 1000 / count);
  }
  return spread(reps);
}

const fmtTime = (us) => (us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(0)} µs`);
const fmtSpread = (s, f) => `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
const fmtRatio = (x) => `${x.toFixed(2)}×`;

async function main() {
  const cluster = await startCluster({ durable: true });
  const sections = [];
  try {
    const pool = new pg.Pool({ connectionString: cluster.url, max: 16 });
    const pgVersion = (await pool.query('SHOW server_version')).rows[0].server_version;

    // ---- a handler that does no I/O: the layer's own cost, per store ----
    const echo = async (req) => Response.json({ received: await req.json() }, { status: 201 });
    const keysDb = sqliteStore({ file: join(dir, 'keys.db') });
    const pgKeys = postgresStore({ pool, table: 'keys_echo' });
    await pgKeys.ready();
    const noIo = [
      { name: 'bare handler (parses the JSON body, answers 201 JSON)', handle: echo },
      { name: '+ layer, memoryStore', handle: idempotent(echo, { store: memoryStore() }) },
      { name: '+ layer, sqliteStore (file, WAL, synchronous = FULL)', handle: idempotent(echo, { store: keysDb }) },
      { name: '+ layer, postgresStore (127.0.0.1, durable)', handle: idempotent(echo, { store: pgKeys }) },
    ];

    // ---- a handler that writes one row, as a real effect does ----
    const shop = new Database(join(dir, 'shop.db'));
    shop.pragma('journal_mode = WAL');
    shop.pragma('synchronous = FULL');
    shop.exec('CREATE TABLE orders (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
    const insertOrder = shop.prepare('INSERT INTO orders (body) VALUES (?)');
    const shopKeys = sqliteStore({ database: shop });
    const sqliteWrite = async (req) => Response.json({ id: Number(insertOrder.run(await req.text()).lastInsertRowid) }, { status: 201 });
    const sqliteRows = [
      { name: 'SQLite: handler writes a row', handle: sqliteWrite },
      { name: '+ layer, default mode (record after the handler)', handle: idempotent(sqliteWrite, { store: shopKeys }) },
      {
        name: '+ layer, transactional mode (row and record in one transaction)',
        handle: idempotent(async (req, { transaction }) => {
          const text = await req.text();
          return transaction(() => jsonReply({ id: Number(insertOrder.run(text).lastInsertRowid) }, { status: 201 }));
        }, { store: shopKeys }),
      },
    ];

    await pool.query('CREATE TABLE orders (id bigserial PRIMARY KEY, body text NOT NULL)');
    const pgRowKeys = postgresStore({ pool, table: 'keys_rows' });
    await pgRowKeys.ready();
    const pgWrite = async (req) => {
      const { rows } = await pool.query('INSERT INTO orders (body) VALUES ($1) RETURNING id', [await req.text()]);
      return Response.json({ id: Number(rows[0].id) }, { status: 201 });
    };
    const pgRows = [
      { name: 'PostgreSQL: handler writes a row', handle: pgWrite },
      { name: '+ layer, default mode (record after the handler)', handle: idempotent(pgWrite, { store: pgRowKeys }) },
      {
        name: '+ layer, transactional mode (row and record in one transaction)',
        handle: idempotent(async (req, { transaction }) => {
          const text = await req.text();
          return transaction(async (client) => {
            const { rows } = await client.query('INSERT INTO orders (body) VALUES ($1) RETURNING id', [text]);
            return jsonReply({ id: Number(rows[0].id) }, { status: 201 });
          });
        }, { store: pgRowKeys }),
      },
    ];

    for (const [title, variants] of [['A handler that does no I/O', noIo], ['A handler that writes one row to SQLite', sqliteRows], ['A handler that writes one row to PostgreSQL', pgRows]]) {
      process.stderr.write(`measuring: ${title}\n`);
      const one = await compare(variants, 1);
      const sixteen = await compare(variants, 16);
      sections.push({ title, rows: one.map((r, i) => ({ name: r.name, one: r, sixteen: sixteen[i] })) });
    }

    process.stderr.write('measuring: replays\n');
    const replays = [
      { name: 'memoryStore', time: await timeReplays(noIo[1].handle, COUNT) },
      { name: 'sqliteStore', time: await timeReplays(noIo[2].handle, COUNT) },
      { name: 'postgresStore', time: await timeReplays(noIo[3].handle, COUNT) },
    ];

    const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ` +
      `SQLite ${shop.prepare('SELECT sqlite_version() AS v').get().v}, PostgreSQL ${pgVersion}`;
    const out = [
      `@halfsync/server per-request time, a new key each request; median (min–max) of ${REPS} repetitions of ${COUNT} requests${quick ? ' (quick)' : ''}`,
      machine,
    ];
    for (const s of sections) {
      out.push('', `${s.title}:`, '', '| handler | one at a time | ratio | 16 at a time | ratio |', '| --- | --- | --- | --- | --- |');
      for (const r of s.rows) {
        out.push(`| ${r.name} | ${fmtSpread(r.one.time, fmtTime)} | ${r.one.ratio ? fmtSpread(r.one.ratio, fmtRatio) : 'baseline'} | ${fmtSpread(r.sixteen.time, fmtTime)} | ${r.sixteen.ratio ? fmtSpread(r.sixteen.ratio, fmtRatio) : 'baseline'} |`);
      }
    }
    out.push('', 'A retry of a recorded key (answered from the store, the handler not run), one at a time:', '', '| store | per replay |', '| --- | --- |');
    for (const r of replays) out.push(`| ${r.name} | ${fmtSpread(r.time, fmtTime)} |`);
    console.log(out.join('\n'));
    writeFileSync(fileURLToPath(new URL('./results.json', import.meta.url)), `${JSON.stringify({ date: new Date().toISOString(), quick, reps: REPS, count: COUNT, machine, sections, replays }, null, 2)}\n`);
    console.log('\n(written to bench/server/results.json)');

    await Promise.all([pgKeys.close(), pgRowKeys.close(), keysDb.close()]);
    await pool.end();
    shop.close();
  } finally {
    await cluster.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
