// Types of scripts/doctest.mjs for its tests.
export interface Block {
  readonly file: string;
  /** The first line of the block's code in its Markdown file (1-based). */
  readonly line: number;
  readonly lang: 'ts' | 'tsx';
  readonly code: string;
  /** The file name the block's first line gives it (`// tasks.ts — ...`), if any. */
  readonly name: string | undefined;
  /** The file the block must equal (`<!-- doctest: same as path -->`), if any. */
  readonly same: string | undefined;
}
export function extractBlocks(file: string): Block[];
export function checkBlocks(project: string, markdownFiles: string[], repo: string): {
  blocks: number;
  byKind: { page: number; worker: number };
  problems: string[];
};
