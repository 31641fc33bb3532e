// The shop's rules: products, money, card checks and the checkout's sync half. Pure functions.

export interface Product { sku: string; name: string; priceCents: number; emoji: string; blurb: string }
export interface CartLine { sku: string; qty: number }
export interface Customer { name: string; email: string; address: string }
export interface OrderItem { sku: string; name: string; qty: number; priceCents: number }
export interface Order { orderNumber: string; customer: Customer; items: OrderItem[]; totalCents: number; placedAt: number }
export interface CheckoutForm extends Customer { card: string; expiry: string; cvc: string }

export const PRODUCTS: readonly Product[] = [
  { sku: 'MUG-01', name: 'Async mug', priceCents: 1400, emoji: '☕', blurb: 'Holds coffee while the network is down.' },
  { sku: 'TEE-02', name: 'Half-Sync tee', priceCents: 2500, emoji: '👕', blurb: 'The sync half, in cotton.' },
  { sku: 'STK-03', name: 'Sticker pack', priceCents: 600, emoji: '🏷️', blurb: 'Idempotent: stick twice, counts once.' },
  { sku: 'CAP-04', name: 'Retry cap', priceCents: 1900, emoji: '🧢', blurb: 'Exponential backoff, full jitter.' },
];

export const money = (cents: number): string => `€${(cents / 100).toFixed(2)}`;

export const bySku = (sku: string): Product | undefined => PRODUCTS.find((p) => p.sku === sku);

export function orderItems(cart: readonly CartLine[]): OrderItem[] {
  return cart.flatMap((line) => {
    const p = bySku(line.sku);
    return p && line.qty > 0 ? [{ sku: p.sku, name: p.name, qty: line.qty, priceCents: p.priceCents }] : [];
  });
}

export const totalOf = (items: readonly OrderItem[]): number => items.reduce((sum, i) => sum + i.qty * i.priceCents, 0);

/** The Luhn checksum every card number carries. */
export function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return digits.length >= 12 && sum % 10 === 0;
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** A human-friendly order number, made on the main thread so the confirmation can show it at once. */
export function newOrderNumber(random: () => number = Math.random): string {
  let s = 'HS-';
  for (let i = 0; i < 6; i++) s += ALPHABET[Math.floor(random() * ALPHABET.length)];
  return s;
}

/** A field-level problem of the checkout form. */
export class CheckoutError extends Error {
  constructor(readonly field: keyof CheckoutForm | 'cart', message: string) {
    super(message);
    this.name = 'CheckoutError';
  }
}

/**
 * The sync half of paying: validates the card and the customer, prices the cart and returns the
 * order to defer. Throws a {@link CheckoutError} naming the field at fault.
 */
export function checkout(form: CheckoutForm, cart: readonly CartLine[], now: number, random?: () => number): Order {
  const items = orderItems(cart);
  if (items.length === 0) throw new CheckoutError('cart', 'Your cart is empty.');
  if (form.name.trim().length < 2) throw new CheckoutError('name', 'Enter the name on the card.');
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(form.email.trim())) throw new CheckoutError('email', 'Enter an email address for the confirmation.');
  if (form.address.trim().length < 5) throw new CheckoutError('address', 'Enter a shipping address.');
  const digits = form.card.replace(/[\s-]/g, '');
  if (!/^\d+$/.test(digits) || !luhn(digits)) throw new CheckoutError('card', 'That card number is not valid (try 4242 4242 4242 4242).');
  const m = /^(\d{2})\s*\/\s*(\d{2})$/.exec(form.expiry.trim());
  if (!m) throw new CheckoutError('expiry', 'Enter the expiry as MM/YY.');
  const month = Number(m[1]);
  const year = 2000 + Number(m[2]);
  const date = new Date(now);
  if (month < 1 || month > 12 || year < date.getFullYear() || (year === date.getFullYear() && month < date.getMonth() + 1)) {
    throw new CheckoutError('expiry', 'That card has expired.');
  }
  if (!/^\d{3,4}$/.test(form.cvc.trim())) throw new CheckoutError('cvc', 'Enter the 3 or 4 digits on the back of the card.');
  return {
    orderNumber: newOrderNumber(random),
    customer: { name: form.name.trim(), email: form.email.trim(), address: form.address.trim() },
    items,
    totalCents: totalOf(items),
    placedAt: now,
  };
}
