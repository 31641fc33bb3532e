/** What a request's fingerprint is made of. */
export interface FingerprintInput {
  /** The method, upper case. */
  readonly method: string;
  /** The URL (path and query are what the default fingerprint uses). */
  readonly url: URL;
  /** The exact body bytes (empty when there is no body). */
  readonly body: Uint8Array;
}

/** Makes a fingerprint: any string that is equal for two requests exactly when they are the same request. */
export type Fingerprinter = (input: FingerprintInput) => string | Promise<string>;

const encoder = new TextEncoder();

/**
 * The default fingerprint: SHA-256 over the method, the path with its query, and the body bytes, as
 * lower-case hex. A retry sends the same bytes, so byte equality is the honest test; pass your own
 * {@link Fingerprinter} to treat, say, two JSON bodies with their fields in another order as one request.
 *
 * Hashes with `node:crypto` where the runtime has it, and Web Crypto elsewhere, so it runs wherever the
 * layer does.
 */
export async function requestFingerprint(input: FingerprintInput): Promise<string> {
  // A method has no space and a request target no line break, so this framing is unambiguous.
  const head = encoder.encode(`${input.method} ${input.url.pathname}${input.url.search}\n`);
  const all = new Uint8Array(head.length + input.body.length);
  all.set(head, 0);
  all.set(input.body, head.length);
  return sha256Hex(all);
}

type Hash = (bytes: Uint8Array) => string;
let nodeHash: Promise<Hash | undefined> | undefined;

// node:crypto hashes in the calling thread; Web Crypto's digest goes through a thread pool, which costs a small
// body more than the hashing itself. Runtimes without node:crypto get Web Crypto.
function loadNodeHash(): Promise<Hash | undefined> {
  nodeHash ??= import('node:crypto').then(
    (m): Hash => (bytes) => m.createHash('sha256').update(bytes).digest('hex'),
    () => undefined,
  );
  return nodeHash;
}

/** SHA-256 of `bytes` as lower-case hex. */
export async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = await loadNodeHash();
  if (hash) return hash(bytes);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}
