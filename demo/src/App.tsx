import { useCallback, useEffect, useState } from 'react';
import { useDeferredAction, useDeferredTask, useHalfsyncClient, useHalfsyncMode, useTaskSettled } from '@halfsync/react';
import { HalfsyncDevtools } from '@halfsync/react/devtools';
import type { Task } from '@halfsync/core';
import { checkout, CheckoutError, money, PRODUCTS, type CartLine, type CheckoutForm, type Order } from './shop';
import { generateLabel, recordSale, saveNote, sendConfirmation, submitOrder } from './tasks';

type View = 'shop' | 'orders' | 'mail';
type Mode = 'healthy' | 'failing' | 'slow' | 'rejecting' | 'down';

interface ServerOrder { id: number; orderNumber: string; customer: { name: string }; totalCents: number; createdAt: string | number; items: unknown[]; note: string }
interface Mail { id: number; to: string; subject: string; body: string; orderNumber: string; createdAt: string | number }

/** Reads a backend list, again whenever `version` changes. */
function useServerList<T>(path: string, version: unknown): { items: T[]; error: string } {
  const [state, setState] = useState<{ items: T[]; error: string }>({ items: [], error: '' });
  useEffect(() => {
    let live = true;
    fetch(path, { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`the backend answered ${r.status}`))))
      .then((j: { items: T[] }) => { if (live) setState({ items: j.items, error: '' }); })
      .catch((e: Error) => { if (live) setState((s) => ({ items: s.items, error: `Showing the last known list: ${e.message}` })); });
    return () => { live = false; };
  }, [path, version]);
  return state;
}

const STATUS_TEXT: Record<Task['status'], string> = {
  pending: 'queued', running: 'syncing…', succeeded: 'done', failed: 'failed', cancelled: 'cancelled', superseded: 'replaced by a newer one',
};

function TaskChip({ id, label }: { id: string; label: string }) {
  const task = useDeferredTask(id);
  const status = task?.status ?? 'pending';
  const text = status === 'failed' && task?.lastError?.code === 'DEPENDENCY_FAILED' ? 'cancelled: the order was refused'
    : status === 'pending' && task?.after && task.lastError === undefined && task.attempts === 0 ? 'waits for the order'
    : status === 'pending' && task?.lastError?.kind === 'unreachable' ? 'waiting for the network'
    : status === 'pending' && task && task.attempts > 0 ? `retrying (attempt ${task.attempts + 1} next)` : STATUS_TEXT[status];
  return (
    <li className={`chip chip-${status}`} data-task={label} data-status={status}>
      <span>{label}</span> <b>{text}</b>
      {task?.lastError && status !== 'succeeded' && <small className="why"> · {task.lastError.message}</small>}
    </li>
  );
}

interface Placed { order: Order; ids: { order: string; label: string; email: string; stats: string } }

function Confirmation({ placed, onClose }: { placed: Placed; onClose: () => void }) {
  const { order, ids } = placed;
  return (
    <section className="card confirmation" aria-label="Order confirmation">
      <h2>Thank you, {order.customer.name.split(' ')[0]}!</h2>
      <p>Order <strong data-testid="order-number">{order.orderNumber}</strong> is placed: {money(order.totalCents)}.</p>
      <p className="muted">Your payment was checked here, at once. The rest happens in the background, even if you close this tab or lose the network:</p>
      <ul className="chips">
        <TaskChip id={ids.order} label="Submit order" />
        <TaskChip id={ids.label} label="Shipping label" />
        <TaskChip id={ids.email} label="Confirmation email" />
        <TaskChip id={ids.stats} label="Sales statistics" />
      </ul>
      <button type="button" onClick={onClose}>Continue shopping</button>
    </section>
  );
}

const EMPTY_FORM: CheckoutForm = { name: 'Ada Lovelace', email: 'ada@example.com', address: '12 Analytical Row, London', card: '4242 4242 4242 4242', expiry: '12/30', cvc: '123' };

