// The cross-engine scenarios: one definition each, run unchanged in Chromium, Firefox ESR and
// WebKitGTK (see suite.ts). Each proves one guarantee of halfsync in the engine's own path:
// Background Sync in Chromium, messages to the worker in Firefox and WebKit (no SyncManager),
// and the page runner wherever there is no worker.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
// @ts-expect-error -- a plain .mjs helper shared with the scripts (no declarations)
import { firefoxPath } from '../../scripts/browsers.mjs';
import { expect } from 'vitest';
import type { ClientMode, Task } from '@halfsync/core';
import type { HalfsyncKit, KitOptions } from '@halfsync/core/testing';
import { deferOps, inApp, openApp } from './app';
import type { EngineDriver, EngineName, EnginePage } from './drivers';
import { until, type Received, type ServerApi, type ServerLog } from './server';

export interface ScenarioContext {
  readonly engine: EngineName;
  readonly driver: EngineDriver;
  /** The driver's first page, reused by every scenario. */
  readonly page: EnginePage;
  /** The test server's origin for this engine. */
  readonly origin: string;
  readonly server: ServerApi;
  /** The path a page with the app's service worker should take in this engine. */
  readonly workerMode: Exclude<ClientMode, 'starting' | 'page'>;
  /** Opens another page of the same profile; closed after the scenario. */
  newPage(): Promise<EnginePage>;
  /** The test kit on `page` (disposed after the scenario). */
  kit(page: EnginePage, options?: KitOptions): Promise<HalfsyncKit>;
  /** A detail for the report. */
  note(text: string): void;
  /** Something this engine cannot do; reported as "not possible in <engine>: <what>: <why>". */
  notPossible(what: string, why: string): void;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  run(ctx: ScenarioContext): Promise<void>;
}

/** The two ways to run tasks that every engine has: its service-worker path, and the page runner. */
const variants = (ctx: ScenarioContext, db: string) => [
  { mode: ctx.workerMode as ClientMode, query: '', db: 'halfsync' },
  { mode: 'page' as ClientMode, query: `sw=0&db=${db}`, db },
];

const ready = (page: EnginePage): Promise<ClientMode> => inApp(page, (hs) => hs.client.ready);

/** How many requests of each key the server received with each outcome. */
const countBy = (l: ServerLog, pick: (r: Received) => boolean): Map<string, number> => {
  const m = new Map<string, number>();
  for (const r of l.received) if (pick(r)) m.set(r.key, (m.get(r.key) ?? 0) + 1);
  return m;
};

const mine = (tasks: readonly Task[], ids: readonly string[]): Task[] =>
  ids.map((id) => tasks.find((t) => t.id === id)).filter((t): t is Task => t !== undefined);

// ---- 1 --------------------------------------------------------------------------------------

const choosesPath: Scenario = {
  id: '1',
  title: '1. createClient picks its path by itself (worker, no worker, failed registration)',
  async run(ctx) {
    const { page, origin } = ctx;
    await page.goto(`${origin}/?autostart=0`);
    const start = await page.evaluate(async () => ({
      registrations: (await navigator.serviceWorker.getRegistrations()).length,
      syncManager: 'SyncManager' in window,
      locks: 'locks' in navigator,
      broadcastChannel: typeof BroadcastChannel === 'function',
    }), undefined);
    expect(start.registrations, 'a fresh profile has no service worker yet').toBe(0);
    expect(start.syncManager, 'SyncManager exactly where the sync path is expected').toBe(ctx.workerMode === 'sync');
    expect(start).toMatchObject({ locks: true, broadcastChannel: true });

    // A worker script that 404s: registration fails and the client falls back to the page runner,
    // saying why; the fallback really runs tasks.
    expect(await openApp(page, origin, 'swurl=/no-such-worker.js&db=s1-failed')).toBe('page');
    const failed = await inApp(page, (hs) => ({ mode: hs.client.mode, code: hs.client.modeReason?.code, message: hs.client.modeReason?.message }));
    expect(failed).toMatchObject({ mode: 'page', code: 'WORKER_UNAVAILABLE' });
    const [fallbackTask] = await deferOps(page, [1]);
    await (await ctx.kit(page, { dbName: 's1-failed' })).waitForTask(fallbackTask!, 'succeeded');
    ctx.note(`404 worker -> page: ${failed.message?.slice(0, 120)}`);

    // serviceWorker: false -> the page runner, with no reason to report.
    expect(await openApp(page, origin, 'sw=0&db=s1-page')).toBe('page');
    expect(await inApp(page, (hs) => hs.client.modeReason?.code ?? null)).toBeNull();

    // The app's worker -> Background Sync where the engine has it, messages where it does not.
    expect(await openApp(page, origin)).toBe(ctx.workerMode);
    const withWorker = await inApp(page, async (hs) => {
      const reg = await navigator.serviceWorker.ready;
      // `ready` resolves once the worker is active, possibly still finishing its activation.
      const state = reg.active?.state;
      return { mode: hs.client.mode, reason: hs.client.modeReason?.code ?? null, hasSync: 'sync' in reg, active: state === 'activating' ? 'activated' : state ?? null };
    });
    expect(withWorker).toEqual({ mode: ctx.workerMode, reason: null, hasSync: ctx.workerMode === 'sync', active: 'activated' });
    ctx.note(`worker -> ${withWorker.mode}; sw=0 -> page; 404 -> page (WORKER_UNAVAILABLE)`);
  },
};

// ---- 2 --------------------------------------------------------------------------------------

const persists: Scenario = {
  id: '2',
  title: '2. deferred tasks persist, survive a reload and complete once each',
  async run(ctx) {
    const { page, origin, server } = ctx;
    for (const v of variants(ctx, 's2-page')) {
      await server.control({ reset: true });
      expect(await openApp(page, origin, v.query)).toBe(v.mode);
      // A delay keeps them pending across the reload without touching the network (4 s: the
      // reload and the read below take well under that, even on a loaded machine).
      const ids = await deferOps(page, [1, 2, 3], { delay: 4_000 });
      expect((await server.log()).received, 'nothing sent before the delay').toHaveLength(0);
      await page.reload();
      expect(await ready(page)).toBe(v.mode);
      const kit = await ctx.kit(page, { dbName: v.db });
      expect(mine(await kit.tasks(), ids).map((t) => t.status), `${v.mode}: on disk after the reload`).toEqual(['pending', 'pending', 'pending']);
      const l = await server.until((x) => x.applied.length === 3, 'three effects', 20_000);
      const keys = mine(await kit.tasks(), ids).map((t) => t.idempotencyKey);
      expect([...countBy(l, () => true).entries()].sort(), `${v.mode}: each received once, with its key`).toEqual(keys.map((k) => [k, 1]).sort());
      expect(l.received.every((r) => r.status === 200 && !r.dup)).toBe(true);
      // A page opened afterwards sees them succeeded.
      const later = await ctx.newPage();
      expect(await openApp(later, origin, v.query)).toBe(v.mode);
      const done = mine(await (await ctx.kit(later, { dbName: v.db })).waitForIdle(), ids);
      expect(done.map((t) => [t.id, t.status])).toEqual(ids.map((id) => [id, 'succeeded']));
      expect(done.map((t) => (t.result as { dup: boolean }).dup)).toEqual([false, false, false]);
      await later.close();
    }
    ctx.note(`${ctx.workerMode} and page: pending after reload, 3 keys once each, succeeded in a later page`);
  },
};

