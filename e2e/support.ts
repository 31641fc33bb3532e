// What the e2e specs share about the test app and its server. Sync, network and worker control
// come from the published test kit (@halfsync/core/testing), not from here.
import type { Page } from '@playwright/test';
import type { HalfsyncClient, HistoryMembers, JournalMembers, LatestWinsMembers, OwnerMembers, TaskDefinition } from '@halfsync/core';

/** The e2e page's client: every capability (the journal's members do nothing without `journal=1`). */
type FixtureClient = HalfsyncClient & OwnerMembers & HistoryMembers & LatestWinsMembers & JournalMembers;

export const ORIGIN = 'http://127.0.0.1:4310';

export interface Received {
  path: string; key: string; at: number; attempt: number; status: number; dup: boolean; clientGone: boolean;
  behaviour: string; body?: { n: number }; headers?: Record<string, string | undefined>; bodyBase64?: string; sha256?: string;
}
export interface ServerLog { received: Received[]; applied: Array<{ key: string; seq: number; n: number }>; overlaps: Array<{ key: string }> }

export const log = async (): Promise<ServerLog> => (await fetch(`${ORIGIN}/api/_log`)).json() as Promise<ServerLog>;
export const control = async (body: Record<string, unknown>): Promise<void> => {
  await fetch(`${ORIGIN}/api/_control`, { method: 'POST', body: JSON.stringify(body) });
};

/** Waits, without a fixed sleep, until the server log satisfies `check`. */
export async function serverUntil(check: (l: ServerLog) => boolean, what: string, timeoutMs = 15_000): Promise<ServerLog> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const l = await log();
    if (check(l)) return l;
    if (Date.now() > end) throw new Error(`timed out waiting for the server: ${what} (received ${l.received.length})`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Opens the test app with query options and waits for the client to choose its path. */
export async function openApp(page: Page, query = ''): Promise<string> {
  await page.goto(`/${query ? `?${query}` : ''}`);
  return page.evaluate(() => (window as unknown as { hs: { client: HalfsyncClient } }).hs.client.ready);
}

type Hs = {
  client: FixtureClient;
  postOp: TaskDefinition<{ n: number; lane?: string }, { seq: number; dup: boolean }>;
  statsBatch: TaskDefinition<{ n: number }, { counted: boolean }>;
  skipOp: TaskDefinition<{ n: number; lane?: string }, { seq: number; dup: boolean }>;
  defer(op: { n: number; lane?: string; note?: string }, opts?: { orderKey?: string; delay?: number }): Promise<string>;
  deferFetch(url: string, init?: RequestInit): Promise<string>;
  writeOps(ns: number[]): Promise<string[]>;
  events: Array<{ ids: string[]; statuses: string[] }>;
  start(o?: object): FixtureClient;
};

/** Runs `fn` in the page with the app's `hs` object. */
export function inPage<R, A = undefined>(page: Page, fn: (hs: Hs, arg: A) => R | Promise<R>, arg?: A): Promise<R> {
  return page.evaluate(
    ([src, a]) => {
      const f = new Function(`return (${src})`)() as (hs: unknown, arg: unknown) => unknown;
      return f((window as unknown as { hs: unknown }).hs, a);
    },
    [fn.toString(), arg] as const,
  ) as Promise<R>;
}

/** Defers `count` ops in one tick; resolves with their ids once persisted. */
export const deferOps = (page: Page, ns: number[], opts?: { orderKey?: string; delay?: number }) =>
  inPage(page, (hs, a) => Promise.all(a.ns.map((n) => hs.defer({ n }, a.opts))), { ns, opts });