function Shop({ onPlaced, customer }: { onPlaced: (p: Placed) => void; customer: CheckoutForm }) {
  const client = useHalfsyncClient();
  const [cart, setCart] = useState<CartLine[]>([{ sku: 'MUG-01', qty: 1 }, { sku: 'STK-03', qty: 2 }]);
  const [form, setForm] = useState<CheckoutForm>(customer);
  useEffect(() => setForm(customer), [customer]);
  const [problem, setProblem] = useState<CheckoutError | undefined>();
  const place = useDeferredAction(submitOrder, {
    prepare: (input: { form: CheckoutForm; cart: CartLine[] }) => checkout(input.form, input.cart, Date.now()),
    defer: (order) => ({ meta: { order: order.orderNumber } }),
  });
  const qty = (sku: string) => cart.find((l) => l.sku === sku)?.qty ?? 0;
  const setQty = (sku: string, n: number) =>
    setCart((c) => (n <= 0 ? c.filter((l) => l.sku !== sku) : c.some((l) => l.sku === sku) ? c.map((l) => (l.sku === sku ? { ...l, qty: n } : l)) : [...c, { sku, qty: n }]));
  const total = cart.reduce((sum, l) => sum + l.qty * (PRODUCTS.find((p) => p.sku === l.sku)?.priceCents ?? 0), 0);

  const pay = () => {
    const r = place.run({ form, cart });
    if (!r.ok) {
      setProblem(r.error instanceof CheckoutError ? r.error : new CheckoutError('cart', String((r.error as Error).message)));
      return;
    }
    setProblem(undefined);
    const order = r.payload;
    // The rest of the async half, deferred in the same tick (one IndexedDB transaction), as a chain:
    // the label, the email and the statistics run after the order, for the order the server created.
    const after = [r.handle];
    const meta = { order: order.orderNumber };
    const label = client.defer(generateLabel, { address: order.customer.address }, { after, meta });
    const email = client.defer(sendConfirmation, {
      to: order.customer.email, subject: `Your order ${order.orderNumber}`,
      body: `Hello ${order.customer.name},\n\nthank you for your order ${order.orderNumber} of ${money(order.totalCents)}:\n${order.items.map((i) => `  ${i.qty} × ${i.name}`).join('\n')}\n\nIt ships to ${order.customer.address}.`,
    }, { after, meta });
    const stats = client.defer(recordSale, { orderNumber: order.orderNumber, totalCents: order.totalCents, itemCount: order.items.reduce((n, i) => n + i.qty, 0) }, { after, meta });
    setCart([]);
    onPlaced({ order, ids: { order: r.id, label: label.id, email: email.id, stats: stats.id } });
  };

  const field = (key: keyof CheckoutForm, label: string, props: Record<string, string> = {}) => (
    <label className={problem?.field === key ? 'invalid' : ''}>
      {label}
      <input name={key} value={form[key]} onChange={(e) => setForm({ ...form, [key]: e.target.value })} {...props} />
    </label>
  );

  return (
    <div className="shop">
      <section className="products" aria-label="Products">
        {PRODUCTS.map((p) => (
          <article key={p.sku} className="card product">
            <div className="emoji" aria-hidden>{p.emoji}</div>
            <h3>{p.name}</h3>
            <p className="muted">{p.blurb}</p>
            <div className="row">
              <strong>{money(p.priceCents)}</strong>
              <span className="qty">
                <button type="button" aria-label={`Remove one ${p.name}`} onClick={() => setQty(p.sku, qty(p.sku) - 1)}>−</button>
                <span data-testid={`qty-${p.sku}`}>{qty(p.sku)}</span>
                <button type="button" aria-label={`Add one ${p.name}`} onClick={() => setQty(p.sku, qty(p.sku) + 1)}>+</button>
              </span>
            </div>
          </article>
        ))}
      </section>
      <section className="card checkout" aria-label="Checkout">
        <h2>Checkout</h2>
        <p className="total">Total <strong data-testid="cart-total">{money(total)}</strong></p>
        {field('name', 'Name on card', { autoComplete: 'cc-name' })}
        {field('email', 'Email', { type: 'email' })}
        {field('address', 'Shipping address')}
        <div className="row">
          {field('card', 'Card number', { inputMode: 'numeric' })}
          {field('expiry', 'Expiry', { placeholder: 'MM/YY' })}
          {field('cvc', 'CVC', { inputMode: 'numeric' })}
        </div>
        {problem && <p role="alert" className="error">{problem.message}</p>}
        <button type="button" className="primary" onClick={pay}>Pay {money(total)}</button>
      </section>
    </div>
  );
}

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

function Orders() {
  const client = useHalfsyncClient();
  // Refetch whenever an order settles, in any tab; keep a synced order on screen until the
  // refetched list has it, so it never blinks out between the two.
  const [version, setVersion] = useState(0);
  const orders = useDeferredAction(submitOrder, { keepSucceeded: true, onSettledAnywhere: () => setVersion((v) => v + 1) });
  const server = useServerList<ServerOrder>('/api/orders', version);
  const known = new Set(server.items.map((o) => o.orderNumber));
  const optimistic = orders.optimistic.filter((o) => !known.has(o.value.orderNumber));
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
          {server.items.map((o) => (
            <tr key={o.orderNumber} data-order={o.orderNumber} data-status="confirmed">
              <td>{o.orderNumber}</td>
              <td>{o.customer.name}</td>
              <td>{money(o.totalCents)}</td>
              <td><span className="badge ok">confirmed by the server</span></td>
              <td><NoteField orderNumber={o.orderNumber} saved={o.note ?? ''} /></td>
            </tr>
          ))}
          {optimistic.length + server.items.length === 0 && <tr><td colSpan={5} className="muted">No orders yet.</td></tr>}
        </tbody>
      </table>
    </section>
  );
}