// ---- 3 --------------------------------------------------------------------------------------

const serverDown: Scenario = {
  id: '3',
  title: '3. server down: nothing lost; drain(), online or a page load completes; Retry-After held',
  async run(ctx) {
    const { page, origin, server } = ctx;
    expect(await openApp(page, origin)).toBe(ctx.workerMode);
    const kit = await ctx.kit(page);
    const all: string[] = [];
    let n = 10;
    for (const trigger of ['drain', 'online', 'load'] as const) {
      await server.control({ default: { down: true } });
      const ids = await deferOps(page, [n++, n++]);
      all.push(...ids);
      // Each task has failed against the dead server and waits, on disk, for another attempt.
      await server.until((l) => ids.every((id) => l.received.some((r) => r.key === id && r.behaviour === 'down')), `a failed attempt of each task (${trigger})`);
      await until(async () => {
        const ts = mine(await kit.tasks(), ids);
        // A refused connection is unreachable: counted apart, never as an attempt.
        return ts.length === ids.length && ts.every((t) => t.unreachable >= 1 && t.attempts <= 1 && t.lastError?.code === 'NETWORK_ERROR' && (t.status === 'pending' || t.status === 'running')) ? ts : undefined;
      }, `the unreachable tries recorded (${trigger})`);
      if (trigger === 'load') await page.goto('about:blank'); // the page is gone while the server is down
      await server.control({ default: { status: 200 } });
      if (trigger === 'drain') await inApp(page, (hs) => hs.client.drain());
      if (trigger === 'online') await page.evaluate(() => { window.dispatchEvent(new Event('online')); }, undefined);
      if (trigger === 'load') expect(await openApp(page, origin)).toBe(ctx.workerMode);
      for (const id of ids) await kit.waitForTask(id, 'succeeded', { timeoutMs: 15_000 });
    }
    const l = await server.log();
    const ok = countBy(l, (r) => r.status === 200);
    expect(all.map((id) => ok.get(id) ?? 0), 'every task reached the server once').toEqual(all.map(() => 1));
    expect(l.received.filter((r) => r.dup)).toEqual([]);
    expect(l.overlaps).toEqual([]);

    // 429 with Retry-After: 2. Wake the runner every way a page can while the server's wait
    // runs; none of them may send before the server said.
    await server.control({ reset: true });
    await server.control({ script: [{ status: 429, retryAfter: 2 }] });
    const [id] = await deferOps(page, [99]);
    await until(async () => ((await kit.tasks()).find((t) => t.id === id)?.lastError?.code === 'HTTP_429' ? true : undefined), 'the 429 recorded');
    await inApp(page, (hs) => hs.client.drain());
    await page.evaluate(() => { window.dispatchEvent(new Event('online')); }, undefined);
    await kit.waitForTask(id!, 'succeeded');
    const [first, second] = (await server.log()).received;
    expect(first?.status).toBe(429);
    expect(second!.at - first!.at, 'the second attempt waited for Retry-After').toBeGreaterThanOrEqual(2_000);
    ctx.note(`6 tasks through a dead server, once each; Retry-After 2 s -> next attempt after ${second!.at - first!.at} ms`);
  },
};

// ---- 4 --------------------------------------------------------------------------------------

const twoPages: Scenario = {
  id: '4',
  title: '4. two pages at once: both see every status live; each task runs once',
  async run(ctx) {
    const { page, origin, server } = ctx;
    for (const v of variants(ctx, 's4-page')) {
      await server.control({ reset: true });
      expect(await openApp(page, origin, v.query)).toBe(v.mode);
      const other = await ctx.newPage();
      expect(await openApp(other, origin, v.query)).toBe(v.mode);
      await server.control({ default: { status: 200, delayMs: 150 } });
      const ids = await deferOps(page, [1, 2, 3, 4, 5, 6]);
      await (await ctx.kit(other, { dbName: v.db })).waitForIdle({ timeoutMs: 20_000 });
      for (const [label, p] of [['deferring page', page], ['other page', other]] as const) {
        // Each page's own client published every status change it heard of, as it happened.
        const seen = await until(async () => {
          const s = await inApp(p, (hs, a) => a.map((id) => hs.events.map((e) => e.statuses[e.ids.indexOf(id)]).filter(Boolean)), ids);
          return s.every((x) => x.at(-1) === 'succeeded') ? s : undefined;
        }, `the ${label} to see every task succeed`);
        // Snapshot notifications are coalesced (a subscriber sees the latest state of a burst), so
        // the brief `pending` of a task another tab deferred may be folded into `running`; the
        // deferring page saw it at once, in defer() itself.
        const expected = label === 'deferring page' ? ['pending', 'running', 'succeeded'] : ['running', 'succeeded'];
        for (const statuses of seen) expect(statuses, `${v.mode}: ${label}`).toEqual(expect.arrayContaining(expected));
      }
      const l = await server.log();
      expect([...countBy(l, () => true).values()], `${v.mode}: each task sent once`).toEqual([1, 1, 1, 1, 1, 1]);
      expect(l.overlaps).toEqual([]);
      await other.close();
    }
    ctx.note(`${ctx.workerMode} and page: 6 tasks, both pages saw pending/running/succeeded, no overlaps`);
  },
};

// ---- 5 --------------------------------------------------------------------------------------

const orderKeys: Scenario = {
  id: '5',
  title: '5. order keys hold across a reload, with the head of the lane retried',
  async run(ctx) {
    const { page, origin, server } = ctx;
    expect(await openApp(page, origin)).toBe(ctx.workerMode);
    await server.control({ default: { down: true } });
    const first = await deferOps(page, [1, 2, 3], { orderKey: 'stats' });
    await server.until((l) => l.received.some((r) => r.key === first[0]), 'the head of the lane to be tried');
    await page.reload();
    expect(await ready(page)).toBe(ctx.workerMode);
    const second = await deferOps(page, [4, 5], { orderKey: 'stats' });
    await server.control({ default: { status: 200 }, script: [{ status: 500 }, { status: 500 }] });
    const kit = await ctx.kit(page);
    const ids = [...first, ...second];
    for (const id of ids) await kit.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
    const l = await server.log();
    expect(l.received.filter((r) => r.status === 200).map((r) => r.body?.n), 'the lane ran in deferral order').toEqual([1, 2, 3, 4, 5]);
    const firstOk = l.received.findIndex((r) => r.status === 200);
    const beforeOk = l.received.slice(0, firstOk);
    expect(beforeOk.every((r) => r.key === first[0]), 'nothing behind the head ran while it failed').toBe(true);
    expect(beforeOk.filter((r) => r.behaviour === '500')).toHaveLength(2);
    expect(mine(await kit.tasks(), ids).map((t) => t.orderKey)).toEqual(ids.map(() => 'stats'));
    ctx.note(`head failed ${beforeOk.length} times (down, then 500 x2) before 1..5 ran in order`);
  },
};

