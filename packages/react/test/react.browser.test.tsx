// The React binding in real Chromium: optimistic rendering in the same commit, the sync half,
// rollback, callbacks, reload, two clients and StrictMode (the devtools panel: devtools.browser.test.tsx).
import { afterEach, describe, expect, it } from 'vitest';
import { StrictMode, useState } from 'react';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { createClient, defineTask, PermanentError, type HalfsyncClient } from '@halfsync/core';
import { HalfsyncProvider, useDeferredAction, useDeferredQueue, useDeferredTask, useTaskSettled } from '@halfsync/react';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

interface Order { id: string; total: number }
let gate: Promise<void> = Promise.resolve();
const placeOrder = defineTask('place-order', {
  async run(order: Order) {
    await gate;
    if (order.total < 0) throw new PermanentError('negative total', { code: 'REJECTED' });
    return { confirmed: order.id };
  },
});
const tasks = [placeOrder];

let n = 0;
const freshDb = () => `react-${Date.now()}-${n++}`;
const clients: HalfsyncClient[] = [];
const open = (dbName = freshDb()) => {
  const c = createClient({ tasks, dbName, persistStorage: false });
  clients.push(c);
  return c;
};
afterEach(() => { cleanup(); while (clients.length) clients.pop()!.close(); gate = Promise.resolve(); });

function Checkout({ rollback, onSuccess, onError }: { rollback?: 'mark' | 'drop'; onSuccess?: () => void; onError?: (code: string) => void }) {
  const [error, setError] = useState('');
  const action = useDeferredAction(placeOrder, {
    prepare: (input: { id: string; total: string }) => {
      const total = Number(input.total);
      if (Number.isNaN(total)) throw new Error(`"${input.total}" is not a number`);
      return { id: input.id, total };
    },
    optimistic: (order) => `${order.id}: ${order.total}`,
    rollback,
    onSuccess,
    onError: (e) => onError?.(e.code),
  });
  const [input, setInput] = useState({ id: 'A-1', total: '10' });
  return (
    <div>
      <input aria-label="id" value={input.id} onChange={(e) => setInput({ ...input, id: e.target.value })} />
      <input aria-label="total" value={input.total} onChange={(e) => setInput({ ...input, total: e.target.value })} />
      <button type="button" onClick={() => { const r = action.run(input); setError(r.ok ? '' : (r.error as Error).message); }}>pay</button>
      <p role="alert">{error}</p>
      <p data-testid="pending">{action.pendingCount}</p>
      <ul>{action.optimistic.map((o) => <li key={o.id} data-status={o.status}>{o.value} ({o.status})</li>)}</ul>
    </div>
  );
}

const items = () => screen.queryAllByRole('listitem').map((li) => li.textContent);