function MailView() {
  const [version, setVersion] = useState(0);
  useTaskSettled(sendConfirmation, () => setVersion((v) => v + 1));
  const mail = useServerList<Mail>('/api/emails', version);
  return (
    <section className="card" aria-label="Sent mail">
      <h2>Sent mail <small className="muted">(the backend's outbox)</small></h2>
      {mail.error && <p className="muted">{mail.error}</p>}
      {mail.items.length === 0 && <p className="muted">Nothing sent yet.</p>}
      {mail.items.map((m) => (
        <article key={m.id} className="mail" data-order={m.orderNumber}>
          <header><strong>{m.subject}</strong> <span className="muted">to {m.to}</span></header>
          <pre>{m.body}</pre>
        </article>
      ))}
    </section>
  );
}

const MODES: Array<{ mode: Mode; label: string }> = [
  { mode: 'healthy', label: 'Healthy' },
  { mode: 'failing', label: 'Failing (500)' },
  { mode: 'slow', label: 'Slow' },
  { mode: 'rejecting', label: 'Rejecting (400)' },
  { mode: 'down', label: 'Down' },
];

function BackendSwitch() {
  const [mode, setMode] = useState<Mode | undefined>();
  const [error, setError] = useState('');
  // Asked again whenever the network returns: a message from a visit that began offline must not stay.
  useEffect(() => {
    const ask = () => fetch('/api/behaviour').then((r) => r.json()).then((j: { mode: Mode }) => { setMode(j.mode); setError(''); })
      .catch(() => setError('The backend cannot be reached.'));
    void ask();
    window.addEventListener('online', ask);
    return () => window.removeEventListener('online', ask);
  }, []);
  const choose = useCallback((m: Mode) => {
    fetch('/api/behaviour', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: m }) })
      .then((r) => r.json()).then((j: { mode: Mode }) => { setMode(j.mode); setError(''); })
      .catch(() => setError('The backend cannot be reached (is the browser offline?).'));
  }, []);
  return (
    <fieldset className="card switch" aria-label="Backend behaviour">
      <legend>Backend</legend>
      {MODES.map(({ mode: m, label }) => (
        <label key={m}><input type="radio" name="backend" value={m} checked={mode === m} onChange={() => choose(m)} /> {label}</label>
      ))}
      {error && <p className="error">{error}</p>}
      <p className="muted">Or go offline in DevTools → Network.</p>
    </fieldset>
  );
}

/** Two test customers, to show that a task runs only for the one who deferred it. */
const CUSTOMERS = [
  { id: 'ada', form: EMPTY_FORM },
  { id: 'grace', form: { ...EMPTY_FORM, name: 'Grace Hopper', email: 'grace@example.com', address: '1 Compiler Way, Arlington' } },
] as const;

function CustomerSwitch({ onChange }: { onChange: (form: CheckoutForm) => void }) {
  const client = useHalfsyncClient();
  const [owner, setOwner] = useState(client.owner);
  useEffect(() => client.subscribe(() => setOwner(client.owner)), [client]);
  useEffect(() => {
    // The first visit signs the first test customer in; later visits keep who was signed in.
    if (client.owner === undefined) void client.ready.then(async () => { if (client.owner === undefined) await client.signIn(CUSTOMERS[0].id); });
  }, [client]);
  useEffect(() => { const c = CUSTOMERS.find((x) => x.id === owner); if (c) onChange(c.form); }, [owner, onChange]);
  return (
    <label className="customer">
      Signed in as{' '}
      <select data-testid="customer" value={owner ?? ''} onChange={(e) => void client.signIn(e.target.value)}>
        {CUSTOMERS.map((c) => <option key={c.id} value={c.id}>{c.form.name}</option>)}
      </select>
    </label>
  );
}

export function App() {
  const mode = useHalfsyncMode();
  const [view, setView] = useState<View>('shop');
  const [placed, setPlaced] = useState<Placed | undefined>();
  const [customer, setCustomer] = useState<CheckoutForm>(EMPTY_FORM);
  const [online, setOnline] = useState(() => navigator.onLine);
  useEffect(() => {
    const on = () => setOnline(true);
    const off = () => setOnline(false);
    window.addEventListener('online', on);
    window.addEventListener('offline', off);
    return () => { window.removeEventListener('online', on); window.removeEventListener('offline', off); };
  }, []);
  return (
    <div className="app">
      <header className="top">
        <h1>half<span>sync</span> shop</h1>
        <nav>
          {(['shop', 'orders', 'mail'] as const).map((v) => (
            <button type="button" key={v} aria-current={view === v ? 'page' : undefined} onClick={() => setView(v)}>
              {v === 'shop' ? 'Shop' : v === 'orders' ? 'Orders' : 'Sent mail'}
            </button>
          ))}
        </nav>
        <span className={`net ${online ? 'on' : 'off'}`} data-testid="network">{online ? 'online' : 'offline'}</span>
        <span className="muted" data-testid="mode">runner: {mode}</span>
        <CustomerSwitch onChange={setCustomer} />
      </header>
      <main>
        <div className="content">
          {view === 'shop' && (placed ? <Confirmation placed={placed} onClose={() => setPlaced(undefined)} /> : <Shop onPlaced={setPlaced} customer={customer} />)}
          {view === 'orders' && <Orders />}
          {view === 'mail' && <MailView />}
        </div>
        <aside>
          <BackendSwitch />
        </aside>
      </main>
      <HalfsyncDevtools initialOpen position="inline" title="Queue" />
    </div>
  );
}