// ---- 6 --------------------------------------------------------------------------------------

const BODY_KINDS = ['text', 'json', 'arraybuffer', 'blob', 'formdata', 'urlsearchparams'] as const;

interface Part { name: string | null; filename: string | null; type: string | null; size: number; sha256: string }

/** Splits a multipart/form-data body into its parts (names, file names, types, content hashes). */
function multipartParts(base64: string, contentType: string): Part[] {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = m?.[1] ?? m?.[2];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const body = Buffer.from(base64, 'base64');
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Part[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) throw new Error('an unterminated multipart body');
    const chunk = body.subarray(start + 2, next - 2); // the CRLFs around each delimiter
    const split = chunk.indexOf('\r\n\r\n');
    const head = chunk.subarray(0, split).toString('utf8');
    const content = chunk.subarray(split + 4);
    parts.push({
      name: /\bname="([^"]*)"/.exec(head)?.[1] ?? null,
      filename: /\bfilename="([^"]*)"/.exec(head)?.[1] ?? null,
      type: /content-type:\s*([^\r\n]+)/i.exec(head)?.[1]?.trim() ?? null,
      size: content.byteLength,
      sha256: createHash('sha256').update(content).digest('hex'),
    });
    at = next;
  }
  return parts;
}

const httpBodies: Scenario = {
  id: '6',
  title: '6. durable HTTP task: every body kind replays as a direct fetch sends it',
  async run(ctx) {
    const { page, origin, server } = ctx;
    expect(await openApp(page, origin)).toBe(ctx.workerMode);
    // Each body kind twice: sent by a direct fetch, and deferred with deferFetch (with a stale
    // Authorization header that must not be stored). Bodies are built anew for each request.
    const ids = await inApp(page, async (hs, kinds) => {
      const bytes = new Uint8Array(256);
      for (let i = 0; i < 256; i++) bytes[i] = i;
      const make = (kind: string): { method: string; headers: Record<string, string>; body: BodyInit } => {
        if (kind === 'text') return { method: 'POST', headers: {}, body: 'héllo wörld ✓, plain text' };
        if (kind === 'json') return { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1, b: 'ü', list: [1, 2, 3] }) };
        if (kind === 'arraybuffer') return { method: 'POST', headers: {}, body: bytes.slice().buffer };
        if (kind === 'blob') return { method: 'POST', headers: {}, body: new Blob([bytes, 'tail ✓'], { type: 'image/x-test' }) };
        if (kind === 'formdata') {
          const fd = new FormData();
          fd.append('title', 'Grüße & more');
          fd.append('photo', new File([bytes], 'photo-ü.bin', { type: 'application/x-photo' }));
          fd.append('notes', new File(['line 1\r\nline 2'], 'notes.txt', { type: 'text/plain' }));
          fd.append('title', 'a second value');
          // What encoders must escape or normalise: quotes and line breaks in names, lone CR/LF in values, a Blob without a type.
          fd.append('odd "name"\nhere', 'one\ntwo\rthree');
          fd.append('raw', new Blob([bytes.subarray(0, 16)]));
          return { method: 'POST', headers: {}, body: fd };
        }
        return { method: 'POST', headers: {}, body: new URLSearchParams({ q: 'a b&c=d', x: 'ü' }) };
      };
      const out: Record<string, string> = {};
      for (const kind of kinds) {
        const direct = make(kind);
        const res = await fetch('/api/echo', { ...direct, headers: { ...direct.headers, 'idempotency-key': `direct-${kind}` } });
        if (!res.ok) throw new Error(`direct fetch of ${kind}: ${res.status}`);
        const deferred = make(kind);
        out[kind] = await hs.deferFetch('/api/echo', { ...deferred, headers: { ...deferred.headers, 'idempotency-key': `replay-${kind}`, authorization: 'Bearer stale-at-defer' } });
      }
      return out;
    }, [...BODY_KINDS]);

    // The raw IndexedDB records, as stored: no Authorization, bodies as text or an ArrayBuffer.
    const stored = await page.evaluate(async (ids) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const q = indexedDB.open('halfsync');
        q.onsuccess = () => resolve(q.result);
        q.onerror = () => reject(q.error);
      });
      const all = await new Promise<Array<{ id: string; payload: { headers: Array<[string, string]>; strippedHeaders?: string[]; body?: { kind: string; text?: unknown; bytes?: unknown } } }>>((resolve, reject) => {
        // Plain tasks wait in the inbox until a runner moves them into tasks (schema 8); a large
        // payload is kept apart, in payloads, by task id (schema 9).
        const tx = db.transaction(['tasks', 'inbox', 'payloads']);
        const reads = [tx.objectStore('tasks').getAll(), tx.objectStore('inbox').getAll()];
        const rows = tx.objectStore('payloads').getAll();
        tx.oncomplete = () => {
          const byId = new Map((rows.result as Array<{ id: string; payload: unknown }>).map((p) => [p.id, p.payload]));
          resolve(reads.flatMap((q) => q.result).map((r) => (r.apart === true ? { ...r, payload: byId.get(r.id) } : r)));
        };
        tx.onerror = () => reject(tx.error);
      });
      db.close();
      const hex = async (data: BufferSource) => [...new Uint8Array(await crypto.subtle.digest('SHA-256', data))].map((b) => b.toString(16).padStart(2, '0')).join('');
      const out: Record<string, { headers: string[]; stripped: string[]; kind: string | null; storedAs: string; sha256: string | null; contentType: string | null }> = {};
      for (const [kind, id] of Object.entries(ids)) {
        const r = all.find((x) => x.id === id);
        if (!r) throw new Error(`no stored record for ${kind}`);
        const body = r.payload.body;
        const value = body?.kind === 'text' ? body.text : body?.bytes;
        const storedAs = typeof value === 'string' ? 'string' : Object.prototype.toString.call(value);
        out[kind] = {
          headers: r.payload.headers.map(([k]) => k),
          stripped: r.payload.strippedHeaders ?? [],
          kind: body?.kind ?? null,
          storedAs,
          sha256: typeof value === 'string' ? await hex(new TextEncoder().encode(value)) : value instanceof ArrayBuffer ? await hex(value) : null,
          contentType: r.payload.headers.find(([k]) => k === 'content-type')?.[1] ?? null,
        };
      }
      return out;
    }, ids);

    const kit = await ctx.kit(page);
    for (const id of Object.values(ids)) await kit.waitForTask(id, 'succeeded');
    const l = await server.log();
    const found = (key: string): Received => successfulRequest(l.received, key);
    for (const kind of BODY_KINDS) {
      const s = stored[kind]!;
      expect(s.headers, `${kind}: stored headers`).not.toContain('authorization');
      expect(s.stripped, `${kind}: the stripped header is named`).toContain('authorization');
      expect(s.storedAs, `${kind}: stored as text or an ArrayBuffer`).toBe(kind === 'text' || kind === 'json' ? 'string' : '[object ArrayBuffer]');
      const direct = found(`direct-${kind}`);
      const replay = found(`replay-${kind}`);
      expect(replay.headers?.authorization, `${kind}: the credentials hook ran at replay`).toBe('Bearer fresh-at-replay');
      expect(replay.sha256, `${kind}: the replay sent the stored bytes`).toBe(s.sha256);
      expect(replay.headers?.['content-type'] ?? null, `${kind}: the replay sent the stored content type`).toBe(s.contentType);
      if (kind === 'formdata') {
        // Each serialization draws its own boundary, so compare the parts, not the bytes.
        expect(replay.headers?.['content-type']).toMatch(/^multipart\/form-data; ?boundary=/);
        expect(direct.headers?.['content-type']?.split(';')[0]).toBe('multipart/form-data');
        const parts = multipartParts(replay.bodyBase64!, replay.headers!['content-type']!);
        expect(parts, 'formdata: field names, file names, types and contents as a direct fetch').toEqual(multipartParts(direct.bodyBase64!, direct.headers!['content-type']!));
        expect(parts.map((p) => [p.name, p.filename, p.type])).toEqual([
          ['title', null, null], ['photo', 'photo-ü.bin', 'application/x-photo'], ['notes', 'notes.txt', 'text/plain'], ['title', null, null],
          ['odd %22name%22%0D%0Ahere', null, null], ['raw', 'blob', 'application/octet-stream'],
        ]);
      } else {
        expect(replay.sha256, `${kind}: the same bytes as a direct fetch`).toBe(direct.sha256);
        expect(replay.headers?.['content-type'] ?? null, `${kind}: the same content type as a direct fetch`).toBe(direct.headers?.['content-type'] ?? null);
      }
    }
    // Which encoder produced the stored multipart body: the browser's, or halfsync's own (WebKit).
    const boundary = /boundary=(-*[A-Za-z]*?boundary)/i.exec(found('replay-formdata').headers?.['content-type'] ?? '')?.[1];
    ctx.note(`6 body kinds as a direct fetch sends them (multipart boundary ${boundary}...); text/json stored as text, others as ArrayBuffer; Authorization stripped, fresh at replay`);
  },
};

