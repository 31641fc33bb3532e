// Runs every scenario in one engine, as one Vitest suite: a `launch` test, then the scenarios in
// order on the same browser (a fresh profile) against this engine's own test server.
import { afterAll, describe, inject, test } from 'vitest';
import { halfsyncKit, type HalfsyncKit } from '@halfsync/core/testing';
import { launch, type EngineDriver, type EngineName, type EnginePage } from './drivers';
import { scenarios, type ScenarioContext } from './scenarios';
import { serverApi } from './server';

/** What each test leaves for the report (see reporter.ts). */
export interface EngineMeta {
  engine: EngineName;
  version?: string;
  notes: string[];
  notPossible: string[];
}

declare module 'vitest' {
  interface TaskMeta { halfsync?: EngineMeta }
  export interface ProvidedContext { engineOrigins: Record<EngineName, string> }
}

export function engineSuite(engine: EngineName): void {
  const origin = inject('engineOrigins')[engine];
  const server = serverApi(origin);
  let driver: EngineDriver | undefined;

  describe(engine, () => {
    afterAll(async () => { await driver?.close(); });

    test('launch', async ({ task }) => {
      const t0 = Date.now();
      driver = await launch(engine);
      task.meta.halfsync = { engine, version: driver.version, notes: [`launched in ${Date.now() - t0} ms`], notPossible: [] };
    });

    for (const scenario of scenarios) {
      test(scenario.title, async ({ task }) => {
        const meta: EngineMeta = { engine, notes: [], notPossible: [] };
        task.meta.halfsync = meta;
        if (!driver) throw new Error(`${engine} did not launch`);
        const pages: EnginePage[] = [];
        const kits: HalfsyncKit[] = [];
        const d = driver;
        const ctx: ScenarioContext = {
          engine, driver: d, page: d.page, origin, server,
          workerMode: engine === 'chromium' ? 'sync' : 'message',
          async newPage() {
            const p = await d.newPage();
            // Closed after the scenario even if it fails; a second close is harmless.
            let closed = false;
            const tracked: EnginePage = { ...p, kitTarget: p.kitTarget, setOffline: p.setOffline, close: async () => { if (!closed) { closed = true; await p.close(); } } };
            pages.push(tracked);
            return tracked;
          },
          async kit(page, options) {
            const k = await halfsyncKit(page.kitTarget, options);
            kits.push(k);
            return k;
          },
          note: (text) => { meta.notes.push(text); },
          notPossible: (what, why) => { meta.notPossible.push(`${what}: ${why}`); },
        };
        try {
          await server.control({ reset: true });
          await scenario.run(ctx);
        } finally {
          for (const k of kits) await k.dispose();
          for (const p of pages) await p.close().catch(() => {});
        }
      });
    }
  });
}
