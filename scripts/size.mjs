#!/usr/bin/env node
// `npm run size`: bundles each entry point as an app's bundler would (Vite/rolldown library mode,
// ES modules, minified, tree-shaken, dependencies included), and reports minified, gzip and brotli
// bytes (node:zlib, maximum levels). Exits non-zero when a budget is exceeded:
//   - the page entry with everything a page with a service worker loads (the initial chunk and the
//     lazily imported workbox-window chunk), and the worker entry with idb: at most their LIMIT
//     (the 6 KB target, in the README and BENCHMARKS.md, is reported as met or missed);
//   - the React package's main entry must not contain the devtools panel.
// `--json` prints the figures as JSON instead of the table.
import { build } from 'vite';
import { brotliCompressSync, gzipSync, constants } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const src = (p) => fileURLToPath(new URL(`../${p}`, import.meta.url));
// The target is 6 KB brotli for both; the code is over it (see BENCHMARKS.md). The limits
// enforced here are what the code weighs now plus a little room, so growth is a decision, not a drift.
// Raised from 11,800 and 8,100 for the bounded client (indexed loading and queries, the incremental
// model and slices, the elected waker, the action observer), patient retries (failure kinds),
// chains, latest wins, batches, owners and the storage-loss report; what a page needs only when
// used stays static all the same: a page offline must not need code it never loaded.
// Raised again from 22,800 and 12,800 for one truth per state: the owner stamped in each insert
// and versioned beliefs, channel messages checked before use, the journal written from what
// committed (its module now in the worker too, with the defer checks a restore applies), the loss
// recorded before the open returns, and repairs of links that would wait for ever. Bringing a
// minimal page back under 10 KB is the work of splitting the client into a small core and
// capabilities an app imports.
const TARGET = 6 * 1024;
const LIMIT = { page: 25_600, worker: 15_400 };

const alias = {
  '@halfsync/core/worker': src('packages/core/src/worker.ts'),
  '@halfsync/core/http': src('packages/core/src/http.ts'),
  '@halfsync/core/workbox': src('packages/core/src/workbox.ts'),
  '@halfsync/core': src('packages/core/src/index.ts'),
};

/** A module that exists only for this build (the "alone" bundles of the dependencies). */
const virtualEntry = (code) => ({
  name: 'size-virtual-entry',
  enforce: 'pre',
  resolveId: (id) => (id.endsWith('virtual:size-entry') ? '\0virtual:size-entry.js' : undefined),
  load: (id) => (id === '\0virtual:size-entry.js' ? code : undefined),
});

/**
 * Bundles one entry; resolves with its chunks.
 * @param {{ entry?: string, code?: string, external?: (string | RegExp)[] }} what
 * @returns {Promise<Array<{ fileName: string, code: string, isEntry: boolean, imports: string[], dynamicImports: string[], moduleIds: string[] }>>}
 */
async function bundle({ entry, code, external = [] }) {
  const result = await build({
    configFile: false,
    root: repo,
    logLevel: 'silent',
    mode: 'production',
    define: { 'process.env.NODE_ENV': '"production"' },
    resolve: { alias },
    plugins: code ? [virtualEntry(code)] : [],
    build: {
      write: false,
      minify: true,
      target: 'es2022',
      sourcemap: false,
      copyPublicDir: false,
      reportCompressedSize: false,
      lib: { entry: code ? 'virtual:size-entry' : entry, formats: ['es'], fileName: 'entry' },
      // Library mode keeps whitespace in ES output by default; an app's production build does not.
      rolldownOptions: { external, treeshake: true, output: { minify: true } },
    },
  });
  const outputs = Array.isArray(result) ? result : [result];
  return outputs.flatMap((o) => ('output' in o ? o.output : [])).filter((o) => o.type === 'chunk');
}

const sizes = (text) => {
  const buf = Buffer.from(text);
  return {
    min: buf.length,
    gzip: gzipSync(buf, { level: 9 }).length,
    brotli: brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: buf.length } }).length,
  };
};
/** Sizes of chunks that are separate files: each compressed on its own, then summed. */
const sum = (chunks) => chunks.map((c) => sizes(c.code)).reduce((a, b) => ({ min: a.min + b.min, gzip: a.gzip + b.gzip, brotli: a.brotli + b.brotli }), { min: 0, gzip: 0, brotli: 0 });

/** A chunk and every chunk it imports statically. */
function closure(chunks, start) {
  const byName = new Map(chunks.map((c) => [c.fileName, c]));
  const seen = new Set();
  const walk = (c) => {
    if (!c || seen.has(c)) return;
    seen.add(c);
    for (const i of c.imports) walk(byName.get(i));
  };
  for (const c of start) walk(c);
  return [...seen];
}

const has = (chunk, pattern) => chunk.moduleIds.some((id) => pattern.test(id.replaceAll('\\', '/')));
const rows = [];
const problems = [];
const row = (name, s, note = '', budget = undefined) => rows.push({ name, ...s, budget, note });
/** Where the bytes of a bundle come from: each module's share of the rendered code (before minifying). */
const breakdowns = [];
const breakdown = (name, chunks) => {
  const modules = chunks.flatMap((c) => Object.entries(c.modules ?? {}).map(([id, m]) => ({ id: id.replaceAll('\\', '/').replace(/^.*?(packages\/|node_modules\/)/, '$1'), bytes: m.renderedLength })));
  const total = modules.reduce((a, m) => a + m.bytes, 0);
  breakdowns.push({ name, modules: modules.filter((m) => m.bytes > 0).sort((a, b) => b.bytes - a.bytes).map((m) => ({ ...m, share: m.bytes / total })) });
};

