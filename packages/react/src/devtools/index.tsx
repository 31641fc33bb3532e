import { useMemo, useState, useSyncExternalStore, type CSSProperties } from 'react';
import type { HalfsyncClient, Task } from '@halfsync/core';
import { useSnapshot, useHalfsyncMode } from '../useQueue.js';
import { HalfsyncProvider, useHalfsyncClient } from '../provider.js';
import { TaskDetail } from './Detail.js';
import { Filters } from './Filters.js';
import { matches, NO_FILTER, type TaskFilter } from './filter.js';
import { journalOf, useNow, useOnline, useOwner } from './hooks.js';
import { s } from './styles.js';
import { PAGE_ROWS, TaskTable } from './TaskTable.js';
import { Timeline } from './Timeline.js';
import { COUNTED, useStoreCounts, type StoreCounts } from './useStoreCounts.js';

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
  /** Start with finished rows (succeeded, cancelled, superseded) folded into one line. Default false. */
  readonly initialCollapsed?: boolean;
}

/**
 * A queue inspector. Its header counts every stored task by status (index counts, not just the
 * tasks the tab holds) and says the client's mode. Open, it shows a timeline of the last hour
 * (queue depth and outcomes per minute), a filter bar (status, task, owner, free text, finished
 * rows folded) and the task list: each chain grouped under its first task, with retry, cancel and
 * acknowledge first in each row, attempts and the tries that could not reach the server apart,
 * why a pending task waits (its owner, its parents, its lane, the network) or when it runs next,
 * order key, owner, metadata and last error; 50 rows at a time. A task's name opens its detail:
 * payload, result, attempts with the last error and its time, parents and children.
 *
 * Styled on its own (no CSS to import). Import it from `@halfsync/react/devtools` only where you
 * want it: bundlers leave it out everywhere else.
 *
 * @example
 * ```tsx
 * <HalfsyncProvider client={client}>
 *   <App />
 *   {import.meta.env.DEV && <HalfsyncDevtools />}
 * </HalfsyncProvider>
 * ```
 */
export function HalfsyncDevtools(props: HalfsyncDevtoolsProps) {
  // A client given directly is provided to the panel, so it uses the same hooks as an app.
  return props.client ? <HalfsyncProvider client={props.client}><Panel {...props} /></HalfsyncProvider> : <Panel {...props} />;
}

/** The header's counts: the store's once read (a moment after each change), the snapshot's before. */
function summaryOf(counts: StoreCounts | undefined, tasks: readonly Task[]): Array<[string, number]> {
  if (counts) return COUNTED.filter((k) => counts[k] > 0).map((k) => [k, counts[k]]);
  const window: Record<string, number> = {};
  for (const t of tasks) window[t.status] = (window[t.status] ?? 0) + 1;
  return COUNTED.filter((k) => window[k]).map((k) => [k, window[k]!]);
}

