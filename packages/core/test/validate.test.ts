import { describe, expect, it } from 'vitest';
import { HalfsyncError } from '../src/errors.js';
import { clonePayload, inspectPayload } from '../src/validate.js';
import { recordProblem } from '../src/record.js';
import { defineTask, taskRegistry } from '../src/task.js';

const code = (fn: () => unknown): string | undefined => {
  try { fn(); } catch (e) { return e instanceof HalfsyncError ? e.code : `not a HalfsyncError: ${String(e)}`; }
  return undefined;
};
const message = (fn: () => unknown): string => {
  try { fn(); } catch (e) { return (e as Error).message; }
  return '';
};

describe('inspectPayload', () => {
  it('accepts plain data, dates, maps, sets, binary data and cycles', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const payload = { s: 'x', n: 1, b: true, nil: null, u: undefined, d: new Date(), m: new Map([[1, 'a']]), set: new Set([1]),
      buf: new ArrayBuffer(8), view: new Uint8Array(4), list: [1, [2, [3]]], cyclic, big: 10n, re: /x/ };
    expect(inspectPayload('t', payload, 10_000)).toBeGreaterThan(0);
  });

  it('names the path of a function', () => {
    expect(code(() => inspectPayload('t', { a: { onDone: () => 1 } }, 1e6))).toBe('PAYLOAD_NOT_CLONEABLE');
    expect(message(() => inspectPayload('t', { a: { onDone: () => 1 } }, 1e6))).toContain('.a.onDone');
  });

  it('refuses symbols, class instances and Blobs', () => {
    class Point { x = 1; norm() { return this.x; } }
    expect(code(() => inspectPayload('t', { s: Symbol('x') }, 1e6))).toBe('PAYLOAD_NOT_CLONEABLE');
    expect(message(() => inspectPayload('t', { p: new Point() }, 1e6))).toContain('instance of Point');
    expect(code(() => inspectPayload('t', { file: new Blob(['x']) }, 1e6))).toBe('PAYLOAD_NOT_CLONEABLE');
    expect(message(() => inspectPayload('t', [new Blob(['x'])], 1e6))).toContain('arrayBuffer');
  });

  it('refuses a __proto__ key (prototype pollution)', () => {
    const evil = JSON.parse('{"user":{"__proto__":{"isAdmin":true}}}') as unknown;
    expect(code(() => inspectPayload('t', evil, 1e6))).toBe('PAYLOAD_UNSAFE_KEY');
    expect(message(() => inspectPayload('t', evil, 1e6))).toContain('.user');
    expect(({} as { isAdmin?: boolean }).isAdmin).toBeUndefined();
  });

  it('refuses payloads over the limit and counts binary data by bytes', () => {
    expect(code(() => inspectPayload('t', 'x'.repeat(2_000), 1_000))).toBe('PAYLOAD_TOO_LARGE');
    expect(code(() => inspectPayload('t', { b: new Uint8Array(5_000) }, 4_096))).toBe('PAYLOAD_TOO_LARGE');
    expect(inspectPayload('t', { b: new Uint8Array(1_000) }, 4_096)).toBeGreaterThanOrEqual(1_000);
  });

  it('turns a DataCloneError into PAYLOAD_NOT_CLONEABLE', () => {
    expect(code(() => clonePayload('t', { c: new MessageChannel().port1 }))).toBe('PAYLOAD_NOT_CLONEABLE');
  });

  it('reports an over-deep payload as not cloneable instead of crashing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(code(() => inspectPayload('t', deep, 1e9))).toBe('PAYLOAD_NOT_CLONEABLE');
  });
});

describe('recordProblem', () => {
  const good = { seq: 1, id: 'a', name: 't', status: 'pending', attempts: 0, createdAt: 1, updatedAt: 1, nextRunAt: 1, idempotencyKey: 'a', rev: 1, payload: {} };
  it('accepts a well-formed record', () => expect(recordProblem(good)).toBeUndefined());
  it.each([
    [null, 'not an object'],
    [{ ...good, status: 'done' }, 'status'],
    [{ ...good, attempts: -1 }, 'attempts'],
    [{ ...good, id: 42 }, 'id'],
    [{ ...good, nextRunAt: 'soon' }, 'nextRunAt'],
    [{ ...good, status: 'running' }, 'lease'],
    [{ ...good, idempotencyKey: '' }, 'idempotencyKey'],
    [{ ...good, lane: 5 }, 'lane'],
  ])('explains what is wrong with %j', (raw, what) => {
    expect(recordProblem(raw)).toContain(what);
  });
});

describe('defineTask', () => {
  it('fills the default policies', () => {
    const t = defineTask('t', { run: () => 1, retry: { maxAttempts: 3 } });
    expect(t.retry).toEqual({ maxAttempts: 3, baseDelayMs: 1_000, maxDelayMs: 300_000, maxUnreachableDelayMs: 30_000 });
    expect(t.retention.finishedMs).toBe(86_400_000);
  });
  it('refuses malformed definitions with INVALID_OPTIONS', () => {
    expect(code(() => defineTask('', { run: () => 1 }))).toBe('INVALID_OPTIONS');
    expect(code(() => defineTask('t', {} as never))).toBe('INVALID_OPTIONS');
    expect(code(() => defineTask('t', { run: () => 1, retry: { maxAttempts: 0 } }))).toBe('INVALID_OPTIONS');
    expect(code(() => defineTask('t', { run: () => 1, retry: { maxAttempts: 1.5 } }))).toBe('INVALID_OPTIONS');
    expect(code(() => defineTask('t', { run: () => 1, orderKey: 5 as never }))).toBe('INVALID_OPTIONS');
  });
  it('refuses two definitions with one name', () => {
    expect(code(() => taskRegistry([defineTask('t', { run: () => 1 }), defineTask('t', { run: () => 2 })]))).toBe('DUPLICATE_TASK');
    expect(code(() => taskRegistry([{ name: 'x' } as never]))).toBe('INVALID_OPTIONS');
  });
});
