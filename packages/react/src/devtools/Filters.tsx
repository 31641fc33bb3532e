import type { Task, TaskStatus } from '@halfsync/core';
import { choices, type TaskFilter } from './filter.js';
import { s } from './styles.js';

const STATUSES: ReadonlyArray<TaskStatus | 'unfinished'> = ['unfinished', 'pending', 'running', 'failed', 'succeeded', 'cancelled', 'superseded'];

/** Props of {@link Filters}. */
export interface FiltersProps {
  readonly tasks: readonly Task[];
  readonly filter: TaskFilter;
  readonly onFilter: (filter: TaskFilter) => void;
  /** Whether finished rows are folded into one line. */
  readonly collapsed: boolean;
  readonly onCollapse: (collapsed: boolean) => void;
}

/** The filter bar: status, task, owner, free text, and folding finished rows. */
export function Filters({ tasks, filter, onFilter, collapsed, onCollapse }: FiltersProps) {
  const set = (patch: Partial<TaskFilter>) => onFilter({ ...filter, ...patch });
  const select = (label: string, value: string, options: readonly string[], onChange: (v: string) => void, name: (v: string) => string = (v) => v) => (
    <label>
      {label}{' '}
      <select aria-label={`filter by ${label}`} style={s.input} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">all</option>
        {options.map((o) => <option key={o} value={o}>{name(o)}</option>)}
      </select>
    </label>
  );
  return (
    <div style={s.bar} role="search" aria-label="filter tasks">
      {select('status', filter.status, STATUSES, (v) => set({ status: v as TaskFilter['status'] }))}
      {select('task', filter.task, choices(tasks, (t) => t.name), (v) => set({ task: v }))}
      {select('owner', filter.owner, choices(tasks, (t) => t.owner ?? '-'), (v) => set({ owner: v }), (v) => (v === '-' ? '(signed out)' : v))}
      <input type="search" aria-label="search tasks" placeholder="search id, payload, error…" style={{ ...s.input, minWidth: 160 }} value={filter.text} onChange={(e) => set({ text: e.target.value })} />
      <label><input type="checkbox" checked={collapsed} onChange={(e) => onCollapse(e.target.checked)} /> collapse finished</label>
    </div>
  );
}