// ---- 7 --------------------------------------------------------------------------------------

const EXPECTED_CODES = {
  unknownTask: 'UNKNOWN_TASK',
  function: 'PAYLOAD_NOT_CLONEABLE',
  blob: 'PAYLOAD_NOT_CLONEABLE',
  tooLarge: 'PAYLOAD_TOO_LARGE',
  unsafeKey: 'PAYLOAD_UNSAFE_KEY',
  negativeDelay: 'INVALID_OPTIONS',
  unknownOption: 'INVALID_OPTIONS',
  otherOrigin: 'ORIGIN_NOT_ALLOWED',
  streamBody: 'BODY_NOT_REPLAYABLE',
};

const codedErrors: Scenario = {
  id: '7',
  title: '7. bad input gives the same coded errors, before anything is stored',
  async run(ctx) {
    const { page, origin, server } = ctx;
    expect(await openApp(page, origin)).toBe(ctx.workerMode);
    const out = await inApp(page, async (hs) => {
      const name = (e: unknown) => `${(e as { name?: string })?.name}: ${(e as { code?: string })?.code ?? (e as Error)?.message}`;
      const sync = (f: () => unknown): string => { try { f(); return 'no error'; } catch (e) { return name(e); } };
      const later = async (f: () => Promise<unknown>): Promise<string> => { try { await f(); return 'no error'; } catch (e) { return name(e); } };
      const c = hs.client;
      const before = c.getSnapshot().length;
      const codes = {
        unknownTask: sync(() => c.defer({ ...hs.postOp } as typeof hs.postOp, { n: 1 })),
        function: sync(() => c.defer(hs.postOp, { n: 1, note: (() => 1) as unknown as string })),
        blob: sync(() => c.defer(hs.postOp, { n: 1, note: new Blob(['x']) as unknown as string })),
        tooLarge: sync(() => c.defer(hs.postOp, { n: 1, note: 'x'.repeat(1_100_000) })),
        unsafeKey: sync(() => c.defer(hs.postOp, JSON.parse('{"n":1,"__proto__":{"admin":true}}') as { n: number })),
        negativeDelay: sync(() => c.defer(hs.postOp, { n: 1 }, { delay: -1 })),
        unknownOption: sync(() => c.defer(hs.postOp, { n: 1 }, { retries: 3 } as object)),
        otherOrigin: await later(() => hs.deferFetch('https://example.com/api/echo', { method: 'POST', body: 'x' })),
        streamBody: await later(() => hs.deferFetch('/api/echo', {
          method: 'POST', duplex: 'half',
          body: new ReadableStream({ start(k) { k.enqueue(new Uint8Array([1, 2, 3])); k.close(); } }),
        } as RequestInit)),
      };
      return { codes, added: c.getSnapshot().length - before };
    });
    const expected = Object.fromEntries(Object.entries(EXPECTED_CODES).map(([k, code]) => [k, `HalfsyncError: ${code}`]));
    expect(out.codes).toEqual(expected);
    expect(out.added, 'nothing entered the queue').toBe(0);
    expect((await server.log()).received, 'nothing was sent').toEqual([]);
    ctx.note(`${Object.keys(EXPECTED_CODES).length} cases, HalfsyncError with the same code as in every engine`);
  },
};

// ---- 8 --------------------------------------------------------------------------------------

const devtoolsOnly: Scenario = {
  id: '8',
  title: '8. DevTools-only: dispatch a sync event, kill the worker mid-task',
  async run(ctx) {
    const { page, origin, server } = ctx;
    expect(await openApp(page, origin)).toBe(ctx.workerMode);
    const kit = await ctx.kit(page);
    if (kit.engine !== 'chromium') {
      // The kit must refuse loudly, with a coded error that says what to do instead.
      const refused = async (call: () => Promise<unknown>): Promise<string> => {
        const error = await call().then(() => undefined, (e: unknown) => e as { code?: string; message?: string });
        expect(error?.code).toBe('UNSUPPORTED_ENGINE');
        return error?.message ?? '';
      };
      const sync = await refused(() => kit.sync());
      ctx.notPossible('dispatch a Background Sync event', `the engine has no SyncManager (tasks take the message path) and ${sync}`);
      ctx.notPossible('kill the service worker mid-task', await refused(() => kit.stopWorker()));
      ctx.notPossible('take the worker offline', await refused(() => kit.offline()));
      return;
    }
    // A worker stopped mid-request: the task runs again with the same key; the effect applies once.
    await server.control({ script: [{ status: 200, delayMs: 1_500 }] });
    const [id] = await deferOps(page, [7]);
    await kit.stopWorker({ when: () => server.until((l) => l.received.length === 1, 'the first request') });
    const task = await kit.waitForTask(id!, 'succeeded', { timeoutMs: 20_000 });
    const l = await server.log();
    expect(l.received.map((r) => r.key)).toEqual([task.idempotencyKey, task.idempotencyKey]);
    expect(l.received[0]!.clientGone).toBe(true);
    expect(l.applied.filter((a) => a.key === task.idempotencyKey)).toHaveLength(1);
    expect(l.overlaps).toEqual([]);
    // A sync event dispatched through the DevTools Protocol reaches the worker and ends.
    const reports = await kit.sync();
    expect(reports.length).toBeGreaterThan(0);
    expect(reports.every((r) => r.outcome === 'done')).toBe(true);
    ctx.note(`worker killed mid-request: 2 attempts, 1 effect; dispatched sync -> ${reports.map((r) => r.outcome).join(',')}`);
  },
};

