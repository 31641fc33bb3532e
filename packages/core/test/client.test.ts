import { afterEach, describe, expect, it, vi } from 'vitest';
import { clientPool, freshDb } from './helpers.js';
import { createClient, defineTask, HalfsyncError, PermanentError, type Task } from '../src/index.js';
import { TaskStore } from '../src/store/store.js';

const echo = defineTask('echo', { run: (p: { text: string }) => p.text.toUpperCase() });
const reject = defineTask('reject', { run: (_: { n: number }) => { throw new PermanentError('the server said no', { code: 'BAD_REQUEST' }); } });
const gated = defineTask('gated', {
  run: (p: { n: number }) => { if (p.n < 0) throw new Error('negative'); return p.n; },
  validate: (p) => { if (typeof p.n !== 'number') throw new Error('n must be a number'); },
});
const tasks = [echo, reject, gated];

const { clients, open, closeAll } = clientPool(tasks);
afterEach(() => { closeAll(); vi.restoreAllMocks(); });

const codeOf = (fn: () => unknown): string | undefined => {
  try { fn(); } catch (e) { return (e as HalfsyncError).code; }
  return undefined;
};
const until = async (check: () => boolean, what: string): Promise<void> => {
  for (let i = 0; i < 500; i++) { if (check()) return; await new Promise((r) => setTimeout(r, 5)); }
  throw new Error(`timed out waiting for ${what}`);
};

describe('client.defer', () => {
  it('shows the task in the snapshot before returning, then persists and runs it', async () => {
    const c = open(freshDb());
    const before = c.getSnapshot();
    const h = c.defer(echo, { text: 'hi' });
    const after = c.getSnapshot();
    expect(after).not.toBe(before);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ id: h.id, status: 'pending', seq: undefined, payload: { text: 'hi' } });
    const persisted = await h.persisted;
    expect(persisted.seq).toBeTypeOf('number');
    expect(await h.result).toBe('HI');
    expect(c.get(h.id)).toMatchObject({ status: 'succeeded', result: 'HI' });
    expect(await c.ready).toBe('page');
  });

  it('stores a copy: changing the payload after defer changes nothing', async () => {
    const c = open(freshDb());
    const payload = { text: 'before' };
    const h = c.defer(echo, payload);
    payload.text = 'after';
    expect(await h.result).toBe('BEFORE');
  });

  it('commits every defer of one tick in one transaction (group commit), in order', async () => {
    const spy = vi.spyOn(TaskStore.prototype, 'insert');
    const c = open(freshDb());
    const handles = Array.from({ length: 25 }, (_, i) => c.defer(echo, { text: `t${i}` }));
    const stored = await Promise.all(handles.map((h) => h.persisted));
    expect(spy).toHaveBeenCalledTimes(1);
    expect(spy.mock.calls[0]![0]).toHaveLength(25);
    const seqs = stored.map((t) => t.seq!);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(25);
  });

  it('refuses a bad payload in a burst alone: the good ones keep their place', async () => {
    const c = open(freshDb());
    const a = c.defer(echo, { text: 'a' });
    expect(codeOf(() => c.defer(echo, { text: 'b', cb: () => 1 } as never))).toBe('PAYLOAD_NOT_CLONEABLE');
    const d = c.defer(echo, { text: 'd' });
    const [ta, td] = await Promise.all([a.persisted, d.persisted]);
    expect(td.seq! - ta.seq!).toBe(1);
    expect(c.getSnapshot().map((t) => t.payload)).toEqual([{ text: 'a' }, { text: 'd' }]);
  });

  it('refuses bad input with coded errors, before anything is written', async () => {
    const db = freshDb();
    const c = open(db, { maxPayloadBytes: 100 });
    const stranger = defineTask('stranger', { run: () => 1 });
    expect(codeOf(() => c.defer(stranger, {}))).toBe('UNKNOWN_TASK');
    expect(codeOf(() => c.defer(defineTask('echo', { run: () => 1 }) as never, {}))).toBe('UNKNOWN_TASK');
    expect(codeOf(() => c.defer(echo, { text: 'x'.repeat(500) }))).toBe('PAYLOAD_TOO_LARGE');
    expect(codeOf(() => c.defer(echo, JSON.parse('{"text":"x","__proto__":{"admin":true}}') as never))).toBe('PAYLOAD_UNSAFE_KEY');
    expect(codeOf(() => c.defer(gated, { n: 'one' } as never))).toBe('PAYLOAD_INVALID');
    expect(codeOf(() => c.defer(echo, { text: 'x' }, { delay: -1 }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => c.defer(echo, { text: 'x' }, { orderKey: '' }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => c.defer(echo, { text: 'x' }, { priority: 1 } as never))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => c.defer(echo, { text: 'x' }, null as never))).toBe('INVALID_OPTIONS');
    await c.ready;
    expect(c.getSnapshot()).toHaveLength(0);
    const d = await new TaskStore(db).db();
    expect(await d.count('tasks') + await d.count('inbox')).toBe(0);
  });

  it('refuses malformed client options', () => {
    expect(codeOf(() => createClient(null as never))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => createClient({ tasks: 'echo' as never }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => createClient({ tasks, maxPayloadBytes: 0 }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => createClient({ tasks, serviceWorker: 42 as never }))).toBe('INVALID_OPTIONS');
    expect(codeOf(() => createClient({ tasks, dbName: '' }))).toBe('INVALID_OPTIONS');
  });

  it('rejects only the tasks that do not fit when the quota runs out mid-burst', async () => {
    const quota = Object.assign(new Error('quota'), { name: 'QuotaExceededError' });
    const real = TaskStore.prototype.insert;
    vi.spyOn(TaskStore.prototype, 'insert').mockImplementation(function (this: TaskStore, records) {
      if (records.length > 1 || (records[0]!.payload as { text: string }).text === 'huge') return Promise.reject(quota);
      return real.call(this, records);
    });
    const c = open(freshDb());
    const a = c.defer(echo, { text: 'a' });
    const huge = c.defer(echo, { text: 'huge' });
    const b = c.defer(echo, { text: 'b' });
    await expect(huge.persisted).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    await expect(huge.result).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' });
    const [ta, tb] = await Promise.all([a.persisted, b.persisted]);
    expect(tb.seq! - ta.seq!).toBe(1);
    expect(c.get(huge.id)).toBeUndefined();
    expect(await a.result).toBe('A');
  });

  it('rejects defer on a closed client with CLIENT_CLOSED', () => {
    const c = open(freshDb());
    c.close();
    expect(codeOf(() => c.defer(echo, { text: 'x' }))).toBe('CLIENT_CLOSED');
  });

  it('uses the order key of the task definition, of the payload, or of defer', async () => {
    const byCustomer = defineTask('by-customer', { run: () => 1, orderKey: (p: { customer: string }) => `customer:${p.customer}` });
    const c = createClient({ tasks: [byCustomer], dbName: freshDb(), persistStorage: false });
    clients.push(c);
    const a = c.defer(byCustomer, { customer: 'ada' });
    const b = c.defer(byCustomer, { customer: 'ada' }, { orderKey: 'vip' });
    expect((await a.persisted).orderKey).toBe('customer:ada');
    expect((await b.persisted).orderKey).toBe('vip');
  });
});

