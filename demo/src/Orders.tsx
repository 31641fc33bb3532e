// The Orders page: the signed-in customer's orders, optimistic ones first, and each order's note.
import { useState, useSyncExternalStore } from 'react';
import { useDeferredAction, useDeferredTask, useHalfsyncClient } from '@halfsync/react';
import { CUSTOMERS } from './customers';
import { money } from './shop';
import { useServerList, type ServerOrder } from './serverList';
import { saveNote, submitOrder } from './tasks';

/** An order's note, saved latest-wins: edits made while offline or while one is sending collapse to the last. */
function NoteField({ orderNumber, saved }: { orderNumber: string; saved: string }) {
  const client = useHalfsyncClient();
  const [text, setText] = useState(saved);
  const [id, setId] = useState<string | undefined>();
  const task = useDeferredTask(id);
  const pending = task && (task.status === 'pending' || task.status === 'running');
  const save = () => setId(client.defer(saveNote, { orderNumber, note: text }, { supersede: `note:${orderNumber}`, meta: { order: orderNumber } }).id);
  return (
    <span className="note">
      <input aria-label={`Note for ${orderNumber}`} value={text} onChange={(e) => setText(e.target.value)} placeholder="a note" />
      <button type="button" onClick={save}>Save note</button>
      {task && <small className="muted" data-note-status={task.status}> {pending ? 'saving…' : task.status === 'superseded' ? 'replaced by a newer edit' : task.status === 'succeeded' ? 'saved' : task.status}</small>}
    </span>
  );
}

export function Orders() {
  const client = useHalfsyncClient();
  // Refetch whenever an order settles, in any tab; keep a synced order on screen until the
  // refetched list has it, so it never blinks out between the two.
  const [version, setVersion] = useState(0);
  const orders = useDeferredAction(submitOrder, { keepSucceeded: true, onSettledAnywhere: () => setVersion((v) => v + 1) });
  const owner = useSyncExternalStore(client.subscribe, () => client.owner);
  const server = useServerList<ServerOrder>('/api/orders', version);
  // Only the signed-in customer's orders: their tasks (by owner), and the backend's by their email
  // (the demo's backend has no accounts).
  const email = CUSTOMERS.find((c) => c.id === owner)?.form.email;
  const mine = server.items.filter((o) => o.customer.email === email);
  const known = new Set(server.items.map((o) => o.orderNumber));
  const optimistic = orders.optimistic.filter((o) => o.task.owner === owner && !known.has(o.value.orderNumber));
  return (
    <section className="card" aria-label="Orders">
      <h2>Orders</h2>
      {server.error && <p className="muted">{server.error}</p>}
      <table className="orders">
        <thead><tr><th>Order</th><th>Customer</th><th>Total</th><th>Status</th><th>Note</th></tr></thead>
        <tbody>
          {optimistic.map((o) => (
            <tr key={o.id} data-order={o.value.orderNumber} data-status={o.status === 'succeeded' ? 'confirmed' : o.status} className={o.status === 'failed' ? 'failed' : o.status === 'succeeded' ? '' : 'syncing'}>
              <td>{o.value.orderNumber}</td>
              <td>{o.value.customer.name}</td>
              <td>{money(o.value.totalCents)}</td>
              <td>
                {o.status === 'failed' ? (
                  <>
                    <span className="badge failed">failed — payment reversed</span>{' '}
                    <small className="why">{o.task.lastError?.message}</small>{' '}
                    <button type="button" onClick={() => void client.retry(o.id)}>retry</button>{' '}
                    <button type="button" onClick={() => void client.acknowledge(o.id)}>dismiss</button>
                  </>
                ) : o.status === 'succeeded' ? (
                  <span className="badge ok">confirmed by the server</span>
                ) : (
                  <span className="badge syncing">syncing…{o.task.attempts > 0 ? ` (attempt ${o.task.attempts})` : ''}</span>
                )}
              </td>
              <td />
            </tr>
          ))}
          {mine.map((o) => (
            <tr key={o.orderNumber} data-order={o.orderNumber} data-status="confirmed">
              <td>{o.orderNumber}</td>
              <td>{o.customer.name}</td>
              <td>{money(o.totalCents)}</td>
              <td><span className="badge ok">confirmed by the server</span></td>
              <td><NoteField orderNumber={o.orderNumber} saved={o.note ?? ''} /></td>
            </tr>
          ))}
          {optimistic.length + mine.length === 0 && <tr><td colSpan={5} className="muted">No orders yet.</td></tr>}
        </tbody>
      </table>
    </section>
  );
}
