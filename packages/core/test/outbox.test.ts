import { afterEach, describe, expect, it } from 'vitest';
import { clientPool, freshDb } from './helpers.js';
import { defineTask, type Task } from '../src/index.js';
import { TaskModel } from '../src/model.js';
import { channelName, type ChannelMessage } from '../src/channel.js';
import type { TaskRecord } from '../src/record.js';

// How a tab tells the others what it committed (outbox.ts): the first commit at once, the next
// ones together; and how a tab takes progress heard before the task itself (model.ts).

const note = defineTask('outbox-note', { run: (p: { text: string }) => p.text });
const { open, closeAll } = clientPool([note], { autoRun: false });
const listeners: BroadcastChannel[] = [];
afterEach(() => { closeAll(); while (listeners.length) listeners.pop()!.close(); });

/** The ids in every `changed` message heard on the database's channel, a list per message. */
function hear(db: string): string[][] {
  const heard: string[][] = [];
  const channel = new BroadcastChannel(channelName(db));
  channel.onmessage = (e: MessageEvent<ChannelMessage>) => { if (e.data.t === 'changed') heard.push(e.data.tasks.map((t) => t.id)); };
  listeners.push(channel);
  return heard;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a tab\'s commits, told to the others', () => {
  it('a tab deferring one task after another tells the others in a few messages, not one per commit; every tab holds every task', async () => {
    const db = freshDb();
    const a = open(db);
    const b = open(db);
    await Promise.all([a.ready, b.ready]);
    const heard = hear(db);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const h = a.defer(note, { text: `n${i}` });
      ids.push(h.id);
      await h.persisted;
    }
    await sleep(150);
    const said = heard.flat().filter((id) => ids.includes(id));
    expect(new Set(said)).toEqual(new Set(ids));
    // The first at once, the rest gathered: far fewer messages than commits.
    expect(heard.length).toBeLessThanOrEqual(5);
    expect(heard[0]).toEqual([ids[0]]);
    for (const [i, id] of ids.entries()) expect(b.get(id)?.payload).toEqual({ text: `n${i}` });
  });

  it('what waits is said before the tab\'s next message, and when it closes', async () => {
    const db = freshDb();
    const a = open(db);
    await a.ready;
    const heard = hear(db);
    const first = a.defer(note, { text: 'first' });
    await first.persisted;
    const waiting = [a.defer(note, { text: 'second' }), a.defer(note, { text: 'third' })];
    await Promise.all(waiting.map((h) => h.persisted));
    a.close();
    await sleep(15);
    expect(heard.flat()).toEqual([first.id, ...waiting.map((h) => h.id)]);
  });
});

describe('progress heard before the task', () => {
  const record = (rev: number): TaskRecord => ({
    seq: 1, id: 'early', name: 'outbox-note', payload: { text: 'kept' }, status: 'pending', attempts: 0,
    createdAt: 1, updatedAt: 1, nextRunAt: 1, idempotencyKey: 'early', rev,
  });
  const progress = (rev: number, status: Task['status']): Omit<Task, 'payload'> => {
    const { payload: _p, ...rest } = Object.freeze({ ...record(rev), status, leaseUntil: undefined, orderKey: undefined, lastError: undefined, result: status === 'succeeded' ? 'kept' : undefined, after: undefined, meta: undefined, supersede: undefined, supersededBy: undefined, owner: undefined, tries: [], limitedUntil: undefined, every: undefined, unreachable: 0 }) as Task;
    return rest;
  };

  it('is kept, and applied when the task arrives with an older revision; a newer task wins over it', () => {
    const model = new TaskModel({ recentFinished: 10 });
    model.applyProgress([progress(3, 'succeeded')], []);
    expect(model.get('early')).toBeUndefined();
    model.apply([record(1)], [], false);
    expect(model.get('early')).toMatchObject({ status: 'succeeded', rev: 3, payload: { text: 'kept' }, result: 'kept' });

    const other = new TaskModel({ recentFinished: 10 });
    other.applyProgress([progress(2, 'running')], []);
    other.apply([record(4)], [], false);
    expect(other.get('early')).toMatchObject({ status: 'pending', rev: 4 });
  });

  it('keeps progress only for tasks the tab would show, and only the newest of it', () => {
    const model = new TaskModel({ recentFinished: 10, visible: (t) => t.owner === undefined });
    model.applyProgress([{ ...progress(5, 'running'), owner: 'someone' }], []);
    model.applyProgress([progress(2, 'running'), progress(3, 'succeeded'), progress(2, 'running')], []);
    model.apply([record(1)], [], false);
    expect(model.get('early')).toMatchObject({ status: 'succeeded', rev: 3 });
  });
});
