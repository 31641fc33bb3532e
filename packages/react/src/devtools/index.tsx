import { useEffect, useState, useSyncExternalStore, type CSSProperties } from 'react';
import type { HalfsyncClient, Task, TaskStatus } from '@halfsync/core';
import { useSnapshot } from '../useQueue.js';
import { useHalfsyncClient } from '../provider.js';

/** Props of {@link HalfsyncDevtools}. */
export interface HalfsyncDevtoolsProps {
  /** The client to inspect. Default: the one of the nearest provider. */
  readonly client?: HalfsyncClient;
  /** Start open. Default false (a small button shows the counts). */
  readonly initialOpen?: boolean;
  /** `inline` renders in the page flow; the corners float over it. Default `bottom-right`. */
  readonly position?: 'inline' | 'bottom-right' | 'bottom-left';
  /** A title for the panel. Default "halfsync queue". */
  readonly title?: string;
}

const COLORS: Record<TaskStatus, string> = {
  pending: '#b7791f', running: '#2b6cb0', succeeded: '#2f855a', failed: '#c53030', cancelled: '#718096', superseded: '#718096',
};

const s = {
  panel: { font: '12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace', color: '#1a202c', background: '#fff', border: '1px solid #cbd5e0', borderRadius: 8, boxShadow: '0 4px 16px rgba(0,0,0,.12)', overflow: 'hidden', maxWidth: '100%' },
  head: { display: 'flex', alignItems: 'center', gap: 8, padding: '6px 10px', background: '#1a202c', color: '#fff' },
  table: { borderCollapse: 'collapse', width: '100%' },
  cell: { padding: '4px 8px', borderTop: '1px solid #edf2f7', textAlign: 'left', verticalAlign: 'top', whiteSpace: 'nowrap' },
  error: { padding: '4px 8px', borderTop: '1px solid #edf2f7', color: '#c53030', whiteSpace: 'normal', maxWidth: 260, overflowWrap: 'anywhere' },
  waiting: { padding: '4px 8px', borderTop: '1px solid #edf2f7', color: '#718096', whiteSpace: 'normal', maxWidth: 260, overflowWrap: 'anywhere' },
  button: { font: 'inherit', fontSize: 11, padding: '1px 6px', marginRight: 4, border: '1px solid #a0aec0', borderRadius: 4, background: '#f7fafc', cursor: 'pointer' },
  headButton: { font: 'inherit', fontSize: 11, padding: '1px 6px', border: '1px solid #4a5568', borderRadius: 4, background: '#2d3748', color: '#fff', cursor: 'pointer' },
} satisfies Record<string, CSSProperties>;

const badge = (status: TaskStatus): CSSProperties => ({ display: 'inline-block', padding: '0 6px', borderRadius: 10, color: '#fff', background: COLORS[status] });

function relative(at: number | undefined, now: number): string {
  if (at === undefined) return '';
  const d = Math.round((at - now) / 1000);
  if (Math.abs(d) < 1) return 'now';
  return d > 0 ? `in ${d}s` : `${-d}s ago`;
}

/** Whether a pending task still waits for a parent this tab holds that has not succeeded. */
const waitsForParents = (task: Task, byId: ReadonlyMap<string, Task>): boolean =>
  task.after?.some((id) => { const p = byId.get(id); return p !== undefined && p.status !== 'succeeded'; }) ?? false;

function Row({ task, client, now, depth, parentsPending }: { task: Task; client: HalfsyncClient; now: number; depth: number; parentsPending: boolean }) {
  const [busy, setBusy] = useState<string | undefined>();
  const [problem, setProblem] = useState<string | undefined>();
  const act = (op: 'retry' | 'cancel' | 'acknowledge') => {
    setBusy(op);
    setProblem(undefined);
    client[op](task.id).catch((e: Error) => setProblem(e.message)).finally(() => setBusy(undefined));
  };
  const finished = task.status === 'succeeded' || task.status === 'failed' || task.status === 'cancelled';
  // A task that succeeded after failures is not in trouble: its old error is not shown.
  const error = task.status === 'succeeded' || task.status === 'cancelled' ? undefined : task.lastError;
  return (
    <tr data-task-id={task.id} data-status={task.status}>
      <td style={s.cell} data-depth={depth}>{depth > 0 ? `${'  '.repeat(depth - 1)}↳ ` : ''}{task.name}</td>
      <td style={s.cell}><span style={badge(task.status)}>{task.status}</span></td>
      <td style={s.cell}>{task.attempts}</td>
      <td style={s.cell} title="tries that could not reach the server (offline, refused): not counted as attempts">{task.unreachable || ''}</td>
      <td style={s.cell}>{task.status !== 'pending' ? '' : parentsPending ? 'after its parents' : relative(task.nextRunAt, now)}</td>
      <td style={s.cell}>{task.orderKey ?? ''}</td>
      <td style={s.cell} data-owner={task.owner ?? ''}>{task.owner ?? ''}{task.status === 'pending' && task.owner !== client.owner ? ' (waits for its owner)' : ''}</td>
      <td style={s.cell}>{task.meta ? Object.entries(task.meta).map(([k, v]) => `${k}: ${String(v)}`).join(', ') : ''}</td>
      <td style={error?.kind === 'unreachable' ? s.waiting : s.error} data-kind={error?.kind}>
        {problem ?? (error ? `${error.kind === 'unreachable' ? 'waiting for the network: ' : ''}${error.code}: ${error.message}` : '')}
      </td>
      <td style={s.cell}>
        {task.status === 'failed' && <button type="button" style={s.button} disabled={!!busy} onClick={() => act('retry')}>retry</button>}
        {task.status === 'pending' && <button type="button" style={s.button} disabled={!!busy} onClick={() => act('cancel')}>cancel</button>}
        {finished && <button type="button" style={s.button} disabled={!!busy} onClick={() => act('acknowledge')}>acknowledge</button>}
      </td>
    </tr>
  );
}

