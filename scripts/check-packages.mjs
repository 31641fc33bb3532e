#!/usr/bin/env node
// `npm run check:packages` (part of `npm test`): packs @halfsync/core, @halfsync/react and
// @halfsync/server once, as `npm publish` would (each package's prepack builds it), and checks the
// tarballs a user installs:
//   1. each ships dist/, README.md and LICENSE, and names its license and repository;
//   2. publint: package.json against the files shipped (strict: a warning fails too);
//   3. arethetypeswrong, ESM-only profile: every entry point's types resolve under node16 and bundlers;
//   4. doc-tests: every ```ts/```tsx block of README.md and the packages' READMEs, compiled against
//      the tarballs installed in a throwaway project, with moduleResolution bundler and nodenext
//      (scripts/doctest.mjs says what a block may rely on).
// Offline: the throwaway project links the repository's node_modules for everything but @halfsync.
// Options: --keep leaves the temporary folder; --tarballs=<dir> checks the tarballs in <dir> instead
// of packing; --only=<files|publint|attw|doctest,...> runs some checks.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { checkBlocks } from './doctest.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['core', 'react', 'server'];
const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const only = arg('only')?.split(',');
const run = (check) => !only || only.includes(check);
const failures = [];
const started = Date.now();
const step = (what, t0) => console.log(`check:packages: ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);

const tmp = mkdtempSync(join(tmpdir(), 'halfsync-packages-'));
try {
  // ---- pack -----------------------------------------------------------------------------------
  let t0 = Date.now();
  const tarballs = {};
  const given = arg('tarballs');
  if (given) {
    for (const p of PACKAGES) tarballs[p] = join(given, readdirSync(given).find((f) => f.startsWith(`halfsync-${p}-`) && f.endsWith('.tgz')));
  } else {
    let out;
    try {
      out = execFileSync('npm', ['pack', ...PACKAGES.flatMap((p) => ['-w', `@halfsync/${p}`]), '--pack-destination', tmp, '--json'], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      console.error(`check:packages: npm pack failed (a prepack build?):\n${error.stdout ?? ''}${error.stderr ?? ''}`);
      process.exit(1);
    }
    // The builds' own output may precede npm's JSON.
    const packed = JSON.parse(out.slice(out.search(/^\[/m)));
    for (const p of packed) tarballs[p.name.replace('@halfsync/', '')] = join(tmp, p.filename);
  }
  step(`packed ${Object.values(tarballs).map((t) => t.replace(/^.*\//, '')).join(', ')}`, t0);

  // ---- install into a throwaway project ---------------------------------------------------------
  const project = join(tmp, 'project');
  const modules = join(project, 'node_modules');
  mkdirSync(join(modules, '@halfsync'), { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'halfsync-doctest', private: true, type: 'module' }, null, 2));
  for (const p of PACKAGES) {
    const dir = join(modules, '@halfsync', p);
    mkdirSync(dir);
    execFileSync('tar', ['-xzf', tarballs[p], '-C', dir, '--strip-components=1']);
  }
  // Everything else (idb, react, workbox-*, @playwright/test, hono, express...) as the repository has it.
  for (const entry of readdirSync(join(repo, 'node_modules'))) {
    if (entry.startsWith('.') || entry === '@halfsync') continue;
    symlinkSync(join(repo, 'node_modules', entry), join(modules, entry), 'dir');
  }

  // ---- 1. what every tarball ships ----------------------------------------------------------------
  if (run('files')) {
    for (const p of PACKAGES) {
      const dir = join(modules, '@halfsync', p);
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      const missing = ['README.md', 'LICENSE', 'dist'].filter((f) => !existsSync(join(dir, f)));
      if (missing.length > 0) failures.push(`@halfsync/${p}: the tarball has no ${missing.join(', ')}`);
      if (!pkg.license) failures.push(`@halfsync/${p}: package.json has no license`);
      if (!pkg.repository?.url) failures.push(`@halfsync/${p}: package.json has no repository`);
    }
    console.log('check:packages: files: README.md, LICENSE, dist/, license and repository checked');
  }

  // ---- 2. publint ---------------------------------------------------------------------------------
  if (run('publint')) {
    t0 = Date.now();
    for (const p of PACKAGES) {
      const data = readFileSync(tarballs[p]);
      const tarball = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
      const { messages, pkg } = await publint({ pack: { tarball }, level: 'suggestion', strict: true });
      for (const m of messages) {
        const line = `@halfsync/${p}: publint ${m.type} ${m.code}: ${formatMessage(m, pkg, { color: false })}`;
        if (m.type === 'suggestion') console.log(line);
        else failures.push(line);
      }
    }
    step('publint', t0);
  }

  // ---- 3. arethetypeswrong --------------------------------------------------------------------------
  if (run('attw')) {
    t0 = Date.now();
    const attw = join(repo, 'node_modules/@arethetypeswrong/cli/dist/index.js');
    const results = await Promise.all(PACKAGES.map((p) => new Promise((resolve) => {
      // ESM-only packages: the profile leaves out node10 and require() from CommonJS, which they do not serve.
      const child = spawn(process.execPath, [attw, tarballs[p], '--profile', 'esm-only', '--no-definitely-typed', '--format', 'ascii', '--no-emoji', '--no-color'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => { out += d; });
      child.stderr.on('data', (d) => { out += d; });
      child.on('close', (code) => resolve({ p, code, out }));
    })));
    for (const { p, code, out } of results) {
      if (code !== 0) failures.push(`@halfsync/${p}: arethetypeswrong found problems:\n${out}`);
    }
    step('arethetypeswrong', t0);
  }

  // ---- 4. doc-tests ---------------------------------------------------------------------------------
  if (run('doctest')) {
    t0 = Date.now();
    const readmes = [join(repo, 'README.md'), ...PACKAGES.map((p) => join(repo, 'packages', p, 'README.md')).filter((f) => existsSync(f))];
    const { blocks, byKind, problems } = checkBlocks(project, readmes, repo);
    failures.push(...problems.map((m) => `doctest: ${m}`));
    step(`doctest: ${blocks} TypeScript blocks (${byKind.page} page or Node, ${byKind.worker} service worker), each with bundler and nodenext resolution`, t0);
  }
} finally {
  if (process.argv.includes('--keep')) console.log(`check:packages: kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}

if (failures.length > 0) {
  for (const f of failures) console.error(f);
  console.error(`check:packages: ${failures.length} problem(s) (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  process.exit(1);
}
console.log(`check:packages: all checks passed (${((Date.now() - started) / 1000).toFixed(1)} s)`);
