// DevTools Protocol access the bench needs beyond Playwright's page sessions: a session on the
// service worker (Playwright does not open one on workers), and CPU-profile summaries that name
// the source functions through the build's source maps.
import { readFileSync, existsSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join } from 'node:path';

/**
 * A CDP session on the service worker whose URL ends with `suffix`, through the browser session
 * (Target.attachToTarget without flatten; messages go through Target.sendMessageToTarget).
 * @param {import('playwright-core').Browser} browser
 * @param {string} suffix
 */
export async function workerSession(browser, suffix) {
  const cdp = await browser.newBrowserCDPSession();
  const { targetInfos } = /** @type {{ targetInfos: Array<{ targetId: string, type: string, url: string }> }} */ (await cdp.send('Target.getTargets'));
  const target = targetInfos.find((t) => t.type === 'service_worker' && t.url.endsWith(suffix));
  if (!target) throw new Error(`no service worker target ending in ${suffix}`);
  const { sessionId } = /** @type {{ sessionId: string }} */ (await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false }));
  let id = 0;
  /** @type {Map<number, { resolve: (v: any) => void, reject: (e: Error) => void }>} */
  const pending = new Map();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    if (e.sessionId !== sessionId) return;
    const m = JSON.parse(e.message);
    const p = m.id !== undefined ? pending.get(m.id) : undefined;
    if (!p) return;
    pending.delete(m.id);
    if (m.error) p.reject(new Error(`${m.error.message} (${m.error.code})`));
    else p.resolve(m.result);
  });
  return {
    /** @param {string} method @param {Record<string, unknown>} [params] @returns {Promise<any>} */
    send(method, params = {}) {
      return new Promise((resolve, reject) => {
        const i = ++id;
        pending.set(i, { resolve, reject });
        cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: i, method, params }) }).catch(reject);
      });
    },
    detach: () => cdp.detach(),
  };
}

/**
 * The JS heap in use after a full GC, through a CDP session (page or worker).
 * @param {{ send(method: string, params?: Record<string, unknown>): Promise<any> }} session
 */
export async function heapAfterGc(session) {
  await session.send('HeapProfiler.collectGarbage');
  const { usedSize } = await session.send('Runtime.getHeapUsage');
  return /** @type {number} */ (usedSize);
}

/**
 * Summarises a CPU profile: self and inclusive time per function, named by the source map of the
 * built file it ran in (bench/.dist/app) where there is one.
 * @param {{ nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number, columnNumber: number }, children?: number[] }>, samples: number[], timeDeltas: number[] }} profile
 * @param {string} distDir
 * @param {{ top?: number, focus?: string[] }} [options] focus: also break down, by self time, the
 *   samples under a frame of each of these function names (where a function's time goes)
 */
export function summariseProfile(profile, distDir, { top = 15, focus = [] } = {}) {
  /** @type {Map<string, SourceMap | null>} */
  const maps = new Map();
  const mapFor = (url) => {
    if (maps.has(url)) return maps.get(url);
    let map = null;
    try {
      const file = join(distDir, new URL(url).pathname);
      if (existsSync(`${file}.map`)) map = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch { map = null; }
    maps.set(url, map);
    return map;
  };
  const nameOf = (cf) => {
    const fn = cf.functionName || '(anonymous)';
    if (!cf.url) return fn;
    const map = mapFor(cf.url);
    const entry = map?.findEntry(cf.lineNumber, cf.columnNumber);
    if (entry && 'originalSource' in entry && entry.originalSource) {
      const src = entry.originalSource.replace(/^.*?(packages\/|node_modules\/|bench\/)/, '$1');
      return `${fn} ${src}:${entry.originalLine + 1}`;
    }
    return `${fn} ${cf.url.replace(/^https?:\/\/[^/]+/, '')}:${cf.lineNumber + 1}`;
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** @type {Map<number, number>} */
  const selfTime = new Map();
  profile.samples.forEach((id, i) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let total = 0;
  let idle = 0;
  const self = new Map();
  const inclusive = new Map();
  /** @type {Map<string, Map<string, number>>} */
  const focused = new Map(focus.map((f) => [f, new Map()]));
  for (const [id, t] of selfTime) {
    const node = byId.get(id);
    const name = nameOf(node.callFrame);
    total += t;
    if (node.callFrame.functionName === '(idle)') idle += t;
    self.set(name, (self.get(name) ?? 0) + t);
    const seen = new Set();
    const under = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const frame = byId.get(cur).callFrame;
      if (focused.has(frame.functionName)) under.add(frame.functionName);
      const n = nameOf(frame);
      if (seen.has(n)) continue;
      seen.add(n);
      inclusive.set(n, (inclusive.get(n) ?? 0) + t);
    }
    for (const f of under) focused.get(f).set(name, (focused.get(f).get(name) ?? 0) + t);
  }
  const busy = total - idle;
  const rank = (m) => [...m.entries()]
    .filter(([n]) => !/^\((idle|root)\)/.test(n))
    .sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([name, t]) => ({ name, ms: t / 1000, shareOfBusy: busy > 0 ? t / busy : 0 }));
  const breakdowns = [...focused.entries()].map(([fn, m]) => {
    const sum = [...m.values()].reduce((a, b) => a + b, 0);
    return {
      focus: fn, ms: sum / 1000, shareOfBusy: busy > 0 ? sum / busy : 0,
      self: [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, t]) => ({ name, ms: t / 1000, share: sum > 0 ? t / sum : 0 })),
    };
  });
  return { totalMs: total / 1000, busyMs: busy / 1000, self: rank(self), inclusive: rank(inclusive), breakdowns };
}