function Panel({ initialOpen = false, position = 'bottom-right', title = 'halfsync queue', initialCollapsed = false }: HalfsyncDevtoolsProps) {
  const client = useHalfsyncClient();
  const tasks = useSnapshot(client);
  const mode = useHalfsyncMode();
  const owner = useOwner(client);
  const online = useOnline();
  const journaled = journalOf(client);
  const storageReset = useSyncExternalStore(client.subscribe, () => journaled?.storageReset, () => undefined);
  const lastError = useSyncExternalStore(client.subscribe, () => client.lastError, () => undefined);
  const store = useStoreCounts(client);
  const counts = store?.counts;
  const [open, setOpen] = useState(initialOpen);
  const [draining, setDraining] = useState(false);
  const [drainProblem, setDrainProblem] = useState<string | undefined>();
  const [filter, setFilter] = useState<TaskFilter>(NO_FILTER);
  const [collapsed, setCollapsed] = useState(initialCollapsed);
  const [limit, setLimit] = useState(PAGE_ROWS);
  const [selected, setSelected] = useState<string | undefined>();
  const now = useNow(open);
  const byId = useMemo(() => new Map(tasks.map((t) => [t.id, t])), [tasks]);
  const shown = useMemo(() => tasks.filter((t) => matches(t, filter)), [tasks, filter]);
  const summary = summaryOf(counts, tasks);
  // The snapshot holds the signed-in user's work; the store's count holds everyone's. The
  // difference is another user's work, waiting for them to sign in again.
  const othersWaiting = store?.othersPending ?? 0;
  const drain = () => {
    setDraining(true);
    setDrainProblem(undefined);
    client.drain().catch((e: Error) => setDrainProblem(e.message)).finally(() => setDraining(false));
  };
  const place: CSSProperties = position === 'inline' ? {} : {
    position: 'fixed', bottom: 12, [position === 'bottom-left' ? 'left' : 'right']: 12, zIndex: 2147483000,
    maxHeight: '70vh', overflow: 'auto', width: open ? 'min(960px, calc(100vw - 24px))' : undefined,
  };
  return (
    <section aria-label={title} style={{ ...s.panel, ...place }} data-halfsync-devtools="">
      <div style={s.head}>
        <button type="button" style={s.headButton} aria-expanded={open} onClick={() => setOpen(!open)}>{open ? '▾' : '▸'} {title}</button>
        <span data-counts={counts ? 'store' : 'window'} title={counts ? 'every stored task, every user\'s, by status' : 'the tasks this tab holds, by status'}>
          {summary.length === 0 ? 'empty' : summary.map(([k, n], i) => <span key={k} data-count={k}>{i > 0 ? ' · ' : ''}{n} {k}</span>)}
        </span>
        {!online && <span data-offline="" style={{ color: '#fbd38d' }}>offline</span>}
        <span style={{ marginLeft: 'auto', opacity: 0.8 }} data-mode={mode}>mode: {mode}</span>
        {open && <button type="button" style={s.headButton} disabled={draining} onClick={drain}>drain now</button>}
      </div>
      {storageReset && (
        <p role="alert" data-storage-reset="" style={{ margin: 0, padding: '6px 10px', background: '#fff5f5', color: '#c53030' }}>
          {storageReset.code}: {storageReset.message}{' '}
          <button type="button" style={s.button} onClick={() => void journaled?.acknowledgeStorageReset()}>dismiss</button>
        </p>
      )}
      {lastError && <p data-last-error="" style={{ margin: 0, padding: '4px 10px', color: '#975a16' }}>runner: {lastError.code}: {lastError.message}</p>}
      {othersWaiting > 0 && (
        <p data-others-waiting={othersWaiting} style={{ margin: 0, padding: '4px 10px', color: '#718096' }}>
          {othersWaiting} pending {othersWaiting === 1 ? 'task' : 'tasks'} of another user {othersWaiting === 1 ? 'waits' : 'wait'} for them to sign in (not listed: a panel shows the work of the user signed in)
        </p>
      )}
      {drainProblem && <p role="alert" style={{ margin: 0, padding: '4px 10px', color: '#c53030' }}>drain: {drainProblem}</p>}
      {open && (
        <>
          <Timeline client={client} tasks={tasks} now={now} version={counts} />
          <Filters tasks={tasks} filter={filter} onFilter={(f) => { setFilter(f); setLimit(PAGE_ROWS); }} collapsed={collapsed} onCollapse={setCollapsed} />
          {selected !== undefined && <TaskDetail id={selected} tasks={tasks} byId={byId} onSelect={setSelected} onClose={() => setSelected(undefined)} />}
          <TaskTable client={client} tasks={shown} all={tasks} byId={byId} owner={owner} online={online} now={now}
            collapsed={collapsed} onExpand={() => setCollapsed(false)} limit={limit} onMore={() => setLimit((l) => l + PAGE_ROWS)}
            selected={selected} onSelect={(id) => setSelected(id === selected ? undefined : id)} />
        </>
      )}
    </section>
  );
}
