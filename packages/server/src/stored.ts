/** A response as a store keeps it, and as replays send it back. */
export interface StoredResponse {
  readonly status: number;
  /** The headers that were stored, in order; a name may repeat. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
}

/**
 * Which response headers are stored for replays. By default every header except {@link NEVER_STORED}
 * and {@link NOT_STORED_BY_DEFAULT}; `only` keeps just the named ones, `except` drops more.
 */
export interface HeaderPolicy {
  /** Store only these headers (case-insensitive). `Set-Cookie` is stored only if named here. */
  readonly only?: readonly string[];
  /** Also leave out these headers. */
  readonly except?: readonly string[];
}

/** Headers that describe one connection or one transmission, never stored (the replay gets its own). */
export const NEVER_STORED: readonly string[] = [
  'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer',
  'content-length', 'date', 'idempotent-replayed',
];

/**
 * Headers left out unless `only` names them: a session cookie must not be handed to whoever replays a key,
 * and CORS's answer belongs to the request at hand (the adapters keep what CORS middleware set for it).
 */
export const NOT_STORED_BY_DEFAULT: readonly string[] = [
  'set-cookie', 'set-cookie2', 'access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers',
];

/** Returns the predicate that decides whether a header is stored. */
export function headerFilter(policy: HeaderPolicy = {}): (name: string) => boolean {
  const never = new Set(NEVER_STORED);
  const except = new Set((policy.except ?? []).map((h) => h.toLowerCase()));
  if (policy.only) {
    const only = new Set(policy.only.map((h) => h.toLowerCase()));
    return (name) => only.has(name) && !never.has(name) && !except.has(name);
  }
  const hidden = new Set(NOT_STORED_BY_DEFAULT);
  return (name) => !never.has(name) && !hidden.has(name) && !except.has(name);
}

/** The stored form of a response. */
export function toStored(status: number, headers: Headers, body: Uint8Array, keep: (name: string) => boolean): StoredResponse {
  const kept: Array<readonly [string, string]> = [];
  headers.forEach((value, name) => {
    if (keep(name)) kept.push([name, value]);
  });
  return { status, headers: kept, body };
}

/** A fresh `Response` for a stored one, marked `Idempotent-Replayed: true`. */
export function replayOf(stored: StoredResponse): Response {
  const headers = new Headers();
  for (const [name, value] of stored.headers) headers.append(name, value);
  headers.set('idempotent-replayed', 'true');
  return new Response(nullBodyStatus(stored.status) ? null : new Uint8Array(stored.body), { status: stored.status, headers });
}

/** Statuses whose responses may not carry a body. */
export function nullBodyStatus(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}
