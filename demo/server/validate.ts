// Shape checks for the demo backend's request bodies. Each parser throws an HttpError(400) whose message names
// the offending field and says what to send instead, so a developer poking at the API from devtools can fix the
// request without reading this file. Unknown fields are ignored on purpose: the page may send extra context.

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const BEHAVIOUR_MODES = ['healthy', 'failing', 'slow', 'rejecting', 'down'] as const;
export type BehaviourMode = (typeof BEHAVIOUR_MODES)[number];

/** Order numbers as the demo shop makes them: "HS-" and six upper-case letters or digits, e.g. "HS-7K2Q9D". */
export const ORDER_NUMBER_PATTERN = /^HS-[A-Z0-9]{6}$/;

// Prices are capped so that 50 lines of 99 units still add up to a safe integer, keeping totals exact in JS.
const MAX_PRICE_CENTS = 1_000_000_000;
const MAX_ITEMS = 50;
const MAX_QTY = 99;
const EMAIL_PATTERN = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export interface OrderItem {
  sku: string;
  name: string;
  qty: number;
  priceCents: number;
}

export interface OrderInput {
  orderNumber: string;
  customer: { name: string; email: string; address: string };
  items: OrderItem[];
  totalCents: number;
}

export interface LabelInput {
  orderNumber: string;
  address: string;
}

export interface EmailInput {
  to: string;
  subject: string;
  body: string;
  orderNumber: string;
}

export interface SaleInput {
  orderNumber: string;
  totalCents: number;
  itemCount: number;
}

type Fields = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : `a string of ${value.length} characters`;
  if (typeof value === 'number') return `the number ${value}`;
  return `a ${typeof value}`;
}

function bad(field: string, message: string): never {
  throw new HttpError(400, `${field} ${message}`, field);
}

function object(value: unknown, field: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    bad(field, `must be a JSON object (got ${describe(value)})`);
  }
  return value as Fields;
}

function text(fields: Fields, key: string, path: string, max: number): string {
  const value = fields[key];
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > max) {
    bad(path, `must be a non-blank string of at most ${max} characters (got ${describe(value)})`);
  }
  return value;
}

function integer(fields: Fields, key: string, path: string, min: number, max: number): number {
  const value = fields[key];
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    bad(path, `must be an integer from ${min} to ${max} (got ${describe(value)})`);
  }
  return value;
}

function orderNumber(fields: Fields, path = 'orderNumber'): string {
  const value = fields.orderNumber;
  if (typeof value !== 'string' || !ORDER_NUMBER_PATTERN.test(value)) {
    bad(path, `must look like "HS-7K2Q9D": "HS-" then six upper-case letters or digits (got ${describe(value)})`);
  }
  return value;
}

function email(fields: Fields, key: string, path: string): string {
  const value = text(fields, key, path, 254);
  if (!EMAIL_PATTERN.test(value)) bad(path, `must be an email address like "ada@example.com" (got "${value}")`);
  return value;
}

/** The request body as a JSON object, or a 400 explaining why it is not one. */
export function parseJsonObject(raw: string): Fields {
  if (raw.trim() === '') throw new HttpError(400, 'the request body is empty: send a JSON object');
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (error) {
    throw new HttpError(400, `the request body is not valid JSON (${(error as Error).message}): send a JSON object`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new HttpError(400, `the request body must be a JSON object (got ${describe(value)})`);
  }
  return value as Fields;
}

export function parseOrder(body: Fields): OrderInput {
  const number = orderNumber(body);
  const c = object(body.customer, 'customer');
  const customer = {
    name: text(c, 'name', 'customer.name', 200),
    email: email(c, 'email', 'customer.email'),
    address: text(c, 'address', 'customer.address', 500),
  };
  const rawItems = body.items;
  if (!Array.isArray(rawItems) || rawItems.length < 1 || rawItems.length > MAX_ITEMS) {
    bad('items', `must be an array of 1 to ${MAX_ITEMS} items (got ${describe(rawItems)}${Array.isArray(rawItems) ? ` of length ${rawItems.length}` : ''})`);
  }
  const items = rawItems.map((raw: unknown, i): OrderItem => {
    const item = object(raw, `items[${i}]`);
    return {
      sku: text(item, 'sku', `items[${i}].sku`, 64),
      name: text(item, 'name', `items[${i}].name`, 200),
      qty: integer(item, 'qty', `items[${i}].qty`, 1, MAX_QTY),
      priceCents: integer(item, 'priceCents', `items[${i}].priceCents`, 0, MAX_PRICE_CENTS),
    };
  });
  const sum = items.reduce((total, item) => total + item.qty * item.priceCents, 0);
  const totalCents = integer(body, 'totalCents', 'totalCents', 0, MAX_ITEMS * MAX_QTY * MAX_PRICE_CENTS);
  if (totalCents !== sum) {
    bad('totalCents', `is ${totalCents} but the items add up to ${sum} (the sum of qty × priceCents): send the matching total`);
  }
  return { orderNumber: number, customer, items, totalCents };
}

export function parseLabel(body: Fields): LabelInput {
  return { orderNumber: orderNumber(body), address: text(body, 'address', 'address', 500) };
}

/** A note on an order (the page saves it latest-wins): an empty string clears it. */
export interface NoteInput {
  orderNumber: string;
  note: string;
}

export function parseNote(body: Fields): NoteInput {
  const note = body.note;
  if (typeof note !== 'string' || note.length > 1_000) bad('note', `must be a string of at most 1000 characters (got ${describe(note)})`);
  return { orderNumber: orderNumber(body), note: note as string };
}

/** A batch of sales, applied in order. */
export function parseSales(body: Fields): SaleInput[] {
  const sales = body.sales;
  if (!Array.isArray(sales) || sales.length === 0 || sales.length > 200) bad('sales', `must be a list of 1 to 200 sales (got ${describe(sales)})`);
  return (sales as unknown[]).map((s, i) => {
    if (typeof s !== 'object' || s === null || Array.isArray(s)) bad(`sales[${i}]`, 'must be an object');
    return parseSale(s as Fields);
  });
}

export function parseEmail(body: Fields): EmailInput {
  return {
    to: email(body, 'to', 'to'),
    subject: text(body, 'subject', 'subject', 200),
    body: text(body, 'body', 'body', 10_000),
    orderNumber: orderNumber(body),
  };
}

export function parseSale(body: Fields): SaleInput {
  return {
    orderNumber: orderNumber(body),
    totalCents: integer(body, 'totalCents', 'totalCents', 0, MAX_ITEMS * MAX_QTY * MAX_PRICE_CENTS),
    itemCount: integer(body, 'itemCount', 'itemCount', 1, MAX_ITEMS * MAX_QTY),
  };
}

export function parseMode(body: Fields): BehaviourMode {
  const mode = body.mode;
  if (!BEHAVIOUR_MODES.includes(mode as BehaviourMode)) {
    bad('mode', `must be one of ${BEHAVIOUR_MODES.map((m) => `"${m}"`).join(', ')} (got ${describe(mode)})`);
  }
  return mode as BehaviourMode;
}
