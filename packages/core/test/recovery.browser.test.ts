// When the browser loses the queue (guarantee 1's hard case), in real Chromium: the marker in Cache
// Storage notices a database that came back empty, the client says so with STORAGE_RESET, and the
// journal brings back every unfinished task, once, with its id and key; nothing untrusted comes back.
import { afterEach, describe, expect, it } from 'vitest';
import { chains, createClient, defineTask, PermanentError, history, journal as journalCapability, latestWins, owners, recoverStorage, type HalfsyncClient, type MembersOf } from '@halfsync/core';
import { createHttpTask, deferFetch } from '@halfsync/core/http';
import { decodeRecord, encodeRecord } from '../src/store/journal.js';
import { recovery, restorable } from '../src/store/recovery.js';
import { TaskStore } from '../src/store/store.js';

const sent: string[] = [];
let open = false;
const order = defineTask('order', { run: (p: { n: number }, ctx) => { if (!open) throw new Error('closed'); sent.push(`${p.n}:${ctx.idempotencyKey}`); return p.n; }, retry: { baseDelayMs: 60_000 } });
const http = createHttpTask({ name: 'http' });
// A large payload (kept apart from its record: store/payloads.ts) whose first run fails for good.
const report = defineTask('report', { run: (p: { text: string }) => { if (!open) throw new PermanentError('closed'); return p.text.length; }, retry: { maxAttempts: 1 } });
const tasks = [order, http, report];

