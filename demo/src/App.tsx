// The shop: the pages, the switches for the backend and the customer, and the queue panel.
import { useCallback, useEffect, useState } from 'react';
import { useHalfsyncMode, useTaskSettled } from '@halfsync/react';
import { HalfsyncDevtools } from '@halfsync/react/devtools';
import type { CheckoutForm } from './shop';
import { CUSTOMERS, EMPTY_FORM } from './customers';
import { Orders } from './Orders';
import { useServerList, type Mail } from './serverList';
import { Confirmation, Shop, type Placed } from './ShopPage';
import { sendConfirmation } from './tasks';
import { client } from './client';

type View = 'shop' | 'orders' | 'mail';
type Mode = 'healthy' | 'failing' | 'slow' | 'rejecting' | 'down';

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

function CustomerSwitch({ onChange }: { onChange: (form: CheckoutForm) => void }) {
  const [owner, setOwner] = useState(client.owner);
  useEffect(() => client.subscribe(() => setOwner(client.owner)), []);
  useEffect(() => {
    // The first visit signs the first test customer in; later visits keep who was signed in.
    if (client.owner === undefined) void client.ready.then(async () => { if (client.owner === undefined) await client.signIn(CUSTOMERS[0].id); });
  }, []);
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
