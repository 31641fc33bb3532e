// Vitest global setup: builds the e2e app once (to a temporary folder, so a Playwright run that
// rebuilds e2e/.dist at the same time cannot pull it away), and starts one test server per
// engine on a free port, so each engine has its own request log and the engines run in parallel.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import type { TestProject } from 'vitest/node';
import { ENGINES, type EngineName } from './drivers';
import { freePort, until } from './server';

const root = fileURLToPath(new URL('../../', import.meta.url));

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dist = mkdtempSync(join(tmpdir(), 'halfsync-engines-app-'));
  const servers: ChildProcess[] = [];
  let ending = false;
  const teardown = async () => {
    ending = true;
    for (const s of servers) s.kill();
    rmSync(dist, { recursive: true, force: true });
  };
  try {
    const t0 = Date.now();
    await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn', build: { outDir: dist } });
    const built = Date.now() - t0;
    const origins = {} as Record<EngineName, string>;
    for (const engine of ENGINES) {
      const port = await freePort();
      const proc = spawn(process.execPath, [join(root, 'e2e/server.mjs')], {
        env: { ...process.env, PORT: String(port), E2E_DIST: `${dist}/` },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      servers.push(proc);
      // A server that dies mid-run fails every later scenario with ECONNREFUSED: say why, once.
      proc.once('exit', (code, signal) => {
        if (!ending) process.stderr.write(`cross-engine: the ${engine} test server exited early (${signal ?? `code ${code}`})\n`);
      });
      origins[engine] = `http://127.0.0.1:${port}`;
    }
    for (const origin of Object.values(origins)) {
      await until(async () => (await fetch(`${origin}/`).then((r) => r.ok, () => false)) || undefined, `the test server at ${origin}`, 10_000, 50);
    }
    process.stdout.write(`cross-engine: built the e2e app in ${built} ms; servers ${Object.entries(origins).map(([e, o]) => `${e} ${o}`).join(', ')}\n`);
    project.provide('engineOrigins', origins);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}
