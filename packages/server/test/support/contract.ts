// The atomic steps every store must make, run against each store: the layer's rules rely on nothing else.
import { describe, expect, it } from 'vitest';
import type { IdempotencyStore, RunningRecord } from '@halfsync/server';

export function storeContract(name: string, make: () => Promise<IdempotencyStore<unknown, unknown>>): void {
  const claim = (key: string, owner = 'owner-a', overrides: Partial<RunningRecord> = {}): RunningRecord => ({
    scope: 'shop', key, owner, fingerprint: 'fp-1', lockedUntil: 2_000, expiresAt: 100_000, ...overrides,
  });
  const response = { status: 201, headers: [['content-type', 'application/json'], ['x-tag', 'a'], ['x-tag', 'b']] as const, body: new Uint8Array([0, 1, 2, 255]) };

  describe(`${name}: the store's atomic steps`, () => {
    it('insert claims a free key once; concurrent inserts of one key: exactly one wins', async () => {
      const store = await make();
      expect(await store.insert(claim('k1'))).toBe(true);
      expect(await store.insert(claim('k1', 'owner-b'))).toBe(false);
      const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => store.insert(claim('k2', `owner-${i}`))));
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect(await store.get('shop', 'k1')).toEqual({ ...claim('k1'), state: 'running', response: undefined });
      expect(await store.get('shop', 'nope')).toBeUndefined();
      await store.close();
    });

    it('keeps keys apart by scope', async () => {
      const store = await make();
      expect(await store.insert(claim('k'))).toBe(true);
      expect(await store.insert(claim('k', 'owner-b', { scope: 'other' }))).toBe(true);
      expect((await store.get('other', 'k'))?.owner).toBe('owner-b');
      await store.close();
    });

    it('complete records the response for the running claim\'s owner only, once; headers and bytes come back exactly', async () => {
      const store = await make();
      await store.insert(claim('k'));
      expect(await store.complete({ scope: 'shop', key: 'k', owner: 'intruder' }, response, 50_000)).toBe(false);
      expect(await store.complete({ scope: 'shop', key: 'k', owner: 'owner-a' }, response, 50_000)).toBe(true);
      expect(await store.complete({ scope: 'shop', key: 'k', owner: 'owner-a' }, response, 60_000)).toBe(false);
      const record = await store.get('shop', 'k');
      expect(record).toMatchObject({ state: 'completed', owner: 'owner-a', expiresAt: 50_000, fingerprint: 'fp-1' });
      expect(record?.response?.status).toBe(201);
      expect(record?.response?.headers).toEqual([['content-type', 'application/json'], ['x-tag', 'a'], ['x-tag', 'b']]);
      expect([...(record?.response?.body ?? [])]).toEqual([0, 1, 2, 255]);
      await store.close();
    });

    it('renew extends a running claim for its owner only, and never a completed one', async () => {
      const store = await make();
      await store.insert(claim('k'));
      expect(await store.renew({ scope: 'shop', key: 'k', owner: 'intruder' }, 9_000)).toBe(false);
      expect(await store.renew({ scope: 'shop', key: 'k', owner: 'owner-a' }, 9_000)).toBe(true);
      expect((await store.get('shop', 'k'))?.lockedUntil).toBe(9_000);
      await store.complete({ scope: 'shop', key: 'k', owner: 'owner-a' }, response, 50_000);
      expect(await store.renew({ scope: 'shop', key: 'k', owner: 'owner-a' }, 12_000)).toBe(false);
      await store.close();
    });

    it('release deletes the owner\'s running claim, and never another\'s or a completed one', async () => {
      const store = await make();
      await store.insert(claim('a'));
      await store.release({ scope: 'shop', key: 'a', owner: 'intruder' });
      expect(await store.get('shop', 'a')).toBeDefined();
      await store.release({ scope: 'shop', key: 'a', owner: 'owner-a' });
      expect(await store.get('shop', 'a')).toBeUndefined();
      await store.insert(claim('b'));
      await store.complete({ scope: 'shop', key: 'b', owner: 'owner-a' }, response, 50_000);
      await store.release({ scope: 'shop', key: 'b', owner: 'owner-a' });
      expect((await store.get('shop', 'b'))?.state).toBe('completed');
      await store.close();
    });

    it('takeOver replaces exactly the version it saw: of two racing takeovers one wins, a renewed or completed record is not taken', async () => {
      const store = await make();
      await store.insert(claim('k'));
      const seen = { owner: 'owner-a', state: 'running' as const, lockedUntil: 2_000 };
      const results = await Promise.all(['b', 'c', 'd'].map((o) => store.takeOver(claim('k', `owner-${o}`, { lockedUntil: 5_000, fingerprint: 'fp-2' }), seen)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = await store.get('shop', 'k');
      expect(winner).toMatchObject({ state: 'running', lockedUntil: 5_000, fingerprint: 'fp-2', response: undefined });

      await store.insert(claim('renewed'));
      await store.renew({ scope: 'shop', key: 'renewed', owner: 'owner-a' }, 3_000);
      expect(await store.takeOver(claim('renewed', 'owner-b'), seen)).toBe(false);

      await store.insert(claim('done'));
      await store.complete({ scope: 'shop', key: 'done', owner: 'owner-a' }, response, 50_000);
      expect(await store.takeOver(claim('done', 'owner-b'), seen)).toBe(false);
      expect(await store.takeOver(claim('done', 'owner-b'), { owner: 'owner-a', state: 'completed', lockedUntil: 2_000 })).toBe(true);
      expect(await store.get('shop', 'done')).toMatchObject({ state: 'running', owner: 'owner-b', response: undefined });
      await store.close();
    });

    it('purge deletes the records that expired, and only those', async () => {
      const store = await make();
      await store.insert(claim('old', 'o', { expiresAt: 1_000 }));
      await store.insert(claim('edge', 'o', { expiresAt: 2_000 }));
      await store.insert(claim('new', 'o', { expiresAt: 3_000 }));
      expect(await store.purge(2_000)).toBe(2);
      expect((await store.get('shop', 'new'))?.key).toBe('new');
      expect(await store.get('shop', 'edge')).toBeUndefined();
      await store.close();
    });
  });
}
