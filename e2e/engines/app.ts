// The e2e app (e2e/fixture) as the scenarios drive it: `window.hs` and its query options.
import type { ClientMode, DeferOptions, HalfsyncClient, HistoryMembers, JournalMembers, LatestWinsMembers, OwnerMembers, TaskDefinition } from '@halfsync/core';

/** The e2e page's client: every capability (the journal's members do nothing without `journal=1`). */
type FixtureClient = HalfsyncClient & OwnerMembers & HistoryMembers & LatestWinsMembers & JournalMembers;
import type { HttpResult, StoredRequest } from '@halfsync/core/http';
import type { PageLike } from '@halfsync/core/testing';
import type { EnginePage } from './drivers';

export interface Op { n: number; note?: string; lane?: string }

/** `window.hs` of the e2e app (e2e/fixture/main.ts). */
export interface AppHandle {
  readonly client: FixtureClient;
  readonly postOp: TaskDefinition<Op, { seq: number; dup: boolean }>;
  readonly http: TaskDefinition<StoredRequest, HttpResult>;
  /** `parentValue` of @halfsync/core/http. */
  parentValue(parent: { id: string }, path: string): string;
  /** deferFetch with the app's http task and defer options (after, supersede...): the handle. */
  deferFetchWith(input: string, init: RequestInit, options?: object): Promise<{ id: string; persisted: Promise<unknown> }>;
  /** An action of whoever is signed in, sent with `Bearer token-of-<owner>`. */
  readonly ownedOp: TaskDefinition<Op, { owner: string | undefined }>;
  /** Every snapshot the page's client published, in order. */
  readonly events: Array<{ t: number; ids: string[]; statuses: string[] }>;
  start(options?: object): FixtureClient;
  /** Defers a post-op task; resolves with its id once persisted. */
  defer(op: Op, options?: DeferOptions): Promise<string>;
  /** Defers the same op under the fast, short policy (10 ms base, 3 attempts); resolves with its id once persisted. */
  deferFast(op: Op): Promise<string>;
  /** deferFetch with the app's http task; resolves with the task id once persisted. */
  deferFetch(input: string, init?: RequestInit): Promise<string>;
}

/**
 * Runs `fn(hs, arg)` in the page. `fn` travels as source text and is rebuilt in the page, so it
 * may use only its parameters and the page's globals (no imports, no outer variables).
 */
export function inApp<R, A = null>(page: PageLike, fn: (hs: AppHandle, arg: A) => R | Promise<R>, arg?: A): Promise<R> {
  return page.evaluate(
    async ([src, a]) => {
      const f = new Function(`return (${src})`)() as (hs: unknown, arg: unknown) => unknown;
      // A driver may hand the page over before its module script has run (WebKit does, after a
      // navigation): wait for the app's handle.
      const w = window as unknown as { hs?: unknown };
      for (let i = 0; w.hs === undefined && i < 500; i++) await new Promise((r) => setTimeout(r, 20));
      return f(w.hs, a) as Promise<R>;
    },
    [fn.toString(), arg ?? null] as const,
  );
}

/** Opens the app with query options and waits for its client to choose a path. */
export async function openApp(page: EnginePage, origin: string, query = ''): Promise<ClientMode> {
  await page.goto(`${origin}/${query ? `?${query}` : ''}`);
  return inApp(page, (hs) => hs.client.ready);
}

/** Defers ops in one tick; resolves with their ids once persisted. */
export const deferOps = (page: PageLike, ns: number[], options?: DeferOptions): Promise<string[]> =>
  inApp(page, (hs, a) => Promise.all(a.ns.map((n) => hs.defer({ n }, a.options ?? undefined))), { ns, options: options ?? null });