// ---- 9 --------------------------------------------------------------------------------------

const deferFast = (page: EnginePage, n: number): Promise<string> => inApp(page, (hs, x) => hs.deferFast({ n: x }), n);

const patient: Scenario = {
  id: '9',
  title: '9. offline or refused for longer than the attempt budget: tasks wait with no attempt used, then complete once',
  async run(ctx) {
    const { page, origin, server } = ctx;
    const notes: string[] = [];
    for (const v of variants(ctx, 's9-page')) {
      await server.control({ reset: true });
      expect(await openApp(page, origin, v.query)).toBe(v.mode);
      const kit = await ctx.kit(page, { dbName: v.db });

      // The server refuses connections: twelve tries of a task allowed three attempts.
      await server.control({ default: { down: true } });
      const refused = await deferFast(page, 1);
      await server.until((l) => l.received.filter((r) => r.key === refused && r.behaviour === 'down').length >= 12, `twelve refused tries (${v.mode})`, 30_000);
      // The record follows the server by a try or two (each try's settlement commits after it).
      const waiting = await until(async () => {
        const [t] = mine(await kit.tasks(), [refused]);
        return t && t.unreachable >= 9 ? t : undefined;
      }, `nine unreachable tries recorded (${v.mode})`);
      expect(waiting?.lastError?.kind, `${v.mode}: unreachable, not a failure`).toBe('unreachable');
      expect(waiting!.attempts, `${v.mode}: no attempt used (1 only while a try is in flight)`).toBeLessThanOrEqual(1);
      expect(waiting!.unreachable, `${v.mode}: counted apart`).toBeGreaterThanOrEqual(9);
      await server.control({ default: { status: 200 } });
      const done = await kit.waitForTask(refused, 'succeeded', { timeoutMs: 20_000 });
      expect(done.attempts).toBe(1);
      expect((await server.log()).applied.map((a) => a.key), `${v.mode}: once, with its key`).toEqual([done.idempotencyKey]);
      notes.push(`${v.mode}: ${done.unreachable} refused tries, 1 attempt`);

      // The browser offline, where the engine can be switched: nothing is tried at all. Firefox's
      // switch (WebDriver BiDi) takes the page offline but not its service worker, so there it
      // proves the page runner only.
      const switchNetwork = kit.engine === 'chromium' ? (off: boolean) => (off ? kit.offline() : kit.online())
        : v.mode === 'page' ? page.setOffline : undefined;
      if (!switchNetwork) continue;
      await server.control({ reset: true });
      await switchNetwork(true);
      const offline = await deferFast(page, 2);
      for (let i = 0; i < 5; i++) {
        await inApp(page, (hs) => hs.client.drain().catch(() => null));
        await new Promise((r) => setTimeout(r, 100));
      }
      const [held] = mine(await kit.tasks(), [offline]);
      expect(held, `${v.mode}: pending offline, no attempt, no try`).toMatchObject({ status: 'pending', attempts: 0 });
      expect((await server.log()).received, `${v.mode}: nothing sent offline`).toEqual([]);
      await switchNetwork(false);
      if (v.mode === 'sync') await kit.sync();
      const back = await kit.waitForTask(offline, 'succeeded', { timeoutMs: 20_000 });
      expect((await server.log()).applied.map((a) => a.key), `${v.mode}: once after the network returned`).toEqual([back.idempotencyKey]);
      notes.push(`${v.mode}: offline, 0 attempts, then once`);
    }
    if (ctx.engine === 'webkit') ctx.notPossible('switch the browser offline', 'WebKitWebDriver has no network switch; the refused-connection half covers unreachable tries');
    if (ctx.engine === 'firefox') ctx.notPossible('take the service worker offline', "WebDriver BiDi's offline switch reaches the page, not its worker; the page runner is proven offline, the worker path with refused connections");
    ctx.note(notes.join('; '));
  },
};

// ---- 10 -------------------------------------------------------------------------------------

const owners: Scenario = {
  id: '10',
  title: '10. users: a task never runs for another user; kept work runs when its owner signs in again',
  async run(ctx) {
    const { page, origin, server } = ctx;
    for (const v of variants(ctx, 's10-page')) {
      await server.control({ reset: true });
      expect(await openApp(page, origin, v.query)).toBe(v.mode);
      const kit = await ctx.kit(page, { dbName: v.db });
      const ids = await inApp(page, async (hs) => {
        await hs.client.signIn('A');
        const a = [1, 2].map((n) => hs.client.defer(hs.ownedOp, { n }, { delay: 800 }));
        await Promise.all(a.map((h) => h.persisted));
        await hs.client.signOut();
        await hs.client.signIn('B');
        const b = hs.client.defer(hs.ownedOp, { n: 10 });
        await b.persisted;
        return { a: a.map((h) => h.id), b: b.id };
      });
      await kit.waitForTask(ids.b, 'succeeded');
      // Well past A's delay, with the runner asked to drain: A's still wait for A.
      await new Promise((r) => setTimeout(r, 1_000));
      await inApp(page, (hs) => hs.client.drain());
      const before = (await server.log()).received.map((r) => r.headers?.authorization);
      expect(before, `${v.mode}: only B's task, with B's credentials`).toEqual(['Bearer token-of-B']);
      expect(mine(await kit.tasks(), ids.a).map((t) => t.status)).toEqual(['pending', 'pending']);
      await inApp(page, async (hs) => { await hs.client.signOut(); await hs.client.signIn('A'); });
      for (const id of ids.a) await kit.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
      const after = (await server.log()).received.map((r) => r.headers?.authorization).sort();
      expect(after, `${v.mode}: A's two once each, with A's credentials`).toEqual(['Bearer token-of-A', 'Bearer token-of-A', 'Bearer token-of-B']);
    }
    ctx.note(`${ctx.workerMode} and page: B's task ran as B, A's waited, then ran as A once each`);
  },
};

// ---- 11 -------------------------------------------------------------------------------------

