// One driver shape for three real engines, so a scenario runs unchanged in each:
//   Chromium     playwright-core (the kit's DevTools helpers need Playwright's page)
//   Firefox ESR  puppeteer-core over WebDriver BiDi (Playwright's BiDi client needs a newer Firefox)
//   WebKitGTK    WebKitWebDriver + MiniBrowser under xvfb-run, classic WebDriver over plain HTTP
// Every launch gets a fresh profile; closing the driver removes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page as PlaywrightPage } from 'playwright-core';
import puppeteer, { type Page as PuppeteerPage } from 'puppeteer-core';
import type { PageLike } from '@halfsync/core/testing';
import { freePort } from './server';
// @ts-expect-error -- a plain .mjs helper shared with the scripts (no declarations)
import * as browsersModule from '../../scripts/browsers.mjs';

export type EngineName = 'chromium' | 'firefox' | 'webkit';
export const ENGINES: readonly EngineName[] = ['chromium', 'firefox', 'webkit'];

interface BrowserPaths {
  chromiumPath(): string | undefined;
  chromiumArgs: string[];
  firefoxPath(): string | undefined;
  webkitPaths(): { driver: string; browser: string; xvfb: string } | undefined;
}
const browsers = browsersModule as BrowserPaths;

/** One tab or window. `evaluate` fits the kit's `PageLike`: `fn` is sent as source, so it must be self-contained. */
export interface EnginePage extends PageLike {
  /** Navigates and waits for the load event. */
  goto(url: string): Promise<void>;
  /** Reloads and waits for the load event. */
  reload(): Promise<void>;
  close(): Promise<void>;
  /**
   * What to give `halfsyncKit`: Playwright's own page in Chromium (so the kit can open a DevTools
   * session for sync dispatch and worker kills), this page elsewhere (the kit then refuses those
   * helpers with UNSUPPORTED_ENGINE instead of failing obscurely).
   */
  readonly kitTarget: PageLike;
  /**
   * Takes this page offline (or back), where the driver can: Firefox through WebDriver BiDi. In
   * Chromium the kit's `offline()` does it for the page and its worker; WebKitWebDriver cannot.
   */
  readonly setOffline?: (offline: boolean) => Promise<void>;
}

