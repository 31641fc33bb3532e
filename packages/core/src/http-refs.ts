import { HalfsyncError, PermanentError } from './errors.js';
import type { HttpResult, StoredRequest } from './http.js';

// Temporary ids: a deferred request may carry a value from a parent's result (the server id the
// first request returned), as a placeholder resolved at replay.

type Prev = [never, 0, 1, 2, 3, 4];
/** The dot paths of `T` (four levels deep). */
export type PathOf<T, D extends number = 4> = [D] extends [never] ? never
  : T extends readonly unknown[] ? `${number}` | `${number}.${PathOf<T[number], Prev[D]>}`
  : T extends object ? { [K in keyof T & string]: K | `${K}.${PathOf<T[K], Prev[D]>}` }[keyof T & string]
  : never;

/** Where in a parent's result a value is: `json.<path>` into an HTTP parent's JSON body, or a path into the result itself. */
export type ParentPath<Json, Result> = (unknown extends Json ? `json.${string}` : `json.${PathOf<Json>}`) | (unknown extends Result ? string : PathOf<Result>);

// `{{halfsync:<parent id>:<path>}}`, `:raw` at the end for a value put in the URL as it is; the
// braces percent-encoded once the URL has been through `new Request`.
const TOKEN = /(?:\{\{|%7B%7B)halfsync:([A-Za-z0-9-]{1,64}):([A-Za-z0-9_.$-]{1,200})(:raw)?(?:\}\}|%7D%7D)/g;

/** Options of {@link parentValue}. */
export interface ParentValueOptions {
  /**
   * Put the value into the URL as it is, not encoded: for a value that is itself a path or a query
   * (`"orders/17"`, `"a=1&b=2"`). A `/` in it then adds path segments and a `..` removes one, so use
   * it only for values your own server returns; the URL is still checked against the task's
   * allowed origins. Headers and bodies are the same either way.
   */
  readonly raw?: boolean;
}

/**
 * A placeholder for a value of a parent's result, for the URL, a header or a text body of a
 * request deferred to run after that parent (`after: [parent]`). Resolved at replay; a value the
 * parent's result does not have fails the task (DEPENDENCY_RESULT_MISSING): nothing is sent
 * against a missing id. Type the JSON to have the path checked.
 *
 * In a URL the value is encoded as `encodeURIComponent` does, so it stays one path segment or
 * one query value whatever the server returned (`/`, `?`, `#`, `&` included); a value that would
 * make a path segment empty, `.` or `..` fails the task (DEPENDENCY_RESULT_UNSAFE) before
 * anything is sent. `{ raw: true }` inserts it unencoded instead.
 *
 * @example
 * ```ts
 * const order = await deferFetch(client, '/api/orders', { method: 'POST', body: JSON.stringify(cart) });
 * await deferFetch(client, `/api/orders/${parentValue<{ id: string }>(order, 'json.id')}/payment`,
 *   { method: 'POST', body: JSON.stringify({ cents: 500 }) }, { after: [order] });
 * ```
 */
export function parentValue<Json = unknown, Result = HttpResult>(parent: { readonly id: string } | string, path: ParentPath<Json, Result>, options: ParentValueOptions = {}): string {
  const id = typeof parent === 'string' ? parent : parent?.id;
  if (typeof id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(id)) throw new HalfsyncError('INVALID_OPTIONS', `parentValue: ${JSON.stringify(id)} is not a task id or handle`);
  if (typeof path !== 'string' || !/^[A-Za-z0-9_.$-]{1,200}$/.test(path) || path.split('.').some((k) => k === '' || k === '__proto__')) {
    throw new HalfsyncError('INVALID_OPTIONS', `parentValue: ${JSON.stringify(path)} is not a dot path such as "json.id"`);
  }
  if (typeof options !== 'object' || options === null || Object.keys(options).some((k) => k !== 'raw') || (options.raw !== undefined && typeof options.raw !== 'boolean')) {
    throw new HalfsyncError('INVALID_OPTIONS', 'parentValue: the options are { raw?: boolean }');
  }
  return `{{halfsync:${id}:${path}${options.raw ? ':raw' : ''}}}`;
}

const texts = (r: StoredRequest): string[] => [r.url, ...r.headers.map(([, v]) => v), r.body?.kind === 'text' ? r.body.text : ''];