/** Newest first, each chain together: a task's dependents right after it, indented. */
function chains(tasks: readonly Task[]): Array<{ task: Task; depth: number }> {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const children = new Map<string, Task[]>();
  const roots: Task[] = [];
  for (const t of tasks) {
    const parent = t.after?.find((id) => byId.has(id));
    if (parent) children.set(parent, [...(children.get(parent) ?? []), t]);
    else roots.push(t);
  }
  const out: Array<{ task: Task; depth: number }> = [];
  const walk = (t: Task, depth: number) => {
    out.push({ task: t, depth });
    for (const c of children.get(t.id) ?? []) walk(c, depth + 1);
  };
  for (const r of roots.reverse()) walk(r, 0);
  return out;
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

/**
 * A queue inspector: every task with its status, attempts, tries that could not reach the server
 * (counted apart from attempts), next run, order key, owner, metadata and last error, each chain
 * grouped (a task's dependents under it),
 * with retry, cancel and acknowledge buttons, and a "drain now" button. Styled on its own (no
 * CSS to import); import it from `@halfsync/react/devtools` only where you want it, and bundlers
 * leave it out everywhere else.
 */
export function HalfsyncDevtools(props: HalfsyncDevtoolsProps) {
  return props.client ? <Panel {...props} client={props.client} /> : <FromContext {...props} />;
}

function FromContext(props: HalfsyncDevtoolsProps) {
  return <Panel {...props} client={useHalfsyncClient()} />;
}

function Panel({ client, initialOpen = false, position = 'bottom-right', title = 'halfsync queue' }: HalfsyncDevtoolsProps & { client: HalfsyncClient }) {
  const tasks = useSnapshot(client);
  const storageReset = useSyncExternalStore(client.subscribe, () => client.storageReset, () => undefined);
  const lastError = useSyncExternalStore(client.subscribe, () => client.lastError, () => undefined);
  const [open, setOpen] = useState(initialOpen);
  const [draining, setDraining] = useState(false);
  const now = useNow(open);
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const counts = tasks.reduce<Record<string, number>>((acc, t) => { acc[t.status] = (acc[t.status] ?? 0) + 1; return acc; }, {});
  const summary = (['pending', 'running', 'failed', 'succeeded'] as const).filter((k) => counts[k]).map((k) => `${counts[k]} ${k}`).join(' · ') || 'empty';
  const place: CSSProperties = position === 'inline' ? {} : { position: 'fixed', bottom: 12, [position === 'bottom-left' ? 'left' : 'right']: 12, zIndex: 2147483000, maxHeight: '60vh', overflow: 'auto' };
  return (
    <section aria-label={title} style={{ ...s.panel, ...place }} data-halfsync-devtools="">
      <div style={s.head}>
        <button type="button" style={s.headButton} aria-expanded={open} onClick={() => setOpen(!open)}>{open ? '▾' : '▸'} {title}</button>
        <span>{summary}</span>
        <span style={{ marginLeft: 'auto', opacity: 0.8 }}>mode: {client.mode}</span>
        {open && (
          <button type="button" style={s.headButton} disabled={draining} onClick={() => { setDraining(true); client.drain().catch(() => {}).finally(() => setDraining(false)); }}>
            drain now
          </button>
        )}
      </div>
      {storageReset && (
        <p role="alert" data-storage-reset="" style={{ margin: 0, padding: '6px 10px', background: '#fff5f5', color: '#c53030' }}>
          {storageReset.code}: {storageReset.message}{' '}
          <button type="button" style={s.button} onClick={() => void client.acknowledgeStorageReset()}>dismiss</button>
        </p>
      )}
      {lastError && <p data-last-error="" style={{ margin: 0, padding: '4px 10px', color: '#975a16' }}>runner: {lastError.code}: {lastError.message}</p>}
      {open && (
        <table style={s.table}>
          <thead>
            <tr>{['task', 'status', 'attempts', 'unreachable', 'next run', 'order key', 'owner', 'meta', 'last error', ''].map((h) => <th key={h} style={{ ...s.cell, borderTop: 0 }}>{h}</th>)}</tr>
          </thead>
          <tbody>
            {tasks.length === 0 ? <tr><td style={s.cell} colSpan={10}>no tasks</td></tr> : chains(tasks).map(({ task, depth }) => <Row key={task.id} task={task} client={client} now={now} depth={depth} parentsPending={waitsForParents(task, byId)} />)}
          </tbody>
        </table>
      )}
    </section>
  );
}