const chainsAndLatest: Scenario = {
  id: '11',
  title: '11. a chain with a temporary id runs in order after a failed create; ten supersedes send one request',
  async run(ctx) {
    const { page, origin, server } = ctx;
    for (const v of variants(ctx, 's11-page')) {
      await server.control({ reset: true });
      expect(await openApp(page, origin, v.query)).toBe(v.mode);
      const kit = await ctx.kit(page, { dbName: v.db });
      // The create fails once (500): the payment waits for it, then goes for the server's order id.
      await server.control({ script: [{ status: 500 }] });
      const ids = await inApp(page, async (hs) => {
        const json = { 'content-type': 'application/json' };
        const order = await hs.deferFetchWith('/api/ops', { method: 'POST', headers: json, body: JSON.stringify({ n: 1 }) });
        const pay = await hs.deferFetchWith('/api/echo', { method: 'POST', headers: json, body: JSON.stringify({ orderSeq: hs.parentValue(order, 'json.seq') }) }, { after: [order] });
        await Promise.all([order.persisted, pay.persisted]);
        return [order.id, pay.id];
      });
      for (const id of ids) await kit.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
      const l = await server.log();
      expect(l.received.map((r) => r.key), `${v.mode}: create (500, 200), then the payment`).toEqual([ids[0], ids[0], ids[1]]);
      const sent = JSON.parse(Buffer.from(l.received[2]!.bodyBase64 ?? '', 'base64').toString()) as { orderSeq: number };
      expect(sent.orderSeq, `${v.mode}: for the server's order id`).toBe(l.applied.find((a) => a.key === ids[0])!.seq);
      // Latest wins, while the server is down: one request, the last payload.
      await server.control({ reset: true });
      await server.control({ default: { down: true } });
      await inApp(page, (hs) => Promise.all(Array.from({ length: 10 }, (_, i) => hs.client.defer(hs.postOp, { n: i }, { supersede: 'draft' }).persisted)));
      await server.control({ default: { status: 200 } });
      await inApp(page, (hs) => hs.client.drain());
      await server.until((x) => x.applied.length === 1, `${v.mode}: the one save`, 20_000);
      await kit.waitForIdle();
      expect((await server.log()).received.filter((r) => r.status === 200).map((r) => r.body?.n), `${v.mode}: the last payload only`).toEqual([9]);
    }
    ctx.note(`${ctx.workerMode} and page: create 500 then 200, payment for the server's id; ten supersedes -> one request with the last`);
  },
};

// ---- 12 -------------------------------------------------------------------------------------