export interface EngineDriver {
  readonly engine: EngineName;
  /** The browser's own version string. */
  readonly version: string;
  /** The first page, open from the start. */
  readonly page: EnginePage;
  /** Opens another tab or window in the same profile (so the same origin shares storage and its worker). */
  newPage(): Promise<EnginePage>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/** Launches `engine` with a fresh profile. */
export function launch(engine: EngineName): Promise<EngineDriver> {
  if (engine === 'chromium') return launchChromium();
  if (engine === 'firefox') return launchFirefox();
  return launchWebKit();
}

const missing = (what: string): Error =>
  new Error(`${what} is not installed; run \`node scripts/browsers.mjs --ensure\` (as root) or see its message`);

// ---- Chromium -------------------------------------------------------------------------------

async function launchChromium(): Promise<EngineDriver> {
  const executablePath = browsers.chromiumPath();
  if (!executablePath) throw missing('Chromium');
  const browser = await chromium.launch({ executablePath, args: browsers.chromiumArgs, headless: true });
  // A new (non-persistent) context is a fresh profile: its own storage and service workers.
  const context = await browser.newContext({ serviceWorkers: 'allow' });
  const wrap = (page: PlaywrightPage): EnginePage => ({
    async goto(url) { await page.goto(url); },
    // Playwright's Page is a PageLike (the kit is typed for it).
    evaluate: (fn, arg) => (page as PageLike).evaluate(fn, arg),
    async reload() { await page.reload(); },
    close: () => page.close(),
    kitTarget: page,
  });
  return {
    engine: 'chromium',
    version: `Chromium ${browser.version()}`,
    page: wrap(await context.newPage()),
    newPage: async () => wrap(await context.newPage()),
    close: () => browser.close(),
  };
}

// ---- Firefox --------------------------------------------------------------------------------

async function launchFirefox(): Promise<EngineDriver> {
  const executablePath = browsers.firefoxPath();
  if (!executablePath) throw missing('Firefox ESR');
  // Firefox run as root refuses a HOME it does not own; a fresh one also keeps the run hermetic.
  const home = mkdtempSync(join(tmpdir(), 'halfsync-firefox-'));
  try {
    const browser = await puppeteer.launch({
      browser: 'firefox', executablePath, headless: true, userDataDir: join(home, 'profile'),
      env: { ...process.env, HOME: home },
    });
    const wrap = (page: PuppeteerPage): EnginePage => {
      const self: EnginePage = {
        async goto(url) { await page.goto(url, { waitUntil: 'load' }); },
        evaluate: <R, A>(fn: (arg: A) => R | Promise<R>, arg: A) =>
          page.evaluate(fn as (arg: unknown) => unknown, arg as unknown) as Promise<R>,
        async reload() { await page.reload({ waitUntil: 'load' }); },
        close: () => page.close(),
        setOffline: (offline) => page.setOfflineMode(offline),
        get kitTarget() { return self; },
      };
      return self;
    };
    const [first] = await browser.pages();
    return {
      engine: 'firefox',
      version: `Firefox ${(await browser.version()).replace(/^firefox\//, '')}`,
      page: wrap(first ?? (await browser.newPage())),
      newPage: async () => wrap(await browser.newPage()),
      async close() {
        await browser.close().catch(() => {});
        rmSync(home, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
}

// ---- WebKitGTK ------------------------------------------------------------------------------

interface WebDriverReply { value: unknown }
interface WebDriverError { error: string; message: string }

/** The result envelope of the async script, so page errors come back as values, not WebDriver errors. */
// (Not `error`: a reply value with an `error` string would read as a WebDriver error.)
type ScriptOutcome = { ok: true; value: unknown } | { ok: false; thrown: string };

async function launchWebKit(): Promise<EngineDriver> {
  const paths = browsers.webkitPaths();
  if (!paths) throw missing('WebKitGTK (webkit2gtk-driver) or xvfb');
  const port = await freePort();
  // MiniBrowser needs a display, and WebKitWebDriver has no headless switch: run it under Xvfb.
  // Detached, so the whole group (xvfb-run, Xvfb, the driver, the browser) can be ended at close.
  const proc: ChildProcess = spawn(paths.xvfb, ['-a', paths.driver, `--port=${port}`], { stdio: 'ignore', detached: true });
  const kill = () => { if (proc.pid) { try { process.kill(-proc.pid, 'SIGTERM'); } catch { /* already gone */ } } };
  const base = `http://127.0.0.1:${port}`;
  const call = async (method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(base + path, {
      method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const reply = (await res.json()) as WebDriverReply;
    const err = reply.value as Partial<WebDriverError> | null;
    if (!res.ok || (err && typeof err === 'object' && typeof err.error === 'string')) {
      throw new Error(`WebDriver ${method} ${path}: ${err?.error ?? res.status}: ${err?.message ?? ''}`);
    }
    return reply.value;
  };
  try {
    const deadline = Date.now() + 15_000;
    for (;;) {
      try { await call('GET', '/status'); break; } catch {
        if (Date.now() > deadline) throw new Error(`WebKitWebDriver did not answer on port ${port} within 15 s`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const session = (await call('POST', '/session', {
      capabilities: { alwaysMatch: { browserName: 'MiniBrowser', 'webkitgtk:browserOptions': { binary: paths.browser, args: ['--automation'] } } },
    })) as { sessionId: string; capabilities: { browserVersion?: string } };
    const sid = `/session/${session.sessionId}`;
    // Long enough for the kit's own waits (10 s by default) inside one script.
    await call('POST', `${sid}/timeouts`, { script: 120_000, pageLoad: 30_000 });

    // WebDriver drives one window at a time: every call of every page runs in turn, switching
    // to its own window first. Calls on two pages therefore never interleave.
    let queue: Promise<unknown> = Promise.resolve();
    let current = (await call('GET', `${sid}/window`)) as string;
    const serial = <T>(handle: string, f: () => Promise<T>): Promise<T> => {
      const run = queue.then(async () => {
        if (current !== handle) {
          await call('POST', `${sid}/window`, { handle });
          current = handle;
        }
        return f();
      });
      queue = run.catch(() => {});
      return run;
    };

    const wrap = (handle: string): EnginePage => {
      const self: EnginePage = {
        goto: (url) => serial(handle, async () => { await call('POST', `${sid}/url`, { url }); }),
        reload: () => serial(handle, async () => { await call('POST', `${sid}/refresh`, {}); }),
        evaluate: <R, A>(fn: (arg: A) => R | Promise<R>, arg: A) => serial(handle, async () => {
          // execute/async passes a callback as the last argument; the page's result (or error)
          // comes back as JSON, `undefined` as null.
          const script = `const done = arguments[arguments.length - 1]; const arg = arguments[0];
            Promise.resolve().then(() => (${fn.toString()})(arg)).then(
              (value) => done({ ok: true, value: value === undefined ? null : value }),
              (error) => done({ ok: false, thrown: String(error) + (error && error.stack ? ' at ' + error.stack : '') }));`;
          const out = (await call('POST', `${sid}/execute/async`, { script, args: [arg === undefined ? null : arg] })) as ScriptOutcome;
          if (!out.ok) throw new Error(`in the page: ${out.thrown}`);
          return out.value as R;
        }),
        close: () => serial(handle, async () => {
          await call('DELETE', `${sid}/window`);
          current = '';
        }),
        get kitTarget() { return self; },
      };
      return self;
    };

    return {
      engine: 'webkit',
      version: `WebKitGTK ${session.capabilities.browserVersion ?? '?'}`,
      page: wrap(current),
      newPage: async () => {
        const run = queue.then(async () => {
          // New Window needs a current window: after a close, any open one will do.
          if (!current) {
            const [any] = (await call('GET', `${sid}/window/handles`)) as string[];
            if (!any) throw new Error('WebDriver: every window is closed');
            await call('POST', `${sid}/window`, { handle: any });
            current = any;
          }
          return (await call('POST', `${sid}/window/new`, { type: 'window' })) as { handle: string };
        });
        queue = run.catch(() => {});
        return wrap((await run).handle);
      },
      async close() {
        await call('DELETE', sid).catch(() => {});
        kill();
      },
    };
  } catch (error) {
    kill();
    throw error;
  }
}
