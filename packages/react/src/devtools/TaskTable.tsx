import { useMemo } from 'react';
import type { HalfsyncClient, Task } from '@halfsync/core';
import { chainRows } from './chains.js';
import { isFinished } from './filter.js';
import { COLUMNS, TaskRow } from './Row.js';
import { s } from './styles.js';
import { lanesOf, waitOf } from './waiting.js';

/** Rows shown at first, and added by each "more". */
export const PAGE_ROWS = 50;

/** Props of {@link TaskTable}. */
export interface TaskTableProps {
  readonly client: HalfsyncClient;
  /** The tasks that pass the filter, in commit order. */
  readonly tasks: readonly Task[];
  /** Every task the tab holds, by id: parents outside the filter still hold their children. */
  readonly byId: ReadonlyMap<string, Task>;
  /** Every task the tab holds: a lane's head may be filtered out and still hold the lane. */
  readonly all: readonly Task[];
  readonly owner: string | undefined;
  readonly online: boolean;
  readonly now: number;
  /** Fold finished rows (succeeded, cancelled, superseded) into one line. */
  readonly collapsed: boolean;
  readonly onExpand: () => void;
  /** How many rows to show. */
  readonly limit: number;
  readonly onMore: () => void;
  readonly selected: string | undefined;
  readonly onSelect: (id: string) => void;
}

/** The task list: chains grouped, finished rows folded on request, at most `limit` rows. */
export function TaskTable({ client, tasks, byId, all, owner, online, now, collapsed, onExpand, limit, onMore, selected, onSelect }: TaskTableProps) {
  const rows = useMemo(() => chainRows(collapsed ? tasks.filter((t) => !isFinished(t)) : tasks), [tasks, collapsed]);
  const lanes = useMemo(() => lanesOf(all), [all]);
  const folded = collapsed ? tasks.filter(isFinished).length : 0;
  const shown = rows.slice(0, limit);
  const span = COLUMNS.length + 1;
  return (
    <div style={s.scroller} data-task-table="">
      <table style={s.table}>
        <thead>
          <tr>
            <th style={s.thActions} data-col="actions" aria-label="actions" />
            {COLUMNS.map((h) => <th key={h} style={s.th}>{h}</th>)}
          </tr>
        </thead>
        <tbody>
          {shown.map(({ task, depth }) => (
            <TaskRow key={task.id} task={task} client={client} depth={depth} selected={task.id === selected} onSelect={onSelect}
              wait={waitOf(task, { byId, lanes, owner, online, now })} />
          ))}
          {rows.length === 0 && folded === 0 && <tr><td style={s.cell} colSpan={span}>no tasks</td></tr>}
          {rows.length > limit && (
            <tr data-more="">
              <td style={s.cell} colSpan={span}>
                {rows.length - limit} more rows{' '}
                <button type="button" style={s.button} onClick={onMore}>show {Math.min(PAGE_ROWS, rows.length - limit)} more</button>
              </td>
            </tr>
          )}
          {folded > 0 && (
            <tr data-folded={folded}>
              <td style={{ ...s.cell, color: '#718096' }} colSpan={span}>
                {folded} finished {folded === 1 ? 'task' : 'tasks'} collapsed{' '}
                <button type="button" style={s.button} onClick={onExpand}>show</button>
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </div>
  );
}