describe('client snapshot and operations', () => {
  it('keeps the snapshot identity until something changes', async () => {
    const c = open(freshDb());
    await c.ready;
    const s1 = c.getSnapshot();
    expect(c.getSnapshot()).toBe(s1);
    const h = c.defer(echo, { text: 'x' });
    const s2 = c.getSnapshot();
    expect(s2).not.toBe(s1);
    expect(c.getSnapshot()).toBe(s2);
    await h.result;
    expect(Object.isFrozen(c.getSnapshot())).toBe(true);
    expect(Object.isFrozen(c.getSnapshot()[0])).toBe(true);
  });

  it('notifies subscribers and stops after unsubscribe', async () => {
    const c = open(freshDb());
    const seen: string[] = [];
    const off = c.subscribe(() => seen.push(c.getSnapshot().map((t) => t.status).join()));
    const h = c.defer(echo, { text: 'x' });
    await h.result;
    await until(() => seen.at(-1) === 'succeeded', 'the succeeded notification');
    expect(seen[0]).toBe('pending');
    off();
    const n = seen.length;
    await c.defer(echo, { text: 'y' }).result;
    expect(seen).toHaveLength(n);
  });

  it('rejects result with TASK_FAILED and keeps the failed task until acknowledged', async () => {
    const c = open(freshDb());
    const h = c.defer(reject, { n: 1 });
    const error = await h.result.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HalfsyncError);
    expect(error).toMatchObject({ code: 'TASK_FAILED', details: { lastError: { code: 'BAD_REQUEST', permanent: true } } });
    expect(c.get(h.id)?.status).toBe('failed');
    await expect(c.cancel(h.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    await c.acknowledge(h.id);
    expect(c.get(h.id)).toBeUndefined();
    await expect(c.acknowledge(h.id)).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
  });

  it('retries a failed task with fresh attempts', async () => {
    let allow = false;
    const flip = defineTask('flip', { run: () => { if (!allow) throw new PermanentError('not yet'); return 'ok'; } });
    const c = createClient({ tasks: [flip], dbName: freshDb(), persistStorage: false });
    clients.push(c);
    const h = c.defer(flip, {});
    await expect(h.result).rejects.toMatchObject({ code: 'TASK_FAILED' });
    allow = true;
    await c.retry(h.id);
    expect(await c.result(h.id)).toBe('ok');
    expect(c.get(h.id)).toMatchObject({ status: 'succeeded', attempts: 1, lastError: { message: 'not yet' } });
    await expect(c.retry(h.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
  });

  it('cancels a pending task and rejects its result with TASK_CANCELLED', async () => {
    const c = open(freshDb());
    const h = c.defer(echo, { text: 'later' }, { delay: 60_000 });
    await h.persisted;
    await c.cancel(h.id);
    await expect(h.result).rejects.toMatchObject({ code: 'TASK_CANCELLED' });
    expect(c.get(h.id)?.status).toBe('cancelled');
  });

  it('rebuilds the snapshot from IndexedDB in a new client (a reload) and waits on old tasks', async () => {
    const db = freshDb();
    const first = open(db);
    const h = first.defer(echo, { text: 'kept' }, { delay: 50 });
    await h.persisted;
    first.close();
    const second = open(db);
    await second.ready;
    expect(second.get(h.id)).toMatchObject({ status: 'pending', payload: { text: 'kept' } });
    expect(await second.result(h.id)).toBe('KEPT');
    await expect(second.result('nope')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
  });

  it('lets two clients of one database see each other’s changes', async () => {
    const db = freshDb();
    const a = open(db);
    const b = open(db);
    await Promise.all([a.ready, b.ready]);
    const h = a.defer(echo, { text: 'shared' });
    await until(() => b.get(h.id)?.status === 'succeeded', 'the other client to see success');
    expect(b.get(h.id)?.result).toBe('SHARED');
    await b.acknowledge(h.id);
    await until(() => a.get(h.id) === undefined, 'the other client to see the acknowledgement');
  });

  it('applies the highest revision, whatever order the messages arrive in', async () => {
    const db = freshDb();
    const a = open(db);
    await a.ready;
    const ch = new BroadcastChannel(`halfsync:${db}`);
    const base = { id: 'x', seq: 1, name: 'echo', payload: {}, attempts: 1, unreachable: 0, createdAt: 1, updatedAt: 1, nextRunAt: 1, leaseUntil: undefined, orderKey: undefined, idempotencyKey: 'x', lastError: undefined, result: undefined, after: undefined, meta: undefined, supersede: undefined, supersededBy: undefined, owner: undefined, tries: [], limitedUntil: undefined, every: undefined };
    ch.postMessage({ t: 'changed', tasks: [{ ...base, status: 'succeeded', rev: 3, result: 'done' } satisfies Task], removed: [] });
    ch.postMessage({ t: 'changed', tasks: [{ ...base, status: 'running', rev: 2 } satisfies Task], removed: [] });
    await until(() => a.get('x') !== undefined, 'the message');
    await new Promise((r) => setTimeout(r, 20));
    expect(a.get('x')?.status).toBe('succeeded');
    ch.close();
  });
});

describe('operations wake the runner', () => {
  it('acknowledging the failed head of a held lane runs the tasks behind it at once, without drain()', async () => {
    const lane = defineTask('lane-op', { run: (p: { n: number }) => { if (p.n === 0) throw new PermanentError('head fails'); return p.n; } });
    const c = createClient({ tasks: [lane], dbName: freshDb(), persistStorage: false });
    clients.push(c);
    const head = c.defer(lane, { n: 0 }, { orderKey: 'k' });
    const behind = [1, 2].map((n) => c.defer(lane, { n }, { orderKey: 'k' }));
    await expect(head.result).rejects.toMatchObject({ code: 'TASK_FAILED' });
    await until(() => c.get(behind[0]!.id)?.status === 'pending' && c.mode === 'page', 'the lane held behind its failed head');
    await c.acknowledge(head.id);
    // The runner's next timer is a minute away: only a wake-up can run them within this wait.
    await until(() => behind.every((h) => c.get(h.id)?.status === 'succeeded'), 'the tasks behind the acknowledged head');
  });
});

describe('errors that say what they got', () => {
  it('a task name given instead of its definition is refused with a message quoting it', () => {
    const c = open(freshDb(), { autoRun: false });
    let error: HalfsyncError | undefined;
    try { c.defer('echo' as never, { text: 'x' }); } catch (e) { error = e as HalfsyncError; }
    expect(error?.code).toBe('UNKNOWN_TASK');
    expect(error?.message).toContain('got the string "echo"');
    expect(error?.message).toContain('pass the definition named "echo" itself');
  });
});

