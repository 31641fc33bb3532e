// Figures of the fault-injection suite, written per test to .reliability/ and turned
// into RELIABILITY.md's table by scripts/reliability-report.mjs.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface FaultFigures {
  fault: string;
  tasks: number;
  faults: number;
  lost: number;
  duplicates: number;
  overlaps: number;
  [more: string]: string | number;
}

export function record(name: string, figures: FaultFigures): void {
  // Outside test-results/, which Playwright empties at the start of every run.
  const dir = '.reliability';
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ name, at: new Date().toISOString(), ...figures }, null, 2));
}
