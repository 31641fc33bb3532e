// When the browser loses the queue, in Chromium with a persistent profile: the origin's IndexedDB
// backing store damaged or deleted between two runs of the browser. The loss is reported with its
// code; with the journal on, every unfinished task is restored and delivered once, by key, and a
// task that had succeeded is not run again; a worker starting alone does the same.
import { test, expect, chromium, type BrowserContext, type Page } from '@playwright/test';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { halfsyncKit } from '@halfsync/core/testing';
// @ts-expect-error -- a plain .mjs helper shared with the scripts
import { chromiumPath, chromiumArgs } from '../scripts/browsers.mjs';
import { ORIGIN, control, deferOps, inPage, log, openApp, serverUntil } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

const leveldb = (dir: string) => join(dir, 'Default', 'IndexedDB', 'http_127.0.0.1_4310.indexeddb.leveldb');

/** Runs the browser on `dir` once: a task that succeeds, then two deferred while the server is down. */
async function firstRun(dir: string, launch: () => Promise<BrowserContext>) {
  const context = await launch();
  const page = context.pages()[0] ?? (await context.newPage());
  expect(await openApp(page, 'journal=1')).toBe('sync');
  const hs = await halfsyncKit(page);
  const [done] = await deferOps(page, [1]);
  await hs.waitForTask(done!, 'succeeded');
  await hs.offline();
  const waiting = await deferOps(page, [2, 3]);
  await context.close();
  return { done: done!, waiting };
}

for (const damage of ['corrupt', 'delete'] as const) {
  test(`the backing store ${damage === 'corrupt' ? 'damaged (its MANIFEST fails its checksum: Chromium reports dataLoss "total")' : 'deleted (no dataLoss flag: the marker catches it)'}: the reset is reported, the two unfinished tasks restored and sent once, the finished one not again`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'halfsync-loss-'));
    const launch = () => chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: chromiumArgs, headless: true, baseURL: ORIGIN });
    try {
      const { done, waiting } = await firstRun(dir, launch);
      const store = leveldb(dir);
      if (damage === 'corrupt') {
        for (const f of readdirSync(store)) {
          if (!f.startsWith('MANIFEST-')) continue;
          const bytes = readFileSync(join(store, f));
          bytes.fill(0xff, 7);
          writeFileSync(join(store, f), bytes);
        }
      } else rmSync(store, { recursive: true, force: true });
      const context = await launch();
      const page = context.pages()[0] ?? (await context.newPage());
      await openApp(page, 'journal=1');
      // The loss is read at once; the count follows when the restore ends (the page's or the worker's, whichever opened first).
      await expect.poll(() => inPage(page, (h) => (h.client.storageReset?.details as { restored?: number } | undefined)?.restored), { timeout: 10_000 }).toBe(2);
      const reset = await inPage(page, (h) => ({ code: h.client.storageReset?.code, details: h.client.storageReset?.details }));
      expect(reset.code).toBe('STORAGE_RESET');
      expect(reset.details).toMatchObject({ restored: 2, cause: damage === 'corrupt' ? 'data-loss' : 'marker' });
      if (damage === 'corrupt') expect(String((reset.details as { engineMessage?: string }).engineMessage)).toContain('corrupt');
      const hs = await halfsyncKit(page);
      for (const id of waiting) await hs.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
      const l = await log();
      expect(l.applied.map((a) => a.key).sort()).toEqual([done, ...waiting].sort());
      expect(l.received.filter((r) => r.key === done)).toHaveLength(1);
      await context.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('a store the browser cannot open (CURRENT names a missing MANIFEST) is STORAGE_CORRUPT, not a private mode, at every load; recoverStorage() says the browser cannot delete it either', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'halfsync-loss-'));
  const launch = () => chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: chromiumArgs, headless: true, baseURL: ORIGIN });
  const readyCode = (page: Page) => page.evaluate(() => (window as unknown as { hs: { client: { ready: Promise<string> } } }).hs.client.ready.then(
    () => ({ code: 'none', message: '' }),
    (e: { code: string; message: string }) => ({ code: e.code, message: e.message }),
  ));
  try {
    await firstRun(dir, launch);
    writeFileSync(join(leveldb(dir), 'CURRENT'), 'MANIFEST-999999\n');
    const context = await launch();
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto('/?journal=1');
    const failure = await readyCode(page);
    expect(failure.code).toBe('STORAGE_CORRUPT');
    expect(failure.message).toContain('recoverStorage');
    // A defer fails with the same code, and a reload changes nothing.
    expect(await inPage(page, (h) => h.defer({ n: 9 }).then(() => 'stored', (e: { code: string }) => e.code))).toBe('STORAGE_CORRUPT');
    await page.reload();
    expect((await readyCode(page)).code).toBe('STORAGE_CORRUPT');
    const deletion = await page.evaluate(async () => {
      const w = window as unknown as { hs: { client: { close(): void }; recoverStorage(db?: string): Promise<void> } };
      w.hs.client.close();
      return w.hs.recoverStorage().then(() => ({ code: 'deleted', message: '' }), (e: { code: string; message: string }) => ({ code: e.code, message: e.message }));
    });
    expect(deletion.code).toBe('STORAGE_CORRUPT');
    expect(deletion.message).toContain('clearing this site');
    await context.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a worker starting alone after the loss (its Background Sync fires with no tab open) restores and sends the tasks, and says so to the next page', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'halfsync-loss-'));
  const launch = () => chromium.launchPersistentContext(dir, { executablePath: chromiumPath(), args: chromiumArgs, headless: true, baseURL: ORIGIN });
  try {
    const { waiting } = await firstRun(dir, launch);
    rmSync(leveldb(dir), { recursive: true, force: true });
    const context = await launch();
    // No page of the app is opened: the sync registered while offline fires, the worker starts alone.
    await serverUntil((l) => waiting.every((id) => l.applied.some((a) => a.key === id)), 'the restored tasks, sent by the worker alone', 30_000);
    const page = context.pages()[0] ?? (await context.newPage());
    await openApp(page, 'journal=1');
    const code = await inPage(page, (h) => h.client.storageReset?.code);
    expect(code).toBe('STORAGE_RESET');
    expect((await log()).applied.filter((a) => waiting.includes(a.key))).toHaveLength(2);
    await context.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
