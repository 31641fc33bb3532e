// A small core and the capabilities an app imports (capability.ts): an option whose capability is
// missing is refused with a code naming the import, before anything is written; members exist only
// where imported; and what keeps work correct on the runner's side holds in a client without any.
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import { freshDb } from './helpers.js';
import { chains, createClient, defineBatchTask, defineTask, history, latestWins, owners, PermanentError, type HalfsyncClient } from '../src/index.js';

const ran: string[] = [];
const step = defineTask('step', { run: (p: { name: string; fail?: boolean }) => { ran.push(p.name); if (p.fail) throw new PermanentError('no'); return p.name; } });
const tasks = [step];
const clients: HalfsyncClient[] = [];
const keep = <C extends HalfsyncClient>(c: C): C => { clients.push(c); return c; };
afterEach(() => { while (clients.length) clients.pop()!.close(); ran.length = 0; });
const base = { tasks, persistStorage: false, autoRun: false } as const;

const thrown = (fn: () => unknown): Record<string, unknown> => {
  try { fn(); } catch (e) { return { code: (e as { code?: string }).code, message: (e as Error).message, details: (e as { details?: unknown }).details }; }
  throw new Error('nothing was thrown');
};

describe('the core alone', () => {
  it('refuses after without chains and supersede without latestWins with CAPABILITY_MISSING, storing nothing', async () => {
    const db = freshDb();
    const core = keep(createClient({ ...base, dbName: db }));
    const parent = core.defer(step, { name: 'p' });
    await parent.persisted;
    expect(thrown(() => core.defer(step, { name: 'c' }, { after: [parent] }))).toMatchObject({
      code: 'CAPABILITY_MISSING', details: { capability: 'chains', option: 'after', task: 'step' }, message: expect.stringContaining("import { chains } from '@halfsync/core'"),
    });
    expect(thrown(() => core.defer(step, { name: 'n' }, { supersede: 'note' }))).toMatchObject({ code: 'CAPABILITY_MISSING', details: { capability: 'latestWins' } });
    // Nothing but the parent was stored, in this view or in the store.
    expect(core.getSnapshot().map((t) => t.payload)).toEqual([{ name: 'p' }]);
    const reader = keep(createClient({ ...base, dbName: db, use: [history] }));
    expect(await reader.count()).toBe(1);
  });

  it('has only the core members; each capability adds its own', () => {
    const core = keep(createClient({ ...base, dbName: freshDb() }));
    for (const member of ['signIn', 'signOut', 'purge', 'query', 'count', 'quarantined', 'update', 'storageReset', 'acknowledgeStorageReset']) expect(member in core).toBe(false);
    const full = keep(createClient({ ...base, dbName: freshDb(), use: [owners, history, latestWins] }));
    expect([typeof full.signIn, typeof full.query, typeof full.update]).toEqual(['function', 'function', 'function']);
  });

  it('refuses a use list that holds something else, and the journal option that moved, quoting what it got', () => {
    expect(thrown(() => createClient({ ...base, dbName: freshDb(), use: [(() => owners) as never] }))).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('not a capability') });
    expect(thrown(() => createClient({ ...base, dbName: freshDb(), use: 'owners' as never }))).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('got string') });
    expect(thrown(() => createClient({ ...base, dbName: freshDb(), journal: true } as never))).toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringMatching(/use: \[journal\].*got journal: true/) });
  });
});

describe('safety never depends on an import', () => {
  it('a runner in a client without chains runs parents before children, and fails the child of a failed parent', async () => {
    const db = freshDb();
    const writer = keep(createClient({ ...base, dbName: db, use: [chains] }));
    const a = writer.defer(step, { name: 'a' });
    writer.defer(step, { name: 'a1' }, { after: [a] });
    const b = writer.defer(step, { name: 'b', fail: true });
    const b1 = writer.defer(step, { name: 'b1' }, { after: [b] });
    await b1.persisted;
    writer.close();
    const runner = keep(createClient({ ...base, dbName: db }));
    await runner.ready;
    for (let i = 0; i < 3; i++) await runner.drain();
    expect(ran.indexOf('a')).toBeLessThan(ran.indexOf('a1'));
    expect(ran).not.toContain('b1');
    expect(runner.get(b1.id)).toMatchObject({ status: 'failed', lastError: { code: 'DEPENDENCY_FAILED' } });
  });

  it('a runner in a client without owners runs no task of a user who is not signed in', async () => {
    const db = freshDb();
    const tab = keep(createClient({ ...base, dbName: db, use: [owners] }));
    await tab.signIn('u1');
    const h = tab.defer(step, { name: 'mine' });
    await h.persisted;
    await tab.signOut();
    tab.close();
    const runner = keep(createClient({ ...base, dbName: db, use: [history] }));
    await runner.ready;
    await runner.drain();
    expect(ran).toEqual([]);
    expect((await runner.query({ owner: 'u1' })).tasks).toEqual([expect.objectContaining({ id: h.id, status: 'pending' })]);
  });
});

describe('types that hold', () => {
  it('result() typed from the definition, refusing an id of another task; persisted typed; members typed by use', async () => {
    const other = defineTask('other', { run: (p: { n: number }) => p.n * 2 });
    const c = keep(createClient({ ...base, tasks: [step, other], dbName: freshDb(), use: [history] }));
    const h = c.defer(other, { n: 21 });
    expectTypeOf(h.persisted).resolves.toHaveProperty('payload').toEqualTypeOf<{ n: number }>();
    const typed = c.result(other, h.id);
    expectTypeOf(typed).resolves.toEqualTypeOf<number>();
    expectTypeOf(c.count).toBeFunction();
    // @ts-expect-error: signIn comes with the owners capability, which this client was not given.
    expect(c.signIn).toBeUndefined();
    await c.drain();
    expect(await typed).toBe(42);
    await expect(c.result(step, h.id)).rejects.toMatchObject({ code: 'INVALID_OPTIONS', message: expect.stringContaining('is a "other" task') });
    await expect(c.result(defineTask('stranger', { run: () => 1 }), h.id)).rejects.toMatchObject({ code: 'UNKNOWN_TASK' });
  });

  it('batch options only through defineBatchTask', () => {
    expect(() => defineTask('b', { run: () => 1, batch: { max: 5 } } as never)).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS', message: expect.stringContaining('defineBatchTask') }));
    expect(defineBatchTask('b', { batch: { max: 5 }, run: (ps: readonly number[]) => ps }).options.batch).toEqual({ max: 5, waitMs: 0 });
  });
});