// ---- the page entry: initial chunk, the lazy workbox-window chunk, the lazy page runner --------
{
  const chunks = await bundle({ entry: src('packages/core/src/index.ts') });
  const entry = chunks.find((c) => c.isEntry);
  const initial = closure(chunks, [entry]);
  const byName = new Map(chunks.map((c) => [c.fileName, c]));
  const dynamic = [...new Set(initial.flatMap((c) => c.dynamicImports))].map((f) => byName.get(f)).filter(Boolean);
  const wbStart = dynamic.filter((c) => has(c, /node_modules\/workbox-window\//));
  const runnerStart = dynamic.filter((c) => !wbStart.includes(c));
  const wb = closure(chunks, wbStart).filter((c) => !initial.includes(c));
  const runner = closure(chunks, runnerStart).filter((c) => !initial.includes(c) && !wb.includes(c));
  if (wbStart.length === 0) problems.push('the page entry has no lazily loaded workbox-window chunk (is it imported statically?)');
  const withWorker = sum([...initial, ...wb]);
  row('page entry: initial chunk', sum(initial), `${initial.length} file(s); idb included`);
  row('page entry: + workbox-window (lazy)', sum(wb), `${wb.length} file(s)`);
  row('page entry: total a page with a worker loads', withWorker, `initial + workbox-window; target ${TARGET}: ${withWorker.brotli <= TARGET ? 'met' : 'missed'}`, LIMIT.page);
  row('page entry: + page runner (lazy, pages without a worker)', sum(runner), `${runner.length} file(s)`);
  row('page entry: everything', sum(chunks), `${chunks.length} file(s)`);
  breakdown('page entry with workbox-window', [...initial, ...wb]);
  if (withWorker.brotli > LIMIT.page) problems.push(`the page entry is ${withWorker.brotli} B brotli with workbox-window, over its limit of ${LIMIT.page} B`);
  if (chunks.some((c) => has(c, /packages\/core\/src\/testing\//))) problems.push('the page entry bundles the testing entry');
}

// ---- the worker, http and testing entries ---------------------------------------------------
{
  const chunks = await bundle({ entry: src('packages/core/src/worker.ts') });
  const s = sum(chunks);
  breakdown('worker entry', chunks);
  row('worker entry', s, `idb included${chunks.length > 1 ? `; ${chunks.length} files` : ''}; target ${TARGET}: ${s.brotli <= TARGET ? 'met' : 'missed'}`, LIMIT.worker);
  if (s.brotli > LIMIT.worker) problems.push(`the worker entry is ${s.brotli} B brotli, over its limit of ${LIMIT.worker} B`);
}
row('http entry', sum(await bundle({ entry: src('packages/core/src/http.ts') })), 'createHttpTask, deferFetch, httpTask');
row('workbox entry (worker side, opt-in)', sum(await bundle({ entry: src('packages/core/src/workbox.ts') })), 'deferInWorker, deferPlugin, deferOnFailure: deferral, the http task and the store');
row('testing entry (separate, not in the page entry)', sum(await bundle({ entry: src('packages/core/src/testing/index.ts'), external: [/^playwright/] })), '');

// ---- for scale -------------------------------------------------------------------------------
row('idb alone', sum(await bundle({ code: "export * from 'idb';" })), 'export * from idb');
row('workbox-window alone', sum(await bundle({ code: "export * from 'workbox-window';" })), 'export * from workbox-window');
row('workbox-background-sync Queue', sum(await bundle({ code: "export { Queue } from 'workbox-background-sync';" })), 'with its idb 7 and workbox-core');

// ---- React: the devtools panel stays out of the main entry -----------------------------------
{
  const chunks = await bundle({
    entry: src('packages/react/src/index.ts'),
    external: ['react', 'react-dom', 'react/jsx-runtime', /^@halfsync\/core/],
  });
  const devtools = chunks.some((c) => has(c, /packages\/react\/src\/devtools\//) || c.code.includes('halfsync queue'));
  row('react main entry (react, @halfsync/core external)', sum(chunks), devtools ? 'CONTAINS the devtools panel' : 'devtools panel absent');
  if (devtools) problems.push('the React main entry contains the devtools panel (packages/react/src/devtools)');
}

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ targetBrotli: TARGET, limits: LIMIT, rows, breakdowns, problems }, null, 2));
} else {
  const w = Math.max(...rows.map((r) => r.name.length));
  const n = (x) => String(x).padStart(8);
  console.log(`${'entry'.padEnd(w)}  minified     gzip   brotli  limit (brotli)`);
  for (const r of rows) {
    const budget = r.budget === undefined ? '' : `${r.brotli <= r.budget ? 'ok' : 'OVER'} ≤ ${r.budget}`;
    console.log(`${r.name.padEnd(w)}  ${n(r.min)} ${n(r.gzip)} ${n(r.brotli)}  ${budget.padEnd(14)}  ${r.note}`);
  }
  console.log('bytes; each file compressed on its own (minified, tree-shaken, ES2022), then summed');
  for (const b of breakdowns) {
    console.log(`\n${b.name}, by module (share of the code before minifying):`);
    for (const m of b.modules) console.log(`  ${(m.share * 100).toFixed(1).padStart(5)}%  ${m.id}`);
  }
}
if (problems.length > 0) {
  for (const p of problems) console.error(`size: ${p}`);
  process.exitCode = 1;
}