const storageLoss: Scenario = {
  id: '12',
  title: '12. the origin\'s IndexedDB deleted from the profile: the loss is reported, the journal restores the unfinished tasks, sent once',
  async run(ctx) {
    if (ctx.engine === 'chromium') {
      ctx.note('Chromium: e2e/storage-loss.spec.ts (a backing store that fails its checksum, one deleted, a worker starting alone)');
      return;
    }
    if (ctx.engine === 'webkit') {
      ctx.notPossible('restart the browser on the same profile', 'MiniBrowser under WebKitWebDriver starts with an ephemeral profile each time');
      return;
    }
    const { origin, server } = ctx;
    const home = mkdtempSync(join(tmpdir(), 'halfsync-firefox-loss-'));
    const profile = join(home, 'profile');
    const launchFx = () => puppeteer.launch({ browser: 'firefox', executablePath: firefoxPath()!, headless: true, userDataDir: profile, env: { ...process.env, HOME: home } });
    try {
      await server.control({ reset: true });
      let browser = await launchFx();
      let page = (await browser.pages())[0] ?? (await browser.newPage());
      await page.goto(`${origin}/?sw=0&db=s12&journal=1`, { waitUntil: 'load' });
      const ids = await page.evaluate(async () => {
        const hs = (window as unknown as { hs: { client: { ready: Promise<unknown>; defer(t: unknown, p: unknown, o?: unknown): { id: string; persisted: Promise<unknown>; result: Promise<unknown> } }; postOp: unknown } }).hs;
        await hs.client.ready;
        const done = hs.client.defer(hs.postOp, { n: 1 });
        await done.result;
        // The journal follows the commit a moment later: the finished task leaves it before the browser closes.
        const inJournal = async () => {
          for (const name of (await caches.keys()).filter((n) => n.endsWith(':journal'))) {
            if ((await (await caches.open(name)).keys()).some((k) => k.url.includes(encodeURIComponent(done.id)))) return true;
          }
          return false;
        };
        for (let i = 0; i < 400 && await inJournal(); i++) await new Promise((r) => setTimeout(r, 25));
        return done.id;
      }).then(async (done) => {
        // The server goes away: the next two wait, unfinished, when the browser closes.
        await server.control({ default: { down: true } });
        const waiting = await page.evaluate(async () => {
          const hs = (window as unknown as { hs: { client: { defer(t: unknown, p: unknown): { id: string; persisted: Promise<unknown> } }; postOp: unknown } }).hs;
          const w = [hs.client.defer(hs.postOp, { n: 2 }), hs.client.defer(hs.postOp, { n: 3 })];
          await Promise.all(w.map((h) => h.persisted));
          return w.map((h) => h.id);
        });
        return { done, waiting };
      });
      await browser.close();
      await server.control({ default: { status: 200 } });
      // Delete the origin's IndexedDB files (its Cache Storage, with the marker and the journal, stays).
      const origins = join(profile, 'storage', 'default');
      const dir = readdirSync(origins).find((d) => d.startsWith('http+++127.0.0.1+'));
      expect(dir, 'the origin\'s storage directory').toBeDefined();
      rmSync(join(origins, dir!, 'idb'), { recursive: true, force: true });
      browser = await launchFx();
      page = (await browser.pages())[0] ?? (await browser.newPage());
      await page.goto(`${origin}/?sw=0&db=s12&journal=1`, { waitUntil: 'load' });
      const after = await page.evaluate(async (w: string[]) => {
        const hs = (window as unknown as { hs: { client: { ready: Promise<unknown>; storageReset?: { code: string; details: Record<string, unknown> }; get(id: string): { delay?: number } | undefined; drain(): Promise<unknown> } } }).hs;
        await hs.client.ready;
        return { code: hs.client.storageReset?.code, details: hs.client.storageReset?.details, known: w.map((id) => hs.client.get(id) !== undefined) };
      }, ids.waiting);
      expect(after.code).toBe('STORAGE_RESET');
      expect(after.details).toMatchObject({ cause: 'marker', restored: 2 });
      expect(after.known).toEqual([true, true]);
      const l = await server.until((x) => ids.waiting.every((id) => x.applied.some((a) => a.key === id)), 'the restored tasks sent', 20_000);
      expect(l.applied.map((a) => a.key).sort(), 'each once; the finished one not again').toEqual([ids.done, ...ids.waiting].sort());
      expect(l.received.filter((r) => r.key === ids.done && r.status === 200)).toHaveLength(1);
      await browser.close();
      ctx.note(`firefox: idb deleted from the profile -> STORAGE_RESET (marker), 2 restored with their ids, sent once each`);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  },
};

/** The request of `key` that the server answered 200 (the one whose body and headers count). */
function successfulRequest(received: readonly Received[], key: string): Received {
  const r = received.find((x) => x.key === key && x.status === 200);
  if (!r) throw new Error(`the server has no successful request with key ${key}`);
  return r;
}

// ---- 13 -------------------------------------------------------------------------------------

const ENTRIES = ['request', 'plugin', 'listener'] as const;

const bodiesThroughEveryEntry: Scenario = {
  id: '13',
  title: '13. every body kind through each entry (deferFetch with a Request, deferPlugin, deferOnFailure) replays as the browser sends it, with the page\'s referrer and one key from the first try',
  async run(ctx) {
    const { page, origin, server } = ctx;
    // The app's worker with a Workbox route (deferPlugin) on /api/echo, deferOnFailure on
    // /api/echo?via=listener, and nothing in the way of /api/echo?via=none.
    expect(await openApp(page, origin, 'swurl=/sw-workbox.js')).toBe(ctx.workerMode);
    await until(() => page.evaluate(() => navigator.serviceWorker.controller !== null || undefined, undefined), 'the worker to control the page');
    const pageUrl = await page.evaluate(() => location.href, undefined);
    // Each body kind once sent straight to the network (the reference), then, with the server
    // cutting every connection, through each entry; each body is built anew per request.
    const send = (phase: 'direct' | 'deferred') => inApp(page, async (hs, a) => {
      const bytes = new Uint8Array(256);
      for (let i = 0; i < 256; i++) bytes[i] = i;
      const init = (k: string): RequestInit => {
        if (k === 'text') return { body: 'héllo wörld ✓, plain text' };
        if (k === 'json') return { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ a: 1, b: 'ü' }) };
        if (k === 'arraybuffer') return { body: bytes.slice().buffer };
        if (k === 'blob') return { body: new Blob([bytes, 'tail ✓'], { type: 'image/x-test' }) };
        if (k === 'formdata') {
          const fd = new FormData();
          fd.append('title', 'Grüße & more');
          fd.append('photo', new File([bytes], 'photo-ü.bin', { type: 'application/x-photo' }));
          fd.append('notes', new File(['line 1\r\nline 2'], 'notes.txt', { type: 'text/plain' }));
          return { body: fd };
        }
        return { body: new URLSearchParams({ q: 'a b&c=d', x: 'ü' }) };
      };
      const request = (kind: string, key: string, path = '/api/echo') => {
        const i = init(kind);
        return new Request(path, { method: 'POST', ...i, headers: { ...(i.headers as object), ...(key ? { 'idempotency-key': key } : {}) } });
      };
      /** What the worker answered a request it deferred: a 202 naming the task. */
      const deferred = async (res: Response, what: string) => {
        if (res.status !== 202) throw new Error(`${what}: the worker answered ${res.status}, not 202 (not deferred)`);
        return ((await res.json()) as { id: string; idempotencyKey: string });
      };
      const out: Record<string, string> = {};
      /** The task id, or why there is none: `refused: <code>: <message>`. */
      const attempt = async (name: string, f: () => Promise<string>) => {
        try { out[name] = await f(); } catch (e) { out[name] = `refused: ${(e as { code?: string }).code ?? (e as Error).name}: ${(e as Error).message}`; }
      };
      for (const kind of a.kinds) {
        if (a.phase === 'direct') {
          const res = await fetch(request(kind, `direct-${kind}`, '/api/echo?via=none'));
          if (!res.ok) throw new Error(`direct fetch of ${kind}: ${res.status}`);
          continue;
        }
        // deferFetch with a Request: its body is read in the page.
        await attempt(`request-${kind}`, async () => {
          const h = await hs.deferFetchWith(request(kind, `request-${kind}`) as unknown as string, {});
          await h.persisted;
          return h.id;
        });
        // Through the worker: a fetch the browser fails before the worker's handler answers (the
        // worker being replaced under the page, seen once in a fresh run) is sent once more.
        const viaWorker = (path: string, key: string) => fetch(request(kind, key, path)).catch(() => fetch(request(kind, key, path)));
        await attempt(`plugin-${kind}`, async () => (await deferred(await viaWorker('/api/echo', `plugin-${kind}`), `plugin ${kind}`)).id);
        await attempt(`listener-${kind}`, async () => (await deferred(await viaWorker('/api/echo?via=listener', `listener-${kind}`), `listener ${kind}`)).id);
      }
      if (a.phase === 'deferred') {
        // No key of the app's own: the first try carries the one the task keeps.
        for (const entry of ['plugin', 'listener']) {
          const answer = await deferred(await fetch(request('json', '', entry === 'plugin' ? '/api/echo' : '/api/echo?via=listener')), `${entry} without a key`);
          out[`${entry}-nokey`] = answer.id;
          out[`${entry}-nokey-key`] = answer.idempotencyKey;
        }
      }
      return out;
    }, { kinds: [...BODY_KINDS], phase });
    await server.control({ default: { status: 200 } });
    await send('direct');
    await server.control({ default: { down: true } });
    const ids = await send('deferred');

    await server.control({ default: { status: 200 } });
    await inApp(page, (hs) => hs.client.drain());
    const kit = await ctx.kit(page);
    // A page in WebKit cannot read back a Request whose body is FormData holding a file, by any
    // means (arrayBuffer, blob, text, formData, the stream: "Unable to read form data blob"); it
    // can only send it. deferFetch must refuse it, coded, rather than store an empty body. (The
    // worker reads the same body as it reaches a fetch event, so the other two entries keep it.)
    const webkitFormData = ctx.engine === 'webkit';
    if (webkitFormData) {
      expect(ids['request-formdata'], 'webkit: deferFetch refuses it, coded, and says what to pass instead').toMatch(/^refused: BODY_NOT_REPLAYABLE: .*pass the FormData itself as init\.body/);
      ctx.notPossible('deferFetch with a Request whose body is FormData with a file', 'WebKit cannot read such a body back in a page ("Unable to read form data blob"): refused with BODY_NOT_REPLAYABLE; the same FormData as init.body is stored (scenario 6)');
    }
    const skipped = (name: string) => webkitFormData && name === 'request-formdata';
    for (const [name, id] of Object.entries(ids)) {
      if (name.endsWith('-key') || skipped(name)) continue;
      expect(id, name).not.toMatch(/^refused/);
      await kit.waitForTask(id, 'succeeded', { timeoutMs: 20_000 });
    }
    const l = await server.log();
    const found = (key: string): Received => successfulRequest(l.received, key);
    for (const kind of BODY_KINDS) {
      const direct = found(`direct-${kind}`);
      expect(Buffer.from(direct.bodyBase64 ?? '', 'base64').byteLength, `${kind}: the reference has a body`).toBeGreaterThan(0);
      for (const entry of ENTRIES) {
        if (skipped(`${entry}-${kind}`)) continue;
        const replay = found(`${entry}-${kind}`);
        const what = `${entry}, ${kind}`;
        expect(Buffer.from(replay.bodyBase64 ?? '', 'base64').byteLength, `${what}: a body was replayed`).toBeGreaterThan(0);
        if (kind === 'formdata') {
          expect(replay.headers?.['content-type'], what).toMatch(/^multipart\/form-data; ?boundary=/);
          expect(multipartParts(replay.bodyBase64!, replay.headers!['content-type']!), `${what}: field names, file names, types and contents`)
            .toEqual(multipartParts(direct.bodyBase64!, direct.headers!['content-type']!));
        } else {
          expect(replay.sha256, `${what}: the same bytes as the browser sends`).toBe(direct.sha256);
          expect(replay.headers?.['content-type'] ?? null, `${what}: the same content type`).toBe(direct.headers?.['content-type'] ?? null);
        }
        expect(replay.headers?.referer, `${what}: the page's referrer, not the worker's`).toBe(pageUrl);
      }
    }
    for (const entry of ['plugin', 'listener']) {
      const key = ids[`${entry}-nokey-key`]!;
      const tries = l.received.filter((r) => r.key === key);
      expect(tries.map((r) => r.behaviour)[0], `${entry}: the first try reached the server with the task's key`).toBe('down');
      expect(tries.at(-1)?.status, `${entry}: then the replay, under the same key`).toBe(200);
    }
    ctx.note(`${BODY_KINDS.length} body kinds x ${ENTRIES.length} entries replayed as sent, with the page's referrer; deferPlugin and deferOnFailure send the task's key from the first try`);
  },
};

