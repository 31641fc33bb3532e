// Priorities in Chromium with the worker: after the network returns, a payment deferred behind a
// long queue of telemetry is sent first, and the telemetry still goes out, each once.
import { test, expect } from '@playwright/test';
import { halfsyncKit } from '@halfsync/core/testing';
import { control, inPage, log, openApp, serverUntil } from './support';

test.beforeEach(async () => { await control({ reset: true }); });

type WithPriorities = { deferLow(ns: number[]): Promise<string[]>; deferUrgent(n: number): Promise<string> };

test('a high-priority task overtakes a long low-priority queue once the network returns', async ({ page }) => {
  expect(await openApp(page)).toBe('sync');
  const hs = await halfsyncKit(page);
  await hs.wakeWorker();
  await hs.offline();
  const low = Array.from({ length: 300 }, (_, i) => i + 1);
  await inPage(page, (h, ns) => (h as unknown as WithPriorities).deferLow(ns), low);
  await inPage(page, (h) => (h as unknown as WithPriorities).deferUrgent(1_000));
  expect((await log()).received).toHaveLength(0);
  await hs.online();
  await hs.sync();
  const l = await serverUntil((x) => x.applied.length === 301, 'every op applied', 30_000);
  const sent = l.received.filter((r) => r.status === 200).map((r) => r.body!.n);
  // The worker runs four at a time: the payment is among the first requests, not the last.
  expect(sent.indexOf(1_000)).toBeLessThan(4);
  // Every low-priority op once (four at a time, so not necessarily in order: they have no order key).
  expect(sent.filter((n) => n !== 1_000).sort((a, b) => a - b)).toEqual(low);
  expect(new Set(l.applied.map((a) => a.key)).size).toBe(301);
});
