#!/usr/bin/env node
// A throwaway PostgreSQL server for the tests and the benchmark: Debian's binaries, a cluster in a
// temporary folder, listening on 127.0.0.1 only, on a free port, stopped and deleted afterwards.
//   node scripts/postgres.mjs --ensure   finds the server binaries, or installs Debian's postgresql
//                                        package when running as root, or stops with the command to run.
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const NEEDED = ['initdb', 'pg_ctl', 'postgres'];
const INSTALL = 'apt-get update && apt-get install -y postgresql';

/** The folder holding initdb, pg_ctl and postgres: HALFSYNC_PG_BIN, or the newest /usr/lib/postgresql/<version>/bin. */
export function postgresBinDir() {
  const has = (dir) => NEEDED.every((b) => existsSync(join(dir, b)));
  if (process.env.HALFSYNC_PG_BIN && has(process.env.HALFSYNC_PG_BIN)) return process.env.HALFSYNC_PG_BIN;
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => /^\d+(\.\d+)?$/.test(v)).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = join(root, v, 'bin');
    if (has(dir)) return dir;
  }
  return undefined;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** Makes sure the server binaries are there, installing Debian's package as root; exits with the command otherwise. */
export function ensurePostgres() {
  if (postgresBinDir()) return;
  if (!isRoot() || !existsSync('/usr/bin/apt-get')) {
    console.error(`The server tests need PostgreSQL's server binaries (${NEEDED.join(', ')}), which are not installed.\nInstall them with:\n  sudo ${INSTALL}\n(or set HALFSYNC_PG_BIN to a folder that holds them).`);
    process.exit(1);
  }
  console.log(`Installing PostgreSQL for the server tests: ${INSTALL}`);
  execFileSync('bash', ['-c', `DEBIAN_FRONTEND=noninteractive ${INSTALL} >/dev/null`], { stdio: 'inherit' });
  if (!postgresBinDir()) {
    console.error(`Installing postgresql did not provide ${NEEDED.join(', ')} under /usr/lib/postgresql/<version>/bin; run: ${INSTALL}`);
    process.exit(1);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs a server binary: as the `postgres` user when this process is root (PostgreSQL refuses to run as root). */
function run(bin, args, cwd) {
  const [cmd, argv] = isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
  const out = spawnSync(cmd, argv, { cwd, encoding: 'utf8', timeout: 120_000 });
  if (out.status !== 0) {
    throw new Error(`${bin} ${args.join(' ')} failed (${out.status ?? out.signal}):\n${out.stdout}${out.stderr}${out.error ? String(out.error) : ''}`);
  }
  return out.stdout;
}

const running = new Set();
let hooked = false;
function stopAllOnExit() {
  if (hooked) return;
  hooked = true;
  process.once('exit', () => { for (const c of running) c.destroySync(); });
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      for (const c of running) c.destroySync();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Starts a throwaway cluster. `durable: false` (the default, for tests) turns fsync off; the benchmark
 * keeps PostgreSQL's durable defaults. Resolves with its connection string and `destroy()`, which stops
 * the server and deletes its folder; `stop()` and `start()` take the server down and up again.
 */
export async function startCluster({ durable = false, maxConnections = 200 } = {}) {
  const bin = postgresBinDir();
  if (!bin) throw new Error(`PostgreSQL's server binaries are missing: run node scripts/postgres.mjs --ensure, or ${INSTALL}`);
  const dir = mkdtempSync(join(tmpdir(), 'halfsync-pg-'));
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const port = await freePort();
  const options = [
    '-c listen_addresses=127.0.0.1', `-p ${port}`, `-k ${dir}`, `-c max_connections=${maxConnections}`,
    ...(durable ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
  ].join(' ');
  let up = false;
  let destroyed = false;
  const cluster = {
    port,
    dir,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      try {
        run(join(bin, 'pg_ctl'), ['-D', data, '-l', log, '-w', '-t', '60', '-o', options, 'start'], dir);
      } catch (error) {
        const tail = existsSync(log) ? readFileSync(log, 'utf8').split('\n').slice(-20).join('\n') : '';
        throw new Error(`${error.message}\n${tail}`, { cause: error });
      }
      up = true;
    },
    async stop() {
      if (!up) return;
      up = false;
      // A clean shutdown, as a database restart would be (with fsync off, an immediate one loses recent commits).
      run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'fast', '-w', 'stop'], dir);
    },
    destroySync() {
      if (destroyed) return;
      destroyed = true;
      running.delete(cluster);
      if (up) {
        up = false;
        try { run(join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop'], dir); } catch { /* already gone */ }
      }
      rmSync(dir, { recursive: true, force: true });
    },
    async destroy() {
      cluster.destroySync();
    },
  };
  running.add(cluster);
  stopAllOnExit();
  try {
    run(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], dir);
    await cluster.start();
  } catch (error) {
    cluster.destroySync();
    throw error;
  }
  return cluster;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--ensure')) ensurePostgres();
