// The README doc-test itself: what it checks, what it skips, and where it says a problem is.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBlocks, extractBlocks } from './doctest.mjs';

const root = mkdtempSync(join(tmpdir(), 'halfsync-doctest-test-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const fence = (lang: string, code: string) => `\`\`\`${lang}\n${code}\n\`\`\``;
const readme = [
  '# An app',
  fence('ts', "// tasks.ts — shared\nexport const tasks: string[] = ['a'];"),
  fence('ts', "// the page\nimport { tasks } from './tasks.js';\nconst n: number = tasks.length;\nexport { n };"),
  'A block with a mistake:',
  fence('ts', 'export const ids = [1, 2].map((x) => x.toUpperCase());'),
  '<!-- doctest: skip -->',
  fence('ts', 'plugins: [notAProgram()]'),
  fence('sh', 'npm test'),
  '<!-- doctest: same as twin.ts -->',
  fence('ts', 'export const same = 1;'),
  fence('ts', "/// <reference lib=\"webworker\" />\ndeclare const self: ServiceWorkerGlobalScope;\nself.addEventListener('fetch', (event) => event.respondWith(fetch(event.request)));"),
].join('\n\n');

describe('the README doc-test', () => {
  const file = join(root, 'README.md');
  writeFileSync(file, `${readme}\n`);
  writeFileSync(join(root, 'twin.ts'), 'export const same = 2;\n');
  const project = join(root, 'project');
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  writeFileSync(join(project, 'package.json'), '{ "type": "module" }');
  symlinkSync(join(process.cwd(), 'node_modules', '@types'), join(project, 'node_modules', '@types'), 'dir');

  it('takes the ts and tsx blocks, leaves out skipped ones, and names a block by its first line', () => {
    const blocks = extractBlocks(file);
    expect(blocks.map((b) => [b.name, b.same])).toEqual([['tasks.ts', undefined], [undefined, undefined], [undefined, undefined], [undefined, 'twin.ts'], [undefined, undefined]]);
    expect(blocks.some((b) => b.code.includes('notAProgram'))).toBe(false);
  });

  it('reports a type error at its line in the Markdown, under both resolutions; a twin that differs; nothing else', () => {
    const { blocks, byKind, problems } = checkBlocks(project, [file], root);
    expect(blocks).toBe(5);
    expect(byKind).toEqual({ page: 4, worker: 1 });
    const line = readme.split('\n').findIndex((l) => l.includes('toUpperCase')) + 1;
    expect(problems).toHaveLength(2);
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^README\\.md:${line}:\\d+ - TS2339: Property 'toUpperCase' does not exist on type 'number'\\. \\[bundler, page; nodenext, page\\]$`)));
    expect(problems).toContainEqual(expect.stringMatching(/^README\.md:\d+ - the block and twin\.ts differ/));
  }, 60_000); // four TypeScript programs: seconds, more on a loaded machine
});