/** The parent ids a stored request refers to. */
export function refsOf(r: StoredRequest): string[] {
  const ids = new Set<string>();
  for (const t of texts(r)) for (const m of t.matchAll(TOKEN)) ids.add(m[1]!);
  return [...ids];
}

function lookup(result: unknown, path: string, parentId: string): unknown {
  let value: unknown = result;
  let keys = path.split('.');
  if (keys[0] === 'json') {
    const body = (result as { body?: unknown } | null)?.body;
    try { value = typeof body === 'string' ? JSON.parse(body) : undefined; } catch { value = undefined; }
    keys = keys.slice(1);
  }
  for (const k of keys) value = value !== null && typeof value === 'object' && Object.hasOwn(value, k) ? (value as Record<string, unknown>)[k] : undefined;
  if (value === undefined || value === null || typeof value === 'object') {
    throw new PermanentError(`the request refers to "${path}" of task ${parentId}'s result, which it does not have (${value === null ? 'null' : typeof value}); nothing was sent`, { code: 'DEPENDENCY_RESULT_MISSING' });
  }
  return value;
}

/** A path segment that would not name one thing: empty, `.` or `..` (which the URL parser also reads in `%2e`). */
const NOT_A_SEGMENT = /^(?:|\.|%2e|\.\.|\.%2e|%2e\.|%2e%2e)$/i;

/**
 * The request with every placeholder replaced by the parent's value: in the URL encoded as one
 * path segment or query value (unless `:raw`), refused where it would make a path segment empty,
 * `.` or `..`; in a JSON body a string that is only a placeholder takes the value as JSON.
 */
export function resolveRefs(r: StoredRequest, parents: Readonly<Record<string, unknown>>): StoredRequest {
  if (refsOf(r).length === 0) return r;
  const value = (id: string, path: string): unknown => {
    if (!Object.hasOwn(parents, id)) throw new PermanentError(`the request refers to task ${id}, which it does not run after; defer it with after: [that task]`, { code: 'DEPENDENCY_RESULT_MISSING' });
    return lookup(parents[id], path, id);
  };
  const swap = (text: string, encode: (v: unknown) => string) => text.replace(TOKEN, (_, id: string, path: string) => encode(value(id, path)));
  const url = resolveUrl(r.url, value);
  const headers = r.headers.map(([k, v]) => [k, swap(v, String)] as const);
  let body = r.body;
  if (body?.kind === 'text') {
    const json = r.headers.some(([k, v]) => k === 'content-type' && v.includes('json'));
    let text = body.text;
    // In JSON, "«placeholder»" becomes the value as JSON (a number stays a number).
    if (json) text = text.replace(new RegExp(`"${TOKEN.source}"`, 'g'), (_, id: string, path: string) => JSON.stringify(value(id, path)));
    body = { kind: 'text', text: swap(text, json ? (v) => JSON.stringify(String(v)).slice(1, -1) : String) };
  }
  return { ...r, url, headers, ...(body ? { body } : {}) };
}

/** The URL with its placeholders replaced, each path segment that holds one checked once filled in. */
function resolveUrl(url: string, value: (id: string, path: string) => unknown): string {
  const cut = url.search(/[?#]/);
  const path = cut === -1 ? url : url.slice(0, cut);
  const rest = cut === -1 ? '' : url.slice(cut);
  const fill = (text: string) => text.replace(TOKEN, (_, id: string, p: string, raw: string | undefined) => {
    const v = String(value(id, p));
    return raw ? v : encodeURIComponent(v);
  });
  // The scheme and authority ("http://host") hold no placeholder a request could be made with:
  // the origin check at replay refuses any host but the allowed ones.
  const segments = path.split('/').map((segment) => {
    const refs = [...segment.matchAll(TOKEN)];
    if (refs.length === 0) return segment;
    const filled = fill(segment);
    if (refs.every((m) => m[3] === undefined) && NOT_A_SEGMENT.test(filled)) {
      const [, id, p] = refs[0]!;
      throw new PermanentError(
        `the request puts "${p}" of task ${id}'s result in its URL as the path segment ${JSON.stringify(filled)}, which would change the request's path; nothing was sent. ` +
        'Return an id the server can be asked for, or, for a value that is a path of your own server\'s making, use parentValue(parent, path, { raw: true })',
        { code: 'DEPENDENCY_RESULT_UNSAFE' },
      );
    }
    return filled;
  });
  return segments.join('/') + fill(rest);
}
