import type { Task, TaskStatus } from '@halfsync/core';

/** What the panel's filter bar selects. Empty fields match every task. */
export interface TaskFilter {
  /** A status, or `unfinished` (pending, running, failed). */
  readonly status: TaskStatus | 'unfinished' | '';
  /** A task definition's name. */
  readonly task: string;
  /** An owner id; `-` for work deferred signed out. */
  readonly owner: string;
  /** Words that must each appear in the task's id, name, owner, order key, metadata, error or payload. */
  readonly text: string;
}

export const NO_FILTER: TaskFilter = { status: '', task: '', owner: '', text: '' };

/** Finished: nothing will happen to it unless someone retries it. Failed tasks are not, they want a decision. */
export const isFinished = (t: Task): boolean => t.status === 'succeeded' || t.status === 'cancelled' || t.status === 'superseded';

function json(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

/** The text a free-text search looks through, lower-cased. */
function haystack(t: Task): string {
  const meta = t.meta ? Object.entries(t.meta).map(([k, v]) => `${k}: ${String(v)}`).join(' ') : '';
  const error = t.lastError ? `${t.lastError.code} ${t.lastError.message}` : '';
  return [t.id, t.name, t.status, t.owner ?? '', t.orderKey ?? '', meta, error, json(t.payload)].join(' ').toLowerCase();
}

/** Whether `task` passes `filter`. */
export function matches(task: Task, filter: TaskFilter): boolean {
  if (filter.status === 'unfinished' ? isFinished(task) : filter.status !== '' && task.status !== filter.status) return false;
  if (filter.task !== '' && task.name !== filter.task) return false;
  if (filter.owner !== '' && (task.owner ?? '-') !== filter.owner) return false;
  const words = filter.text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const text = haystack(task);
  return words.every((w) => text.includes(w));
}

/** The distinct values of one field among `tasks`, sorted: the choices of a filter's select. */
export function choices(tasks: readonly Task[], pick: (t: Task) => string): string[] {
  return [...new Set(tasks.map(pick))].sort();
}
