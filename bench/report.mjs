#!/usr/bin/env node
// Renders a bench results file (default bench/results.json) as the Markdown tables of
// BENCHMARKS.md: node bench/report.mjs [results.json]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const file = process.argv[2] ?? fileURLToPath(new URL('./results.json', import.meta.url));
const r = JSON.parse(readFileSync(file, 'utf8'));
const m = r.machine;

const num = (x) => (x === undefined || Number.isNaN(x) ? '–' : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x >= 0.1 ? x.toFixed(3) : x.toFixed(4));
const mb = (x) => `${(x / 1_048_576).toFixed(1)} MB`;
const rng = (s, f = num) => `${f(s.median)} [${f(s.min)}–${f(s.max)}]`;
const x = (v) => `${v.toFixed(2)}×`;
const fig = (k, f = num) => (r.figures[k] ? rng(r.figures[k], f) : '–');
const out = [];
const say = (s = '') => out.push(s);

say(`Machine: ${m.cpu}, ${m.cores} cores, ${(m.ramBytes / 2 ** 30).toFixed(0)} GB RAM, ${m.os}; Chromium ${m.chromium} (headless); Node ${m.node}; ${m.date}; commit ${m.commit?.slice(0, 10)}${m.packagesModified ? ' (packages/ modified)' : ''}; load average ${m.loadAverage.start[0]} at the start, ${m.loadAverage.end[0]} at the end; page ${m.crossOriginIsolated ? '' : 'not '}cross-origin isolated (performance.now() to ${m.crossOriginIsolated ? '5 µs' : '100 µs'}). ${r.plan.reps} repetitions after a warm-up, ${r.seconds} s.`);
say();
say('| Target | halfsync | anchor | ratio | target | |');
say('| --- | --- | --- | --- | --- | --- |');
for (const c of r.comparisons.filter((c) => c.target)) {
  // Results written before the stretch goals were named so call them designTarget/designMet.
  const stretch = c.stretchTarget ?? c.designTarget;
  const stretchMet = c.stretchMet ?? c.designMet;
  const verdict = `${c.met ? 'met' : '**missed**'}${stretch ? ` (stretch ${stretch}: ${stretchMet ? 'met' : 'missed'})` : ''}`;
  if (c.value) {
    say(`| ${c.what} | ${rng(c.value)} ${c.unit} | – | – | ${c.target} | ${verdict} |`);
    continue;
  }
  const a = r.figures[c.of];
  const b = r.figures[c.to];
  const show = (f) => (f.unit === 'bytes' ? rng(f, mb) : `${rng(f)} ${f.unit}`);
  say(`| ${c.what} | ${show(a)} | ${show(b)} | ${rng(c.ratio, x)} | ${c.target} | ${verdict} |`);
}
say();
say('Other ratios (no target):');
say();
say('| Comparison | ratio |');
say('| --- | --- |');
for (const c of r.comparisons.filter((c) => !c.target)) say(`| ${c.what.trim()} | ${rng(c.ratio, x)} |`);
say();
say('Every figure (median [min–max]):');
say();
say('| Figure | value | unit |');
say('| --- | --- | --- |');
for (const f of Object.values(r.figures)) {
  if (f.unit === 'bytes') say(`| ${f.what.trim()} | ${rng(f, mb)} | |`);
  else if (f.unit === 'bytes/task') say(`| ${f.what.trim()} | ${rng(f, (v) => v.toFixed(0))} | bytes/task |`);
  else say(`| ${f.what.trim()} | ${rng(f)} | ${f.unit} |`);
}
const sizes = [...new Set(Object.keys(r.figures).filter((k) => k.startsWith('scale.')).map((k) => Number(k.split('.')[1])))];
if (sizes.length) {
  say();
  say('Scale (median [min–max] per task unless stated):');
  say();
  say('| queued | defer | drain | drain: first → last tenth | page heap after defer | page heap after drain | worker heap after drain | client start |');
  say('| --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const n of sizes) {
    const k = `scale.${n}`;
    const tenths = r.figures[`${k}.drainFirst`] ? `${num(r.figures[`${k}.drainFirst`].median)} → ${num(r.figures[`${k}.drainLast`].median)}` : '–';
    const drained = /drain of (all|the first \d+)/.exec(r.figures[`${k}.drain`]?.what ?? '')?.[1];
    say(`| ${n.toLocaleString('en')} | ${fig(`${k}.defer`)} ms | ${fig(`${k}.drain`)} ms (${drained}) | ${tenths} ms | ${fig(`${k}.heap.pageAfterDefer`, mb)} | ${fig(`${k}.heap.pageAfterDrain`, mb)} | ${fig(`${k}.heap.workerAfterDrain`, mb)} | ${fig(`${k}.start`)} ms |`);
  }
}
if (r.notes?.length) { say(); for (const n of r.notes) say(`Note: ${n}.`); }
if (r.failures?.length) { say(); for (const f of r.failures) say(`FAILED ${f.group}: ${f.error.split('\n')[0]}`); }
console.log(out.join('\n'));
