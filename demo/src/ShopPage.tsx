// The shop page: products, the checkout (the sync half) and the confirmation with the async half's progress.
import { useEffect, useState } from 'react';
import { useDeferredAction, useDeferredQueue, useDeferredTask, useHalfsyncClient } from '@halfsync/react';
import type { Task } from '@halfsync/core';
import { checkout, CheckoutError, money, PRODUCTS, type CartLine, type CheckoutForm, type Order } from './shop';
import { checkPrices, generateLabel, recordSale, sendConfirmation, submitOrder } from './tasks';

const STATUS_TEXT: Record<Task['status'], string> = {
  pending: 'queued', running: 'syncing…', succeeded: 'done', failed: 'failed', cancelled: 'cancelled', superseded: 'replaced by a newer one',
};

/** What a shopper reads of a task: no error codes or task ids (the queue panel has those). */
function shopperText(task: Task | undefined): { text: string; why?: string } {
  const status = task?.status ?? 'pending';
  if (status === 'failed' && task?.lastError?.code === 'DEPENDENCY_FAILED') return { text: 'cancelled: the order was refused' };
  // The confirmation says what a refusal means for the shopper; the chip names the step.
  if (status === 'failed') return { text: 'refused' };
  if (status !== 'pending' || !task) return { text: STATUS_TEXT[status] };
  if (task.after && task.lastError === undefined && task.attempts === 0) return { text: 'waits for the order' };
  if (task.lastError?.kind === 'unreachable') return { text: 'waiting for the network' };
  if (task.attempts > 0) return { text: `retrying (attempt ${task.attempts + 1} next)`, why: 'The shop did not answer; it is tried again shortly.' };
  return { text: STATUS_TEXT[status] };
}

function TaskChip({ id, label }: { id: string; label: string }) {
  const task = useDeferredTask(id);
  const status = task?.status ?? 'pending';
  const { text, why } = shopperText(task);
  return (
    <li className={`chip chip-${status}`} data-task={label} data-status={status}>
      <span>{label}</span> <b>{text}</b>
      {why && <small className="why"> · {why}</small>}
    </li>
  );
}

/** An order placed, and the ids of its four tasks. */
export interface Placed { order: Order; ids: { order: string; label: string; email: string; stats: string } }

export function Confirmation({ placed, onClose }: { placed: Placed; onClose: () => void }) {
  const { order, ids } = placed;
  const refused = useDeferredTask(ids.order)?.status === 'failed';
  return (
    <section className="card confirmation" aria-label="Order confirmation">
      <h2 className={refused ? 'error' : undefined}>{refused ? 'Sorry' : 'Thank you'}, {order.customer.name.split(' ')[0]}{refused ? '.' : '!'}</h2>
      <p>Order <strong data-testid="order-number">{order.orderNumber}</strong> {refused ? 'was not placed' : 'is placed'}: {money(order.totalCents)}.</p>
      {refused && <p role="alert" className="error" data-testid="refused">The order was refused; your card was not charged.</p>}
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

const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;

/** When the periodic price check last ran and runs next: its runs, live from the queue. */
function PriceCheck() {
  const runs = useDeferredQueue({ task: checkPrices });
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, []);
  const last = [...runs].reverse().find((t) => t.status === 'succeeded');
  const next = runs.find((t) => t.status === 'pending' || t.status === 'running');
  return (
    <p className="muted price-check" data-testid="price-check">
      {last?.result ? `Prices checked with the shop ${seconds(now - last.result.checkedAt)} ago` : 'Checking prices with the shop…'}
      {next && next.status === 'pending' && next.nextRunAt > now ? ` · next check in ${seconds(next.nextRunAt - now)} (every minute, by whichever tab or the worker runs first)` : ''}
    </p>
  );
}

export function Shop({ onPlaced, customer }: { onPlaced: (p: Placed) => void; customer: CheckoutForm }) {
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
        <PriceCheck />
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
        {field('card', 'Card number', { inputMode: 'numeric', autoComplete: 'cc-number' })}
        <div className="row">
          {field('expiry', 'Expiry', { placeholder: 'MM/YY' })}
          {field('cvc', 'CVC', { inputMode: 'numeric' })}
        </div>
        {problem && <p role="alert" className="error">{problem.message}</p>}
        <button type="button" className="primary" onClick={pay}>Pay {money(total)}</button>
      </section>
    </div>
  );
}
