// The devtools panel in real Chromium: the actions, chains, owners and waiting reasons, the store's
// counts, the mode, filters, folding, paging, the detail view, the timeline and its layout.
import { afterEach, describe, expect, it } from 'vitest';
import { act, cleanup, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { chains, createClient, history, latestWins, owners, defineTask, PermanentError, type ClientOptions, type HalfsyncClient } from '@halfsync/core';
import { HalfsyncDevtools } from '@halfsync/react/devtools';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

interface Order { id: string; total: number }
const placeOrder = defineTask('place-order', {
  run(order: Order) {
    if (order.total < 0) throw new PermanentError('negative total', { code: 'REJECTED' });
    return { confirmed: order.id };
  },
});
const offline = defineTask('offline-order', { run: () => { throw new TypeError('Failed to fetch'); }, retry: { baseDelayMs: 60_000 } });

let n = 0;
const clients: HalfsyncClient[] = [];
const open = (options: Partial<Omit<ClientOptions, 'use'>> = {}) => {
  const c = createClient({ tasks: [placeOrder, offline], dbName: `devtools-${Date.now()}-${n++}`, persistStorage: false, use: [chains, latestWins, owners, history], ...options });
  clients.push(c);
  return c;
};
afterEach(() => { cleanup(); while (clients.length) clients.pop()!.close(); });

/** Waits for a promise inside act, so the panel's updates meanwhile are flushed, not warned about. */
const settle = (p: Promise<unknown>) => act(async () => { await p.catch(() => undefined); });
const row = (id: string) => document.querySelector<HTMLTableRowElement>(`tr[data-task-id="${id}"]`);
const cell = (id: string, col: string) => row(id)?.querySelector(`[data-col="${col}"]`)?.textContent;
const button = (id: string, action: string) => row(id)!.querySelector<HTMLButtonElement>(`button[data-action="${action}"]`)!;

describe('HalfsyncDevtools', () => {
  it('lists every task and its retry, cancel and acknowledge buttons work', async () => {
    const client = open();
    render(<HalfsyncDevtools client={client} initialOpen position="inline" />);
    const failed = client.defer(placeOrder, { id: 'BAD', total: -1 });
    const later = client.defer(placeOrder, { id: 'LATER', total: 1 }, { delay: 60_000 });
    await settle(failed.result);
    await waitFor(() => expect(row(failed.id)?.getAttribute('data-status')).toBe('failed'));
    expect(cell(failed.id, 'error')).toBe('REJECTED: negative total');
    expect(cell(later.id, 'next')).toMatch(/^in \d+s$/);

    fireEvent.click(button(later.id, 'cancel'));
    await waitFor(() => expect(row(later.id)?.getAttribute('data-status')).toBe('cancelled'));
    fireEvent.click(button(failed.id, 'retry'));
    await waitFor(() => expect(client.get(failed.id)?.attempts).toBe(1));
    await waitFor(() => expect(row(failed.id)?.getAttribute('data-status')).toBe('failed'));
    fireEvent.click(button(later.id, 'acknowledge'));
    await waitFor(() => expect(row(later.id)).toBeNull());
    expect(client.get(later.id)).toBeUndefined();
  });

  it('shows the mode once the client is ready, with no task ever changing', async () => {
    const client = open();
    render(<HalfsyncDevtools client={client} position="inline" />);
    await settle(client.ready);
    await waitFor(() => expect(screen.getByText('mode: page')).toBeTruthy());
  });

  it('counts every stored task in its header, not only the window the tab holds', async () => {
    const client = open({ recentFinished: 2 });
    render(<HalfsyncDevtools client={client} position="inline" />);
    const handles = Array.from({ length: 5 }, (_, i) => client.defer(placeOrder, { id: `S-${i}`, total: 1 }));
    await settle(Promise.all(handles.map((h) => h.result)));
    await waitFor(() => expect(document.querySelector('[data-count="succeeded"]')?.textContent).toBe('5 succeeded'));
    expect(document.querySelector('[data-counts]')?.getAttribute('data-counts')).toBe('store');
    expect(client.getSnapshot().filter((t) => t.status === 'succeeded').length).toBeLessThan(5);
  });

  it('groups a chain under its first task, and shows each task\'s owner and metadata', async () => {
    const client = open();
    await settle(client.signIn('ada'));
    render(<HalfsyncDevtools client={client} initialOpen position="inline" />);
    const parent = client.defer(placeOrder, { id: 'P', total: 1 }, { delay: 60_000, meta: { order: 'A-1' } });
    const child = client.defer(placeOrder, { id: 'C', total: 1 }, { after: [parent], meta: { order: 'A-1', step: 2 } });
    const other = client.defer(placeOrder, { id: 'O', total: 1 }, { delay: 60_000 });
    await settle(Promise.all([parent.persisted, child.persisted, other.persisted]));
    await waitFor(() => expect(document.querySelectorAll('tr[data-task-id]')).toHaveLength(3));
    expect([...document.querySelectorAll('tr[data-task-id]')].map((r) => r.getAttribute('data-task-id'))).toEqual([other.id, parent.id, child.id]);
    expect(row(child.id)!.querySelector('[data-depth]')?.getAttribute('data-depth')).toBe('1');
    expect(cell(child.id, 'meta')).toBe('order: A-1, step: 2');
    expect(cell(child.id, 'owner')).toBe('ada');
    // The child is due as far as its own schedule goes, but it runs after its parent.
    expect(cell(child.id, 'next')).toBe('after its parents');
    expect(cell(parent.id, 'next')).toMatch(/^in \d+s$/);
  });

  it('says that another user\'s work waits for them, and that a task that could not reach the server waits for the network', async () => {
    const client = open();
    await settle(client.signIn('grace'));
    const graces = client.defer(placeOrder, { id: 'G', total: 1 }, { delay: 60_000 });
    await settle(graces.persisted);
    await settle(client.signIn('ada'));
    render(<HalfsyncDevtools client={client} initialOpen position="inline" />);
    // Grace's task is out of Ada's view (core keeps it from the snapshot), but counted.
    await waitFor(() => expect(document.querySelector('[data-others-waiting]')?.textContent).toMatch(/^1 pending task of another user waits for them to sign in/));
    expect(row(graces.id)).toBeNull();

    const h = client.defer(offline, {});
    await waitFor(() => expect(client.get(h.id)?.unreachable).toBe(1));
    await waitFor(() => expect(cell(h.id, 'next')).toBe('waits for the network'));
    expect(row(h.id)!.querySelector('[data-wait]')?.getAttribute('data-wait')).toBe('offline');
    expect([cell(h.id, 'status'), cell(h.id, 'attempts'), cell(h.id, 'unreachable')]).toEqual(['pending', '0', '1']);
    expect(row(h.id)!.querySelector('[data-kind="unreachable"]')?.textContent).toMatch(/^waiting for the network: TypeError: Failed to fetch/);
  });

  it('keeps the action buttons inside a narrow panel, whatever the width of the other columns', async () => {
    const client = open();
    const long = 'x'.repeat(400);
    render(<div style={{ width: 420 }}><HalfsyncDevtools client={client} initialOpen position="inline" /></div>);
    const h = client.defer(placeOrder, { id: long, total: -1 }, { meta: { note: long.slice(0, 120) }, orderKey: long.slice(0, 80) });
    await settle(h.result);
    await waitFor(() => expect(button(h.id, 'retry')).toBeTruthy());
    const panel = document.querySelector('[data-halfsync-devtools]')!.getBoundingClientRect();
    for (const action of ['retry', 'acknowledge']) {
      const b = button(h.id, action).getBoundingClientRect();
      expect(b.width).toBeGreaterThan(0);
      expect(b.left).toBeGreaterThanOrEqual(panel.left);
      expect(b.right).toBeLessThanOrEqual(panel.right);
    }
    expect(panel.width).toBeLessThanOrEqual(420);
  });

  it('filters by status, task, owner and text, folds finished rows, and shows 50 rows at a time', async () => {
    const client = open();
    render(<HalfsyncDevtools client={client} initialOpen position="inline" />);
    const ok = Array.from({ length: 60 }, (_, i) => client.defer(placeOrder, { id: `OK-${i}`, total: 1 }));
    const bad = client.defer(placeOrder, { id: 'NEEDLE', total: -1 });
    // Every one settled (Promise.all would stop at the failing one while the last two still run).
    await settle(Promise.allSettled([...ok.map((h) => h.result), bad.result]));
    await waitFor(() => expect(document.querySelectorAll('tr[data-task-id]')).toHaveLength(50));
    expect(document.querySelector('tr[data-more]')?.textContent).toContain('11 more rows');
    fireEvent.click(screen.getByText('show 11 more'));
    expect(document.querySelectorAll('tr[data-task-id]')).toHaveLength(61);

    fireEvent.change(screen.getByLabelText('filter by status'), { target: { value: 'failed' } });
    expect([...document.querySelectorAll('tr[data-task-id]')].map((r) => r.getAttribute('data-task-id'))).toEqual([bad.id]);
    fireEvent.change(screen.getByLabelText('filter by status'), { target: { value: '' } });
    fireEvent.change(screen.getByLabelText('search tasks'), { target: { value: 'needle' } });
    expect(document.querySelectorAll('tr[data-task-id]')).toHaveLength(1);
    fireEvent.change(screen.getByLabelText('filter by task'), { target: { value: 'place-order' } });
    fireEvent.change(screen.getByLabelText('filter by owner'), { target: { value: '-' } });
    expect(document.querySelectorAll('tr[data-task-id]')).toHaveLength(1);
    fireEvent.change(screen.getByLabelText('search tasks'), { target: { value: '' } });

    fireEvent.click(screen.getByLabelText('collapse finished'));
    expect(document.querySelectorAll('tr[data-task-id]')).toHaveLength(1);
    expect(document.querySelector('tr[data-folded]')?.textContent).toContain('60 finished tasks collapsed');
    fireEvent.click(document.querySelector('tr[data-folded] button')!);
    expect(document.querySelectorAll('tr[data-task-id]')).toHaveLength(50);
  });

  it('opens one task in detail: payload, result, every try with its error, parents and children', async () => {
    const client = open();
    render(<HalfsyncDevtools client={client} initialOpen position="inline" />);
    const parent = client.defer(placeOrder, { id: 'PARENT', total: 2 });
    const child = client.defer(placeOrder, { id: 'CHILD', total: -2 }, { after: [parent] });
    await settle(child.result);
    await waitFor(() => expect(row(child.id)?.getAttribute('data-status')).toBe('failed'));
    fireEvent.click(row(parent.id)!.querySelector('[data-col="task"] button')!);
    const detail = () => document.querySelector('[data-detail]')!;
    expect(detail().getAttribute('data-detail')).toBe(parent.id);
    expect(JSON.parse(detail().querySelector('[data-detail-payload]')!.textContent!)).toEqual({ id: 'PARENT', total: 2 });
    expect(JSON.parse(detail().querySelector('[data-detail-result]')!.textContent!)).toEqual({ confirmed: 'PARENT' });
    fireEvent.click(detail().querySelector('[data-detail-children] button')!);
    expect(detail().getAttribute('data-detail')).toBe(child.id);
    expect(detail().textContent).toContain('1 counted');
    expect(detail().querySelector('[data-detail-error]')?.textContent).toBe('REJECTED: negative total');
    // Every try, with how it ended.
    expect(detail().querySelector('[data-detail-tries]')?.textContent).toContain('permanent REJECTED: negative total');
    expect(detail().querySelector('[data-detail-parents]')?.textContent).toContain('place-order');
    fireEvent.click(screen.getByText('close'));
    expect(document.querySelector('[data-detail]')).toBeNull();
  });

  it('draws the last hour a bar a minute, with the store\'s counts for the hour', async () => {
    const client = open();
    render(<HalfsyncDevtools client={client} initialOpen position="inline" />);
    const handles = [client.defer(placeOrder, { id: 'T1', total: 1 }), client.defer(placeOrder, { id: 'T2', total: -1 })];
    await settle(Promise.all(handles.map((h) => h.result)));
    await waitFor(() => expect(document.querySelector('[data-hour-succeeded]')?.textContent).toBe('1'));
    expect(document.querySelector('[data-hour-failed]')?.textContent).toBe('1');
    const minutes = document.querySelectorAll('[data-timeline] g[data-minute]');
    expect(minutes).toHaveLength(60);
    expect(minutes[59]!.querySelector('title')?.textContent).toMatch(/1 succeeded, 1 failed$/);
  });
});