const FULL = [chains, latestWins, owners, history, journalCapability] as const;
const clients: HalfsyncClient[] = [];
/** A client with every capability; `journal = false` leaves the journal out. */
const make = (dbName: string, journal = true, autoRun = true) => {
  const use = journal ? FULL : FULL.filter((c) => c !== journalCapability);
  const c = createClient({ tasks, dbName, use, persistStorage: false, autoRun }) as HalfsyncClient & MembersOf<typeof FULL>;
  clients.push(c);
  return c;
};
afterEach(() => { while (clients.length) clients.pop()!.close(); sent.length = 0; open = false; });
let n = 0;
const fresh = () => `recovery-${Date.now()}-${n++}`;
const deleteDb = (name: string) => new Promise<void>((resolve, reject) => {
  const req = indexedDB.deleteDatabase(name);
  req.onsuccess = () => resolve();
  req.onerror = () => reject(req.error);
});
describe('a lost database, noticed and restored', () => {
  it('keeps bytes, dates, maps, sets and bigints through the journal\'s encoding', () => {
    const value = { b: new Uint8Array([1, 2, 255]).buffer, v: new Uint16Array([7, 65535]), d: new Date(5), m: new Map([['k', 1]]), s: new Set([2]), big: 10n ** 20n, u: undefined, t: 'x' };
    expect(decodeRecord(encodeRecord(value))).toEqual(value);
  });

  it('reports the reset with STORAGE_RESET and restores the unfinished tasks once, with their ids and keys; finished ones stay finished', async () => {
    const db = fresh();
    const a = make(db);
    open = true;
    const done = a.defer(order, { n: 1 });
    expect(await done.result).toBe(1);
    open = false;
    const waiting = [a.defer(order, { n: 2 }), a.defer(order, { n: 3 }, { idempotencyKey: 'order-3' })];
    await Promise.all(waiting.map((h) => h.persisted));
    a.close();
    clients.length = 0;
    // The browser drops the database (a deleted directory: no dataLoss flag, the marker must catch it).
    await deleteDb(db);
    open = true;
    const b = make(db);
    await b.ready;
    expect(b.storageReset).toMatchObject({ code: 'STORAGE_RESET', details: { cause: 'marker', restored: 2 } });
    for (const h of waiting) expect(await b.result(h.id)).toBe(h === waiting[0] ? 2 : 3);
    expect(sent.sort()).toEqual(['1:' + done.id, '2:' + waiting[0]!.id, '3:order-3'].sort());
    // An id from before the loss that the journal did not hold: a coded error, not a hang.
    await expect(b.result(done.id)).rejects.toMatchObject({ code: 'STORAGE_RESET' });
    // The devtools panel says so too, until dismissed.
    const { render, cleanup } = await import('@testing-library/react');
    const { createElement } = await import('react');
    const { HalfsyncDevtools } = await import('@halfsync/react/devtools');
    render(createElement(HalfsyncDevtools, { client: b, position: 'inline' }));
    expect(document.querySelector('[data-storage-reset]')?.textContent).toContain('STORAGE_RESET');
    await b.acknowledgeStorageReset();
    expect(b.storageReset).toBeUndefined();
    cleanup();
  });

  it('a task whose large payload is kept apart comes back whole, after a runner rewrote its entry from a record without the payload', async () => {
    const db = fresh();
    const a = make(db);
    const text = 'r'.repeat(5_000);
    const h = a.defer(report, { text });
    await expect(h.result).rejects.toMatchObject({ code: 'TASK_FAILED' });
    // The runner's commit of the failure read the record without its payload, and journaled it.
    const raw = await new Promise<{ task: Record<string, unknown>; rows: number }>((resolve, reject) => {
      const req = indexedDB.open(db);
      req.onsuccess = () => {
        const tx = req.result.transaction(['tasks', 'payloads']);
        const t = tx.objectStore('tasks').index('id').get(h.id);
        const rows = tx.objectStore('payloads').count();
        tx.oncomplete = () => { req.result.close(); resolve({ task: t.result as Record<string, unknown>, rows: rows.result }); };
        tx.onerror = () => reject(tx.error);
      };
      req.onerror = () => reject(req.error);
    });
    expect(raw.task).toMatchObject({ status: 'failed', apart: true });
    expect('payload' in raw.task).toBe(false);
    expect(raw.rows).toBe(1);
    a.close();
    clients.length = 0;
    await deleteDb(db);
    open = true;
    const b = make(db);
    await b.ready;
    expect(b.storageReset).toMatchObject({ details: { restored: 1 } });
    expect(b.get(h.id)).toMatchObject({ status: 'failed', payload: { text } });
    await b.retry(h.id);
    expect(await b.result(h.id)).toBe(5_000);
  });

  it('a task deferred by a client without the journal is not restored, and the loss is still said where the journal is used', async () => {
    const db = fresh();
    // The first client made with the journal leaves the marker that says this origin had a queue.
    const first = make(db);
    await first.ready;
    const a = make(db, false);
    expect('storageReset' in a).toBe(false);
    const h = a.defer(order, { n: 4 }, { delay: 60_000 });
    await h.persisted;
    first.close();
    a.close();
    clients.length = 0;
    await deleteDb(db);
    const b = make(db);
    await b.ready;
    expect(b.storageReset).toMatchObject({ code: 'STORAGE_RESET', details: { cause: 'marker', restored: 0 } });
    expect(b.storageReset?.message).toContain('use: [journal]');
    await expect(b.result(h.id)).rejects.toMatchObject({ code: 'STORAGE_RESET' });
  });

  it('quarantines a corrupt or foreign journal entry, and one whose payload its task refuses (credentials), instead of trusting it', async () => {
    const db = fresh();
    const a = make(db);
    const h = await deferFetch(a, '/api/x', { method: 'POST', body: 'ok', headers: { 'x-a': '1' } }, { task: http, delay: 60_000 });
    await h.persisted;
    a.close();
    clients.length = 0;
    const journal = await caches.open(`halfsync:${db}:journal`);
    const [key] = await journal.keys();
    const good = await (await journal.match(key!))!.text();
    const entry = decodeRecord(good) as { db: string; record: { id: string; payload: { headers: Array<[string, string]> } } };
    const stolen = { ...entry, record: { ...entry.record, id: 'stolen', payload: { ...entry.record.payload, headers: [['authorization', 'Bearer secret']] } } };
    await journal.put('/__halfsync/journal/stolen', new Response(encodeRecord(stolen)));
    await journal.put('/__halfsync/journal/garbage', new Response('{not json'));
    await journal.put('/__halfsync/journal/foreign', new Response(encodeRecord({ ...entry, db: 'another-app' })));
    await deleteDb(db);
    const b = make(db);
    await b.ready;
    expect(b.storageReset?.details).toMatchObject({ restored: 1, quarantined: 3 });
    expect(b.get('stolen')).toBeUndefined();
    expect(b.get(h.id)?.status).toBe('pending');
    const q = await b.quarantined();
    expect(q.map((x) => x.reason).join('\n')).toMatch(/refuses[\s\S]*not halfsync's|not halfsync's[\s\S]*refuses/);
    expect(q.some((x) => x.reason.includes('another database'))).toBe(true);
    // The owners' purge clears the journal too.
    await b.purge({ everyone: true });
    expect(await caches.has(`halfsync:${db}:journal`)).toBe(false);
  });

  it('journals only what committed: a defer refused at its commit is never restored', async () => {
    const db = fresh();
    const a = make(db);
    const other = make(db);
    await Promise.all([a.ready, other.ready]);
    await a.signIn('ada');
    for (let i = 0; i < 200 && other.owner !== 'ada'; i++) await new Promise((r) => setTimeout(r, 5));
    await a.signIn('grace');
    // The other tab still believes ada: its defer is refused at the commit.
    const refused = other.defer(order, { n: 5 }, { delay: 60_000 });
    await expect(refused.persisted).rejects.toMatchObject({ code: 'OWNER_CHANGED' });
    const kept = a.defer(order, { n: 6 }, { delay: 60_000 });
    await kept.persisted;
    a.close();
    other.close();
    clients.length = 0;
    await deleteDb(db);
    const b = make(db);
    await b.ready;
    expect(b.storageReset?.details).toMatchObject({ restored: 1 });
    // Who was signed in was lost with the database: the app signs its user in again.
    await b.signIn('grace');
    for (let i = 0; i < 200 && !b.get(kept.id); i++) await new Promise((r) => setTimeout(r, 5));
    expect(b.get(kept.id)?.status).toBe('pending');
    await expect(b.result(refused.id)).rejects.toMatchObject({ code: 'STORAGE_RESET' });
  });

  it('follows update() and a supersede, keeps parent links (a child of an unfinished parent runs after it; a child of a parent that had succeeded runs)', async () => {
    const db = fresh();
    const a = make(db, true, false);
    open = true;
    const parentDone = a.defer(order, { n: 10 });
    await parentDone.persisted;
    await a.drain();
    expect(await parentDone.result).toBe(10);
    open = false;
    const childOfDone = a.defer(order, { n: 11 }, { after: [parentDone] });
    const parentWaiting = a.defer(order, { n: 12 });
    const childOfWaiting = a.defer(order, { n: 13 }, { after: [parentWaiting] });
    const edited = a.defer(order, { n: 14 });
    const first = a.defer(order, { n: 15 }, { supersede: 'note' });
    await Promise.all([childOfDone, parentWaiting, childOfWaiting, edited, first].map((h) => h.persisted));
    const second = a.defer(order, { n: 16 }, { supersede: 'note' });
    await second.persisted;
    await a.update(edited.id, { n: 140 });
    // Give the journal's asynchronous writes of those changes their moment.
    await new Promise((r) => setTimeout(r, 100));
    a.close();
    clients.length = 0;
    await deleteDb(db);
    open = true;
    const b = make(db, true, false);
    await b.ready;
    for (let i = 0; i < 5; i++) await b.drain();
    expect(await b.result(childOfDone.id)).toBe(11);
    expect(await b.result(childOfWaiting.id)).toBe(13);
    expect(await b.result(edited.id)).toBe(140);
    expect(await b.result(second.id)).toBe(16);
    expect(b.get(first.id)).toBeUndefined();
    const ns = sent.map((x) => Number(x.split(':')[0]));
    expect(ns.filter((x) => x === 15 || x === 14)).toEqual([]);
    expect(ns.indexOf(12)).toBeLessThan(ns.indexOf(13));
  });

  it('refuses a journal entry a defer would refuse (an own __proto__ key, a payload over the limit)', async () => {
    const db = fresh();
    const a = make(db);
    const h = a.defer(order, { n: 20 }, { delay: 60_000 });
    await h.persisted;
    a.close();
    clients.length = 0;
    const journal = await caches.open(`halfsync:${db}:journal`);
    const [key] = await journal.keys();
    const entry = decodeRecord(await (await journal.match(key!))!.text()) as { db: string; record: { id: string; payload: unknown } };
    const proto = JSON.parse('{"n": 1, "__proto__": {"polluted": true}}') as unknown;
    await journal.put('/__halfsync/journal/proto', new Response(encodeRecord({ ...entry, record: { ...entry.record, id: 'proto', payload: proto } })));
    await journal.put('/__halfsync/journal/huge', new Response(encodeRecord({ ...entry, record: { ...entry.record, id: 'huge', payload: { n: 1, pad: 'x'.repeat(1_100_000) } } })));
    await deleteDb(db);
    const b = make(db);
    await b.ready;
    expect(b.storageReset?.details).toMatchObject({ restored: 1, quarantined: 2 });
    expect(b.get('proto')).toBeUndefined();
    expect(b.get('huge')).toBeUndefined();
  });

  it('reports the loss even when restoring from the journal fails', async () => {
    const db = fresh();
    const a = make(db);
    const h = a.defer(order, { n: 30 }, { delay: 60_000 });
    await h.persisted;
    a.close();
    clients.length = 0;
    await deleteDb(db);
    // The journal cannot be read back this time.
    const realOpen = caches.open.bind(caches);
    let calls = 0;
    caches.open = (name: string) => (name.endsWith(':journal') && calls++ >= 0 ? Promise.reject(new Error('the journal is unreadable')) : realOpen(name));
    try {
      const b = make(db);
      await b.ready;
      expect(b.storageReset).toMatchObject({ code: 'STORAGE_RESET', details: { cause: 'marker', restored: 0 } });
      expect((b.storageReset?.details as { restoreError?: string }).restoreError).toContain('unreadable');
      b.close();
      clients.length = 0;
      // And on every later open, until acknowledged.
      const c = make(db);
      await c.ready;
      expect(c.storageReset?.code).toBe('STORAGE_RESET');
    } finally {
      caches.open = realOpen;
    }
  });

  it('a tab that loads while a runner still restores reads the loss at ready, then gets the restored tasks; an acknowledgement reaches every tab', async () => {
    const db = fresh();
    const a = make(db, true, false);
    const h = a.defer(order, { n: 40 }, { delay: 60_000 });
    await h.persisted;
    a.close();
    clients.length = 0;
    await deleteDb(db);
    // A runner (the worker, say) opens the new database first; its restore is slow.
    let go!: () => void;
    const gate = new Promise<void>((r) => { go = r; });
    const base = recovery(db, (r) => restorable(new Map(tasks.map((t) => [t.name, t])), 1_048_576, r));
    const runner = new TaskStore(db, undefined, { ...base, after: async (...args) => { await gate; return base.after(...args); } });
    const opening = runner.db();
    // Until its upgrade (which records the loss) is done; listing databases opens none.
    for (let i = 0; i < 200 && !(await indexedDB.databases()).some((d) => d.name === db && (d.version ?? 0) > 0); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    const b = make(db, true, false);
    await b.ready;
    expect(b.storageReset).toMatchObject({ code: 'STORAGE_RESET', details: { cause: 'marker' } });
    expect(b.get(h.id)).toBeUndefined();
    go();
    await opening;
    // The runner says so once restored (the worker does after its first drain).
    const channel = new BroadcastChannel(`halfsync:${db}`);
    channel.postMessage({ t: 'reset', info: runner.reset });
    channel.close();
    for (let i = 0; i < 200 && !b.get(h.id); i++) await new Promise((r) => setTimeout(r, 10));
    expect(b.get(h.id)?.status).toBe('pending');
    expect(b.storageReset?.details).toMatchObject({ restored: 1 });
    runner.close();
    const c = make(db, true, false);
    await c.ready;
    expect(c.storageReset?.code).toBe('STORAGE_RESET');
    await b.acknowledgeStorageReset();
    for (let i = 0; i < 200 && c.storageReset; i++) await new Promise((r) => setTimeout(r, 10));
    expect(c.storageReset).toBeUndefined();
  });

  it('recoverStorage() deletes the database; the next client reports STORAGE_RESET and restores from the journal', async () => {
    const db = fresh();
    const a = make(db, true, false);
    const h = a.defer(order, { n: 50 }, { delay: 60_000 });
    await h.persisted;
    a.close();
    clients.length = 0;
    await recoverStorage(db);
    const b = make(db, true, false);
    await b.ready;
    expect(b.storageReset).toMatchObject({ code: 'STORAGE_RESET', details: { restored: 1 } });
    expect(b.get(h.id)?.status).toBe('pending');
    // A connection that does not let go (not a halfsync client: those close when asked) makes the deletion wait, then say why.
    const holder = await new Promise<IDBDatabase>((res) => { const r = indexedDB.open(db); r.onsuccess = () => res(r.result); });
    await expect(recoverStorage(db, 200)).rejects.toMatchObject({ code: 'STORAGE_BLOCKED' });
    holder.close();
  });
});