describe('useDeferredAction', () => {
  it('renders the optimistic item right after the click (one microtask), before IndexedDB answers', async () => {
    let release!: () => void;
    gate = new Promise((r) => { release = r; });
    const client = open();
    render(<HalfsyncProvider client={client}><Checkout /></HalfsyncProvider>);
    await act(async () => { fireEvent.click(screen.getByText('pay')); await Promise.resolve(); });
    expect(items()).toEqual(['A-1: 10 (pending)']);
    expect(client.getSnapshot()[0]!.seq).toBeUndefined();
    release();
    await waitFor(() => expect(items()).toEqual([]));
    expect(client.getSnapshot()[0]).toMatchObject({ status: 'succeeded', result: { confirmed: 'A-1' } });
  });

  it('defers nothing when the sync half throws, and returns the error', async () => {
    const client = open();
    render(<HalfsyncProvider client={client}><Checkout /></HalfsyncProvider>);
    fireEvent.change(screen.getByLabelText('total'), { target: { value: 'ten' } });
    act(() => { fireEvent.click(screen.getByText('pay')); });
    expect(screen.getByRole('alert').textContent).toBe('"ten" is not a number');
    expect(items()).toEqual([]);
    await client.ready;
    expect(client.getSnapshot()).toHaveLength(0);
  });

  it('marks the optimistic item failed when the task fails for good (rollback: mark)', async () => {
    const errors: string[] = [];
    const client = open();
    render(<HalfsyncProvider client={client}><Checkout onError={(c) => errors.push(c)} /></HalfsyncProvider>);
    fireEvent.change(screen.getByLabelText('total'), { target: { value: '-5' } });
    act(() => { fireEvent.click(screen.getByText('pay')); });
    await waitFor(() => expect(items()).toEqual(['A-1: -5 (failed)']));
    expect(errors).toEqual(['TASK_FAILED']);
  });

  it('drops the optimistic item when the task fails for good (rollback: drop)', async () => {
    const client = open();
    render(<HalfsyncProvider client={client}><Checkout rollback="drop" /></HalfsyncProvider>);
    fireEvent.change(screen.getByLabelText('total'), { target: { value: '-5' } });
    act(() => { fireEvent.click(screen.getByText('pay')); });
    expect(items()).toEqual(['A-1: -5 (pending)']);
    await waitFor(() => expect(client.getSnapshot()[0]?.status).toBe('failed'));
    expect(items()).toEqual([]);
  });

  it('fires onSuccess once per task in StrictMode, and defers once per click', async () => {
    let successes = 0;
    const client = open();
    render(<StrictMode><HalfsyncProvider client={client}><Checkout onSuccess={() => successes++} /></HalfsyncProvider></StrictMode>);
    act(() => { fireEvent.click(screen.getByText('pay')); });
    fireEvent.change(screen.getByLabelText('id'), { target: { value: 'A-2' } });
    act(() => { fireEvent.click(screen.getByText('pay')); });
    await waitFor(() => expect(client.getSnapshot().filter((t) => t.status === 'succeeded')).toHaveLength(2));
    await waitFor(() => expect(successes).toBe(2));
    expect(client.getSnapshot()).toHaveLength(2);
  });

  it('shows work deferred before a reload in a fresh provider over the same database', async () => {
    const db = freshDb();
    const first = open(db);
    const h = first.defer(placeOrder, { id: 'OLD-1', total: 3 }, { delay: 60_000 });
    await h.persisted;
    first.close();
    const second = open(db);
    render(<HalfsyncProvider client={second}><Checkout /></HalfsyncProvider>);
    await waitFor(() => expect(items()).toEqual(['OLD-1: 3 (pending)']));
    expect(screen.getByTestId('pending').textContent).toBe('1');
  });

  it('shows a task deferred by another client (another tab) live', async () => {
    const db = freshDb();
    const a = open(db);
    const b = open(db);
    function Watch({ id }: { id: string }) {
      const t = useDeferredTask<Order, { confirmed: string }>(id);
      const queue = useDeferredQueue({ task: placeOrder, status: 'succeeded' });
      return <p data-testid="watch">{t ? `${t.status} ${t.result?.confirmed ?? ''}` : 'unknown'} / {queue.length}</p>;
    }
    await Promise.all([a.ready, b.ready]);
    let release!: () => void;
    gate = new Promise((r) => { release = r; });
    const h = a.defer(placeOrder, { id: 'TAB-A', total: 1 });
    render(<HalfsyncProvider client={b}><Watch id={h.id} /></HalfsyncProvider>);
    await waitFor(() => expect(screen.getByTestId('watch').textContent).toMatch(/^(pending|running)/));
    release();
    await waitFor(() => expect(screen.getByTestId('watch').textContent).toBe('succeeded TAB-A / 1'));
  });
});

describe('useTaskSettled', () => {
  it('tells a component in another tab when a task settles, so it can refetch', async () => {
    const db = freshDb();
    const here = open(db);
    const there = open(db);
    function Refetcher() {
      const [seen, setSeen] = useState<string[]>([]);
      useTaskSettled(placeOrder, (t) => setSeen((s) => [...s, `${(t.payload as Order).id}:${t.status}`]));
      return <p data-testid="seen">{seen.join(',')}</p>;
    }
    render(<HalfsyncProvider client={there}><Refetcher /></HalfsyncProvider>);
    await there.ready;
    const h = here.defer(placeOrder, { id: 'X-1', total: 3 });
    // The other tab hears of it while this one waits: inside act, so its update is flushed here.
    await act(() => h.result);
    await waitFor(() => expect(screen.getByTestId('seen').textContent).toBe('X-1:succeeded'));
  });
});
