#!/usr/bin/env node
// Finds the browsers the tests drive: Debian's packages first, then Playwright's own download
// where a developer has one. `node scripts/browsers.mjs --ensure` (npm's pretest) installs the
// Debian packages when they are missing and it runs as root, or stops with the command to run.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensurePostgres } from './postgres.mjs';

const playwrightCache = process.env.PLAYWRIGHT_BROWSERS_PATH || join(homedir(), '.cache', 'ms-playwright');

function fromPlaywrightCache(prefix, rel) {
  if (!existsSync(playwrightCache)) return undefined;
  const dirs = readdirSync(playwrightCache).filter((d) => d.startsWith(prefix)).sort().reverse();
  for (const d of dirs) {
    const p = join(playwrightCache, d, rel);
    if (existsSync(p)) return p;
  }
  return undefined;
}

const first = (...paths) => paths.find((p) => p && existsSync(p));

/** Chromium: HALFSYNC_CHROMIUM, Debian's /usr/bin/chromium, or Playwright's download. */
export const chromiumPath = () =>
  first(process.env.HALFSYNC_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser', fromPlaywrightCache('chromium-', 'chrome-linux/chrome'));

/** Firefox ESR (driven over WebDriver BiDi by puppeteer-core). */
export const firefoxPath = () => first(process.env.HALFSYNC_FIREFOX, '/usr/bin/firefox-esr', '/usr/bin/firefox');

/** WebKitGTK's WebDriver and MiniBrowser, and xvfb-run for its display. */
export const webkitPaths = () => {
  const driver = first('/usr/bin/WebKitWebDriver');
  const browser = first('/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser', '/usr/lib/aarch64-linux-gnu/webkit2gtk-4.1/MiniBrowser', '/usr/libexec/webkit2gtk-4.1/MiniBrowser');
  const xvfb = first('/usr/bin/xvfb-run');
  return driver && browser && xvfb ? { driver, browser, xvfb } : undefined;
};

/** The flags every Chromium launch uses here (a closed network; root). */
export const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function ensure() {
  const missing = [];
  if (!chromiumPath()) missing.push('chromium');
  if (!firefoxPath()) missing.push('firefox-esr');
  if (!webkitPaths()) missing.push('webkit2gtk-driver', 'xvfb');
  if (missing.length === 0) return;
  const cmd = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || !existsSync('/usr/bin/apt-get')) {
    console.error(`The tests need browsers that are not installed: ${missing.join(', ')}.\nInstall them with:\n  sudo ${cmd}\n(or set HALFSYNC_CHROMIUM / HALFSYNC_FIREFOX to a browser binary).`);
    process.exit(1);
  }
  console.log(`Installing the browsers the tests need: ${cmd}`);
  execFileSync('bash', ['-c', `DEBIAN_FRONTEND=noninteractive ${cmd} >/dev/null`], { stdio: 'inherit' });
  if (!chromiumPath() || !firefoxPath() || !webkitPaths()) {
    console.error(`Installing ${missing.join(', ')} did not provide the browsers; run: ${cmd}`);
    process.exit(1);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv.includes('--ensure')) {
  ensure();
  // The server package's tests start their own PostgreSQL: the same check for its binaries.
  ensurePostgres();
}
