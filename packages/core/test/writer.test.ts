// The write-only client (writer.ts): the same checks, group commit, owner stamp and durability as
// a client's defer, with no live view; what it defers is what a client and its runner see and run.
import { afterEach, describe, expect, it } from 'vitest';
import { freshDb } from './helpers.js';
import { createClient, createWriter, defineTask, history, owners, type HalfsyncClient, type HalfsyncWriter } from '../src/index.js';

const seen: string[] = [];
const track = defineTask('track', { run: (e: { event: string }) => { seen.push(e.event); return e.event; } });
const clients: Array<HalfsyncClient | HalfsyncWriter> = [];
const keep = <C extends HalfsyncClient | HalfsyncWriter>(c: C): C => { clients.push(c); return c; };
afterEach(() => { while (clients.length) clients.pop()!.close(); seen.length = 0; });

describe('createWriter', () => {
  it('stores a tick of defers in one transaction, in order, which a client then sees and runs', async () => {
    const db = freshDb();
    const writer = keep(createWriter({ tasks: [track], dbName: db }));
    const handles = ['a', 'b', 'c'].map((event) => writer.defer(track, { event }));
    const stored = await Promise.all(handles.map((h) => h.persisted));
    expect(stored.map((t) => t.id)).toEqual(handles.map((h) => h.id));
    expect(stored.map((t) => t.seq)).toEqual([stored[0]!.seq, stored[0]!.seq! + 1, stored[0]!.seq! + 2]);
    const client = keep(createClient({ tasks: [track], dbName: db, persistStorage: false, autoRun: false }));
    await client.ready;
    expect(client.getSnapshot().map((t) => [t.id, t.status])).toEqual(handles.map((h) => [h.id, 'pending']));
    await client.drain();
    expect(seen).toEqual(['a', 'b', 'c']);
  });

  it('refuses bad input before writing, and after or supersede with CAPABILITY_MISSING', async () => {
    const db = freshDb();
    const writer = keep(createWriter({ tasks: [track], dbName: db, maxPayloadBytes: 100 }));
    expect(() => writer.defer(track, { event: 'x'.repeat(500) })).toThrow(expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }));
    const first = writer.defer(track, { event: 'ok' });
    expect(() => writer.defer(track, { event: 'child' }, { after: [first] })).toThrow(expect.objectContaining({ code: 'CAPABILITY_MISSING' }));
    expect(() => writer.defer(track, { event: 'note' }, { supersede: 'k' })).toThrow(expect.objectContaining({ code: 'CAPABILITY_MISSING' }));
    expect(() => writer.defer('track' as never, { event: 'name' })).toThrow(expect.objectContaining({ code: 'UNKNOWN_TASK', message: expect.stringContaining('pass the definition named "track"') }));
    await first.persisted;
    const reader = keep(createClient({ tasks: [track], dbName: db, persistStorage: false, autoRun: false, use: [history] }));
    expect(await reader.count()).toBe(1);
    expect(() => createWriter({ tasks: [track], dbName: '' })).toThrow(expect.objectContaining({ code: 'INVALID_OPTIONS' }));
  });

  it("stamps the committed owner inside the insert, as a client's defer does", async () => {
    const db = freshDb();
    const tab = keep(createClient({ tasks: [track], dbName: db, persistStorage: false, autoRun: false, use: [owners] }));
    await tab.signIn('u1');
    const writer = keep(createWriter({ tasks: [track], dbName: db }));
    const task = await writer.defer(track, { event: 'mine' }).persisted;
    expect(task.owner).toBe('u1');
    await tab.signOut();
    await tab.drain();
    // Held for its owner: never run while someone else (or no one) is signed in.
    expect(seen).toEqual([]);
  });

  it('refuses a defer after close with CLIENT_CLOSED, and commits what was deferred before it', async () => {
    const db = freshDb();
    const writer = createWriter({ tasks: [track], dbName: db });
    const h = writer.defer(track, { event: 'last' });
    writer.close();
    expect(() => writer.defer(track, { event: 'late' })).toThrow(expect.objectContaining({ code: 'CLIENT_CLOSED' }));
    expect((await h.persisted).status).toBe('pending');
  });
});