// ---- 15 -------------------------------------------------------------------------------------

const periodicWork: Scenario = {
  id: '15',
  title: '15. a periodic task runs once per period with two pages open, on the engine\'s own path and in the page runner',
  async run(ctx) {
    const { page, origin, server } = ctx;
    const notes: string[] = [];
    // The page runner first: a worker left running the heartbeat (Chromium's sync event holds for
    // runs coming due) would send its runs beside the page runner's.
    for (const v of variants(ctx, 's15-page').reverse()) {
      await server.control({ reset: true });
      const query = `periodic=1${v.query ? `&${v.query}` : ''}`;
      expect(await openApp(page, origin, query)).toBe(v.mode);
      const other = await ctx.newPage();
      expect(await openApp(other, origin, query)).toBe(v.mode);
      // The fixture's heartbeat: every 2 s, POSTed as op 0.
      const beats = (l: ServerLog) => l.received.filter((r) => l.applied.some((a) => a.key === r.key && a.n === 0));
      const l = await server.until((x) => new Set(beats(x).map((r) => r.key)).size >= 3, `${v.mode}: three periodic runs`, 20_000);
      const firsts = [...new Set(beats(l).map((r) => r.key))].map((key) => beats(l).find((r) => r.key === key)!.at).sort((a, b) => a - b);
      for (let i = 1; i < firsts.length; i++) expect(firsts[i]! - firsts[i - 1]!, `${v.mode}: a period between runs`).toBeGreaterThanOrEqual(1_900);
      expect(l.applied.filter((a) => a.n === 0).length, `${v.mode}: each run applied once`).toBe(new Set(beats(l).map((r) => r.key)).size);
      // The other page hears a run's end and the next run as two messages: read once both are in.
      const waiting = () => inApp(other, (hs) => hs.client.getSnapshot().filter((t) => t.name === 'heartbeat' && (t.status === 'pending' || t.status === 'running')).length);
      await expect.poll(waiting, { timeout: 3_000, message: `${v.mode}: one run waits for the next period` }).toBe(1);
      notes.push(`${v.mode}: ${firsts.length} runs, ${firsts.slice(1).map((t, i) => t - firsts[i]!).join('/')} ms apart`);
      await other.close();
      // Leave no runner behind for the next scenario: the page goes back to the app without the heartbeat.
      await openApp(page, origin, v.query);
    }
    ctx.note(notes.join('; '));
  },
};

// ---- 16 -------------------------------------------------------------------------------------

interface WithLimits { deferLow(ns: number[]): Promise<string[]>; deferUrgent(n: number): Promise<string>; deferLimited(ns: number[]): Promise<string[]> }

const prioritiesAndLimits: Scenario = {
  id: '16',
  title: '16. a high-priority task overtakes a queue of low ones; a rate limit holds across two pages; each task once',
  async run(ctx) {
    const { page, origin, server } = ctx;
    const notes: string[] = [];
    for (const v of variants(ctx, 's16-page')) {
      // Priorities: 60 low-priority ops queue behind a slow server, then one urgent op.
      await server.control({ reset: true });
      expect(await openApp(page, origin, v.query)).toBe(v.mode);
      await server.control({ default: { status: 200, delayMs: 200 } });
      const low = Array.from({ length: 60 }, (_, i) => i + 1);
      await inApp(page, (hs, ns) => (hs as unknown as WithLimits).deferLow(ns), low);
      await inApp(page, (hs) => (hs as unknown as WithLimits).deferUrgent(1_000));
      const l = await server.until((x) => x.applied.length === 61, `${v.mode}: every op applied`, 30_000);
      const sent = l.received.filter((r) => r.status === 200).map((r) => r.body!.n);
      // The runner had claimed up to 16 ahead (four per slot) before it was deferred: then it goes
      // first, well before the 61st place it would have by age.
      expect(sent.indexOf(1_000), `${v.mode}: the urgent op's place`).toBeLessThanOrEqual(20);
      expect(sent.filter((n) => n !== 1_000).sort((a, b) => a - b)).toEqual(low);
      notes.push(`${v.mode}: urgent sent ${sent.indexOf(1_000) + 1}th of 61`);

      // A rate limit of five a second, from two pages at once.
      await server.control({ reset: true });
      const other = await ctx.newPage();
      expect(await openApp(other, origin, v.query)).toBe(v.mode);
      await server.control({ default: { status: 200, delayMs: 20 } });
      await Promise.all([
        inApp(page, (hs, ns) => (hs as unknown as WithLimits).deferLimited(ns), [1, 2, 3, 4, 5, 6]),
        inApp(other, (hs, ns) => (hs as unknown as WithLimits).deferLimited(ns), [11, 12, 13, 14, 15, 16]),
      ]);
      const r = await server.until((x) => x.applied.length === 12, `${v.mode}: every limited op applied`, 30_000);
      // Tokens are taken at each claim, 200 ms apart; the server sees arrivals, which a request's own
      // latency moves by up to ~150 ms on a machine running three browsers at once. Six in 800 ms
      // would break the limit by a quarter; twelve must span eleven tokens (2.2 s, 2 s allowed).
      const at = r.received.map((x) => x.at).sort((a, b) => a - b);
      for (let i = 5; i < at.length; i++) expect(at[i]! - at[i - 5]!, `${v.mode}: five a second`).toBeGreaterThanOrEqual(800);
      expect(at.at(-1)! - at[0]!, `${v.mode}: twelve at five a second`).toBeGreaterThanOrEqual(2_000);
      expect(new Set(r.applied.map((a) => a.key)).size).toBe(12);
      notes.push(`${v.mode}: 12 limited ops over ${at.at(-1)! - at[0]!} ms`);
      await other.close();
    }
    ctx.note(notes.join('; '));
  },
};

export const scenarios: readonly Scenario[] = [choosesPath, persists, serverDown, twoPages, orderKeys, httpBodies, codedErrors, devtoolsOnly, patient, owners, chainsAndLatest, storageLoss, bodiesThroughEveryEntry, prioritiesAndLimits, periodicWork];
