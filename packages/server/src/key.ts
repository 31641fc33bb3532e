/** The longest key accepted, in characters (Stripe's limit, and ample for a UUID or a ULID). */
export const MAX_KEY_LENGTH = 255;

/**
 * The shortest key accepted by default, in characters. A key is a capability within its scope: whoever sends it
 * with the same request gets the recorded response. 16 characters refuse counters and order numbers
 * (`order-42`) while admitting every random key clients make: a UUID (36), a ULID (26), a nanoid (21). A random
 * key of 16 or more characters carries at least 64 bits, too many to guess.
 */
export const MIN_KEY_LENGTH = 16;

/** What {@link parseIdempotencyKey} made of a header value. */
export type KeyVerdict =
  | { readonly ok: true; readonly key: string }
  | { readonly ok: false; readonly code: 'IDEMPOTENCY_KEY_MISSING' | 'IDEMPOTENCY_KEY_INVALID'; readonly reason: string };

// Printable ASCII: what a Structured Field String may hold, and what every client library sends.
const isPrintable = (c: number) => c >= 0x20 && c <= 0x7e;

/**
 * Reads an `Idempotency-Key` header value. The IETF draft defines the key as a Structured Field String
 * (`"8e03978e-40d5-43e8-bc93-6894a57f9326"`, quoted); most clients, halfsync's own http task and Stripe's
 * libraries among them, send it bare. Both are accepted, and a quoted key is the same key as its bare
 * form. A key must have {@link MIN_KEY_LENGTH} (or `minLength`) to 255 printable ASCII characters, and a bare key
 * no comma: Fetch joins two header fields with one (`a, b`), and two keys are not one.
 *
 * @example
 * ```ts
 * import { parseIdempotencyKey } from '@halfsync/server';
 * parseIdempotencyKey('"8e03978e-40d5-43e8-bc93-6894a57f9326"'); // { ok: true, key: '8e03978e-…' }
 * parseIdempotencyKey('');      // { ok: false, code: 'IDEMPOTENCY_KEY_INVALID', reason: 'it is empty' }
 * ```
 */
export function parseIdempotencyKey(value: string | null | undefined, minLength: number = MIN_KEY_LENGTH): KeyVerdict {
  if (value === null || value === undefined) return { ok: false, code: 'IDEMPOTENCY_KEY_MISSING', reason: 'there is none' };
  const raw = value.replace(/^[ \t]+|[ \t]+$/g, '');
  let key = raw;
  if (raw.startsWith('"')) {
    const unquoted = unquote(raw);
    if (unquoted === undefined) {
      return invalid('it starts with a quote but is not a well-formed quoted string (a closing quote, and only \\" or \\\\ escapes)');
    }
    key = unquoted;
  } else if (raw.includes(',')) {
    return invalid('it holds a comma, as two Idempotency-Key header fields joined into one do: send the header once, with one key');
  }
  if (key.length === 0) return invalid('it is empty');
  if (key.length > MAX_KEY_LENGTH) return invalid(`it has ${key.length} characters, more than ${MAX_KEY_LENGTH}`);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (!isPrintable(c)) return invalid(`character ${i + 1} is U+${c.toString(16).toUpperCase().padStart(4, '0')}, which a key may not hold (only printable ASCII)`);
  }
  if (key.length < minLength) return invalid(`it has ${key.length} characters; a key needs at least ${minLength}, made at random (a UUID), so that nobody can guess it`);
  return { ok: true, key };
}

function invalid(reason: string): KeyVerdict {
  return { ok: false, code: 'IDEMPOTENCY_KEY_INVALID', reason };
}

// RFC 8941 sf-string: DQUOTE *(unescaped / "\" ( DQUOTE / "\" )) DQUOTE, nothing after the closing quote.
function unquote(raw: string): string | undefined {
  let out = '';
  for (let i = 1; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === '\\') {
      const next = raw[i + 1];
      if (next !== '"' && next !== '\\') return undefined;
      out += next;
      i++;
    } else if (ch === '"') {
      return i === raw.length - 1 ? out : undefined;
    } else {
      if (!isPrintable(ch.charCodeAt(0))) return undefined;
      out += ch;
    }
  }
  return undefined;
}
