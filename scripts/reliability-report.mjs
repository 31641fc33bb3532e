#!/usr/bin/env node
// Prints the table of RELIABILITY.md from the figures the fault suite wrote (test-results/reliability/).
import { readdirSync, readFileSync } from 'node:fs';

const dir = 'test-results/reliability';
const commands = {
  'flaky-server': 'npm run soak (10,000 tasks); npm test runs it with 300',
};
const rows = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(`${dir}/${f}`, 'utf8')));
const order = ['worker-kill', 'tab-closed', 'quota', 'corrupt-record', 'schema-upgrade', 'three-tabs', 'flaky-server', 'soak', 'bad-input'];
rows.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
console.log('| fault | tasks | faults injected | tasks lost | duplicate effects | overlapping runs | reproduce |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- |');
for (const r of rows) {
  const cmd = commands[r.name] ?? (r.name === 'soak' ? 'npm run soak' : `npx playwright test e2e/faults.spec.ts -g "${r.fault.split(' ')[0]}"`);
  console.log(`| ${r.fault} | ${r.tasks} | ${r.faults} | ${r.lost} | ${r.duplicates} | ${r.overlaps} | \`${cmd}\` |`);
}
