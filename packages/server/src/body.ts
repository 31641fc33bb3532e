/** Returned by {@link readLimited} when a body is over its limit. */
export const TOO_LARGE: unique symbol = Symbol('halfsync.server.tooLarge');

/**
 * Reads a whole body, but no more than `limit` bytes: a declared `Content-Length` over the limit is refused
 * before anything is read, and a body without one is cut off (and its stream cancelled) once it passes it.
 */
export async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
  declaredLength: string | null,
): Promise<Uint8Array<ArrayBuffer> | typeof TOO_LARGE> {
  // Cancelled, not awaited: a branch of a tee'd body (a clone's) settles its cancel only once the other
  // branch is cancelled too, which is the caller's to decide.
  if (declaredLength !== null && Number(declaredLength) > limit) {
    body?.cancel().catch(() => {});
    return TOO_LARGE;
  }
  if (body === null) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      return TOO_LARGE;
    }
    chunks.push(value);
  }
  return concat(chunks, size);
}

/** Joins chunks into one array of `size` bytes. */
export function concat(chunks: readonly Uint8Array[], size = chunks.reduce((n, c) => n + c.byteLength, 0)): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}
