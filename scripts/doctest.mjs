// The README's TypeScript blocks, type-checked as a user would compile them: each ```ts and ```tsx
// block of the given Markdown files becomes a module in a throwaway project where the packed
// @halfsync packages are installed, and is checked with strict TypeScript under
// `moduleResolution: bundler` and `nodenext`. Used by scripts/check-packages.mjs.
//
// What a block may rely on, so that each one compiles on its own:
//   - its own imports and `declare` lines, nothing hidden;
//   - a block whose first line names a file (`// tasks.ts — ...`) can be imported by the blocks
//     after it, as `./tasks.js`;
//   - a block that imports `@halfsync/core/worker`, `@halfsync/core/workbox` or a Workbox module
//     other than workbox-window, or references the webworker library, is service-worker code,
//     checked with the WebWorker library; any other block with the DOM library and Node's types;
//   - `<!-- doctest: same as path/to/file.ts -->` on the line before a fence: the block must also
//     be that file, word for word (a test that runs in CI as the README shows it);
//   - `<!-- doctest: skip -->` on the line before a fence leaves out a block that is not a program
//     (keep it rare).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import ts from 'typescript';

/**
 * The checked blocks of a Markdown file.
 * @param {string} file
 * @returns {Array<{ file: string, line: number, lang: 'ts' | 'tsx', code: string, name: string | undefined, same: string | undefined }>}
 */
export function extractBlocks(file) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)/.exec(lines[i]);
    if (!open) continue;
    const lang = open[2];
    let end = i + 1;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end])) end++;
    let before = i - 1;
    while (before >= 0 && lines[before].trim() === '') before--;
    const marker = before >= 0 ? /^<!--\s*doctest:\s*(skip\b|same as\s+(\S+))/.exec(lines[before].trim()) : null;
    const skip = marker?.[1] === 'skip';
    if ((lang === 'ts' || lang === 'tsx') && !skip) {
      const body = lines.slice(i + 1, end).map((l) => l.slice(open[1].length));
      const named = /^\/\/\s*(?:\S*\/)?([\w.-]+\.tsx?)\b/.exec(body[0] ?? '');
      blocks.push({ file, line: i + 2, lang, code: `${body.join('\n')}\n`, name: named?.[1], same: marker?.[2] });
    }
    i = end;
  }
  return blocks;
}

const WORKER = /from\s+['"](?:@halfsync\/core\/(?:worker|workbox)|workbox-(?!window)[\w-]+)['"]|<reference lib="webworker"/;
const RELATIVE = /from\s+['"]\.\/([\w.-]+?)(?:\.js)?['"]/g;

/**
 * Writes the blocks into `project` (which has the packages installed in node_modules) and
 * type-checks them; resolves with the problems found, each with the Markdown file and line.
 * @param {string} project
 * @param {string[]} markdownFiles
 * @param {string} repo the repository root, to print paths relative to it
 */
export function checkBlocks(project, markdownFiles, repo) {
  const blocks = markdownFiles.flatMap((f) => extractBlocks(f));
  /** file written → where it came from */
  const origin = new Map();
  const roots = { page: [], worker: [] };
  const named = new Map();
  blocks.forEach((block, n) => {
    const dir = join(project, 'blocks', `${String(n + 1).padStart(2, '0')}-${basename(block.file, '.md').toLowerCase()}-${block.line}`);
    mkdirSync(dir, { recursive: true });
    const main = join(dir, block.name ?? `example.${block.lang}`);
    writeFileSync(main, block.code);
    origin.set(main, block);
    // The named blocks above this one that it imports, beside it.
    for (const [, spec] of block.code.matchAll(RELATIVE)) {
      const dep = named.get(`${spec}.ts`) ?? named.get(`${spec}.tsx`);
      if (dep && dep.name !== block.name) {
        const path = join(dir, dep.name);
        writeFileSync(path, dep.code);
        origin.set(path, dep);
      }
    }
    if (block.name) named.set(block.name, block);
    roots[WORKER.test(block.code) ? 'worker' : 'page'].push(main);
  });

  const common = {
    // As strict as Vite's app template: its unused-variable checks included.
    strict: true, noUncheckedIndexedAccess: true, noUnusedLocals: true, noUnusedParameters: true, noFallthroughCasesInSwitch: true,
    noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
    jsx: ts.JsxEmit.ReactJSX, isolatedModules: true, verbatimModuleSyntax: true, moduleDetection: ts.ModuleDetectionKind.Force,
    esModuleInterop: true, allowSyntheticDefaultImports: true, types: [],
  };
  const kinds = {
    page: { lib: ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'], types: ['node'] },
    worker: { lib: ['lib.es2023.d.ts', 'lib.webworker.d.ts'], types: [] },
  };
  const resolutions = {
    bundler: { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler },
    nodenext: { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext },
  };
  /** "file:line:col message" → the modes it appeared in */
  const problems = new Map();
  for (const block of blocks) {
    if (!block.same) continue;
    const twin = join(repo, block.same);
    const where = `${relative(repo, block.file)}:${block.line - 1}`;
    if (!existsSync(twin)) problems.set(`${where} - the block should be ${block.same}, which does not exist`, ['same as']);
    else if (readFileSync(twin, 'utf8') !== block.code) problems.set(`${where} - the block and ${block.same} differ: make them the same text`, ['same as']);
  }
  for (const [kind, files] of Object.entries(roots)) {
    if (files.length === 0) continue;
    for (const [resolution, options] of Object.entries(resolutions)) {
      const program = ts.createProgram(files, { ...common, ...kinds[kind], ...options });
      for (const d of ts.getPreEmitDiagnostics(program)) {
        const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
        let where = '(no file)';
        const block = d.file && origin.get(d.file.fileName);
        if (d.file && block && d.start !== undefined) {
          const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
          where = `${relative(repo, block.file)}:${block.line + line}:${character + 1}`;
        } else if (d.file) where = relative(repo, d.file.fileName);
        const key = `${where} - TS${d.code}: ${text}`;
        problems.set(key, [...(problems.get(key) ?? []), `${resolution}, ${kind}`]);
      }
    }
  }
  return {
    blocks: blocks.length,
    byKind: { page: roots.page.length, worker: roots.worker.length },
    problems: [...problems].map(([message, modes]) => `${message} [${modes.join('; ')}]`),
  };
}
