// Prints the cross-engine result as a table: one row per scenario, one column per engine, with
// timings; then what an engine cannot do ("not possible in <engine>: ..."), the failures, the
// notes, and a closing "N passed, N failed" line.
import type { Reporter, TestCase, TestModule } from 'vitest/node';
import { ENGINES } from './drivers';
import type { EngineMeta } from './suite';

interface Cell { state: string; ms: number; notPossible: boolean }

export default class EngineTableReporter implements Reporter {
  private started = Date.now();

  onInit(): void {
    this.started = Date.now();
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    const rows = new Map<string, Map<string, Cell>>();
    const versions = new Map<string, string>();
    const notPossible: string[] = [];
    const failures: string[] = [];
    const notes: string[] = [];
    let passed = 0;
    let failed = 0;
    const engineOf = (t: TestCase): string => t.meta().halfsync?.engine ?? (t.parent.type === 'suite' ? t.parent.name : '?');
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const engine = engineOf(t);
        const meta: EngineMeta | undefined = t.meta().halfsync;
        const result = t.result();
        const ms = t.diagnostic()?.duration ?? 0;
        if (meta?.version) versions.set(engine, meta.version);
        if (!rows.has(t.name)) rows.set(t.name, new Map());
        rows.get(t.name)!.set(engine, { state: result.state, ms, notPossible: (meta?.notPossible.length ?? 0) > 0 });
        if (result.state === 'passed') passed++;
        if (result.state === 'failed') {
          failed++;
          const message = result.errors?.[0]?.message?.split('\n').slice(0, 6).join('\n      ') ?? 'failed';
          failures.push(`  ${engine} > ${t.name}\n      ${message}`);
        }
        for (const np of meta?.notPossible ?? []) notPossible.push(`not possible in ${engine}: ${np}`);
        for (const n of meta?.notes ?? []) notes.push(`  ${engine.padEnd(8)} ${t.name.split(' ')[0]} ${n}`);
      }
      for (const e of m.errors()) { failed++; failures.push(`  ${m.moduleId}: ${e.message}`); }
    }
    const engines = ENGINES.filter((e) => [...rows.values()].some((r) => r.has(e)));
    const cell = (c: Cell | undefined): string => {
      if (!c) return 'not run';
      const s = `${(c.ms / 1000).toFixed(1)}s`;
      if (c.state === 'passed') return c.notPossible ? `n/a (checked) ${s}` : `pass ${s}`;
      if (c.state === 'failed') return `FAIL ${s}`;
      return c.state;
    };
    const width = Math.max(8, ...[...rows.keys()].map((k) => k.length));
    const col = 18;
    const lines: string[] = [];
    lines.push('', `Cross-engine suite: ${engines.map((e) => `${e} = ${versions.get(e) ?? '?'}`).join('; ')}`, '');
    lines.push(`${'scenario'.padEnd(width)} | ${engines.map((e) => e.padEnd(col)).join(' | ')}`);
    lines.push(`${'-'.repeat(width)}-|-${engines.map(() => '-'.repeat(col)).join('-|-')}`);
    for (const [name, byEngine] of rows) {
      lines.push(`${name.padEnd(width)} | ${engines.map((e) => cell(byEngine.get(e)).padEnd(col)).join(' | ')}`);
    }
    lines.push('');
    if (notPossible.length > 0) lines.push(...notPossible, '');
    if (failures.length > 0) lines.push('failures:', ...failures, '');
    if (notes.length > 0) lines.push('notes:', ...notes, '');
    lines.push(`wall time ${((Date.now() - this.started) / 1000).toFixed(1)} s`);
    lines.push(`${passed} passed, ${failed} failed`, '');
    process.stdout.write(lines.join('\n'));
  }
}
