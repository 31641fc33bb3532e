#!/usr/bin/env node
// Prints the table of RELIABILITY.md from the figures the fault suite wrote (.reliability/).
import { readdirSync, readFileSync } from 'node:fs';

const dir = '.reliability';
const grep = {
  'worker-kill': 'the worker killed at random points', 'tab-closed': 'the tab closed in the middle', quota: 'the storage quota exhausted',
  'corrupt-record': 'a corrupt record', 'schema-upgrade': 'previous schema version', 'three-tabs': 'three tabs and the worker',
  'flaky-server': 'flaky server', 'bad-input': 'bad input at every public entry',
};
const commands = { soak: 'npm run soak' };
const rows = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')));
const order = ['worker-kill', 'tab-closed', 'quota', 'corrupt-record', 'schema-upgrade', 'three-tabs', 'flaky-server', 'soak', 'bad-input'];
rows.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
console.log('| fault | tasks | faults injected | tasks lost | duplicate effects | overlapping runs | reproduce |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
for (const r of rows) {
  const cmd = commands[r.name] ?? `npx playwright test e2e/faults.spec.ts -g "${grep[r.name]}"`;
  console.log(`| ${r.fault} | ${r.tasks} | ${r.faults} | ${r.lost} | ${r.duplicates} | ${r.overlaps} | \`${cmd}\` |`);
}
