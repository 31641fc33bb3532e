import { useState } from 'react';
import type { HalfsyncClient, Task } from '@halfsync/core';
import { badge, s } from './styles.js';
import type { Wait } from './waiting.js';

/** The columns after the actions, in order: the header and each row agree through this list. */
export const COLUMNS = ['task', 'status', 'attempts', 'unreachable', 'next run', 'order key', 'owner', 'meta', 'last error'] as const;

type Operation = 'retry' | 'cancel' | 'acknowledge';

const SELECTED = '#ebf8ff';

/** The buttons a task's status allows, first in its row so they are never scrolled out of view. */
function Actions({ task, client, selected }: { task: Task; client: HalfsyncClient; selected: boolean }) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | undefined>();
  const act = (op: Operation) => {
    setBusy(true);
    setProblem(undefined);
    client[op](task.id).catch((e: Error) => setProblem(`${op}: ${e.message}`)).finally(() => setBusy(false));
  };
  const button = (op: Operation) => <button type="button" style={s.button} disabled={busy} data-action={op} onClick={() => act(op)}>{op}</button>;
  const finished = task.status === 'succeeded' || task.status === 'failed' || task.status === 'cancelled';
  return (
    <td style={selected ? { ...s.actions, background: SELECTED } : s.actions} data-col="actions">
      {task.status === 'failed' && button('retry')}
      {task.status === 'pending' && button('cancel')}
      {finished && button('acknowledge')}
      {problem && <div role="alert" style={{ color: '#c53030', whiteSpace: 'normal', maxWidth: 220 }}>{problem}</div>}
    </td>
  );
}

/** Props of {@link TaskRow}. */
export interface TaskRowProps {
  readonly task: Task;
  readonly client: HalfsyncClient;
  /** How deep in its chain (0: first or alone). */
  readonly depth: number;
  /** Why it waits, for a pending task. */
  readonly wait: Wait | undefined;
  readonly selected: boolean;
  readonly onSelect: (id: string) => void;
}

/** One task of the list. */
export function TaskRow({ task, client, depth, wait, selected, onSelect }: TaskRowProps) {
  // A task that succeeded after failures is not in trouble: its old error is not shown.
  const error = task.status === 'succeeded' || task.status === 'cancelled' || task.status === 'superseded' ? undefined : task.lastError;
  const unreachable = error?.kind === 'unreachable';
  return (
    <tr data-task-id={task.id} data-task-name={task.name} data-status={task.status} aria-selected={selected} style={selected ? { background: SELECTED } : undefined}>
      <Actions task={task} client={client} selected={selected} />
      <td style={s.cell} data-col="task" data-depth={depth}>
        {depth > 0 ? `${'  '.repeat(depth - 1)}↳ ` : ''}
        <button type="button" style={s.link} title="show this task" onClick={() => onSelect(task.id)}>{task.name}</button>
      </td>
      <td style={s.cell} data-col="status"><span style={badge(task.status)}>{task.status}</span></td>
      <td style={s.cell} data-col="attempts">{task.attempts}</td>
      <td style={s.cell} data-col="unreachable" title="tries that could not reach the server (offline, refused): not counted as attempts">{task.unreachable || ''}</td>
      <td style={wait && wait.kind !== 'scheduled' && wait.kind !== 'periodic' && wait.kind !== 'due' ? { ...s.cell, color: '#718096' } : s.cell} data-col="next" data-wait={wait?.kind}>{wait?.text ?? ''}</td>
      <td style={s.cell} data-col="order-key">{task.orderKey ?? ''}</td>
      <td style={s.cell} data-col="owner" data-owner={task.owner ?? ''}>{task.owner ?? ''}</td>
      <td style={s.cell} data-col="meta">{task.meta ? Object.entries(task.meta).map(([k, v]) => `${k}: ${String(v)}`).join(', ') : ''}</td>
      <td style={unreachable ? s.quiet : s.error} data-col="error" data-kind={error?.kind}>
        {/* Two lines at most, so a long message does not make every row tall: the whole of it is the title, and in the detail. */}
        {error && <div style={s.clamp} title={error.message}>{`${unreachable ? 'waiting for the network: ' : ''}${error.code}: ${error.message}`}</div>}
      </td>
    </tr>
  );
}
