import type { Task } from '@halfsync/core';

/** A row of the panel: a task and how deep in its chain it sits (0: a chain's first task, or alone). */
export interface ChainRow {
  readonly task: Task;
  readonly depth: number;
}

/**
 * Newest first, each chain together: a task's dependents right after it, indented. A task whose
 * parents are not among `tasks` (finished and out of the window, or filtered out) starts a chain.
 */
export function chainRows(tasks: readonly Task[]): ChainRow[] {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const children = new Map<string, Task[]>();
  const roots: Task[] = [];
  for (const t of tasks) {
    const parent = t.after?.find((id) => byId.has(id));
    if (parent === undefined) roots.push(t);
    else children.set(parent, [...(children.get(parent) ?? []), t]);
  }
  const out: ChainRow[] = [];
  const walk = (t: Task, depth: number) => {
    out.push({ task: t, depth });
    for (const c of children.get(t.id) ?? []) walk(c, depth + 1);
  };
  for (let i = roots.length - 1; i >= 0; i--) walk(roots[i]!, 0);
  return out;
}

/** The tasks deferred to run after `id`, among `tasks`. */
export const childrenOf = (id: string, tasks: readonly Task[]): Task[] => tasks.filter((t) => t.after?.includes(id) ?? false);
