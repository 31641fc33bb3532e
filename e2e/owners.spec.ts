// Guarantee 10, "Run as its owner", in Chromium with the worker: a task never runs with another
// user's credentials; sign-out keeps or discards; a sign-out is seen by the runner of another tab.
import { test, expect, type Page } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, inPage, log, openApp, serverUntil, type ServerLog } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

type Owned = { deferOwned(op: { n: number }): Promise<string> };
const deferOwned = (page: Page, n: number) => inPage(page, (h, x) => (h as unknown as Owned).deferOwned({ n: x }), n);
const signIn = (page: Page, owner: string) => inPage(page, (h, o) => h.client.signIn(o), owner);
const signOut = (page: Page, discard = false) => inPage(page, (h, d) => h.client.signOut({ discard: d }), discard);
const sent = (l: ServerLog) => l.received.filter((r) => r.path === '/api/echo').map((r) => ({
  n: (JSON.parse(Buffer.from(r.bodyBase64 ?? '', 'base64').toString() || '{}') as { n: number }).n,
  auth: r.headers?.authorization, key: r.key,
}));

test('A defers offline and signs out, B signs in, the network returns with every tab closed: nothing of A\'s is sent, B\'s is; A signs in again: A\'s three go once, as A', async ({ context, page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await hs.wakeWorker();
  await signIn(page, 'A');
  await hs.offline();
  const a = [await deferOwned(page, 1), await deferOwned(page, 2), await deferOwned(page, 3)];
  await signOut(page);
  await signIn(page, 'B');
  const b = await deferOwned(page, 10);
  await page.close();
  await hs.online();
  await serverUntil((l) => sent(l).some((x) => x.n === 10), 'B\'s task', 20_000);
  // Every tab closed: the worker read who is signed in from IndexedDB. Give it time to do wrong.
  const later = await context.newPage();
  expect(await openApp(later)).toBe('sync');
  const kit = await halfsyncKit(later);
  await kit.waitForTask(b, 'succeeded');
  await inPage(later, (h) => h.client.drain());
  expect(sent(await log())).toEqual([{ n: 10, auth: 'Bearer token-of-B', key: b }]);
  expect((await kit.tasks()).filter((t) => a.includes(t.id)).map((t) => t.status)).toEqual(['pending', 'pending', 'pending']);
  await signOut(later);
  await signIn(later, 'A');
  for (const id of a) await kit.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
  const all = sent(await log());
  expect(all.filter((x) => x.n !== 10).sort((p, q) => p.n - q.n)).toEqual([1, 2, 3].map((n, i) => ({ n, auth: 'Bearer token-of-A', key: a[i] })));
});

test('sign-out with discard leaves no payload of the departing owner in IndexedDB, finished history and quarantine included', async ({ page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await signIn(page, 'A');
  const done = await deferOwned(page, 41);
  await hs.waitForTask(done, 'succeeded');
  await control({ default: { status: 500 } });
  await deferOwned(page, 42);
  await serverUntil((l) => l.received.some((r) => r.status === 500), 'a failed try');
  await signOut(page, true);
  const dump = await page.evaluate(() => new Promise<string>((resolve, reject) => {
    const open = indexedDB.open('halfsync');
    open.onsuccess = () => {
      const tx = open.result.transaction(['tasks', 'inbox', 'quarantine', 'payloads'], 'readonly');
      const tasks = tx.objectStore('tasks').getAll();
      const inbox = tx.objectStore('inbox').getAll();
      const q = tx.objectStore('quarantine').getAll();
      const payloads = tx.objectStore('payloads').getAll();
      tx.oncomplete = () => { open.result.close(); resolve(JSON.stringify({ tasks: tasks.result, inbox: inbox.result, quarantine: q.result, payloads: payloads.result })); };
      tx.onerror = () => reject(tx.error);
    };
    open.onerror = () => reject(open.error);
  }));
  expect(dump).not.toContain('"owner":"A"');
  expect(dump).not.toMatch(/"n":4[12]/);
});

test('two tabs: a sign-out in one while the other drains: no task of the departing owner starts after the sign-out is persisted', async ({ context, page }) => {
  expect(await openApp(page, 'sw=0&db=owners-two')).toBe('page');
  const other = await context.newPage();
  expect(await openApp(other, 'sw=0&db=owners-two')).toBe('page');
  await signIn(page, 'A');
  await control({ default: { status: 200, delayMs: 150 } });
  for (let n = 0; n < 24; n++) await deferOwned(page, n);
  await serverUntil((l) => l.received.length >= 2, 'the drain to be under way');
  await signOut(other);
  const signedOutAt = Date.now();
  await new Promise((r) => setTimeout(r, 1_500));
  const l = await log();
  // A request started before the sign-out may still be arriving: 100 ms, against one every ~40 ms otherwise.
  const late = l.received.filter((r) => r.at > signedOutAt + 100);
  expect(late).toEqual([]);
  expect(l.received.length).toBeLessThan(24);
});
