// serializeRequest's own multipart encoder, used where the browser cannot read back a FormData
// body that holds a File (WebKit). Node's fetch reads such bodies, so the browser's failure is
// simulated; the result must be what Node's own encoder produces, boundary aside.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HalfsyncError } from '../src/errors.js';
import { serializeRequest, type StoredRequest } from '../src/http.js';

const URL_ = 'http://app.test/api/upload';

function form(): FormData {
  const fd = new FormData();
  fd.append('title', 'Grüße & more');
  fd.append('photo', new File([new Uint8Array([0, 1, 2, 253, 254, 255])], 'photo-ü.bin', { type: 'application/x-photo' }));
  fd.append('odd "name"\nhere', 'one\ntwo\rthree\r\nfour');
  fd.append('raw', new Blob(['no type']));
  fd.append('title', 'a second value');
  return fd;
}

const boundaryOf = (r: StoredRequest): string => {
  const type = r.headers.find(([k]) => k === 'content-type')?.[1] ?? '';
  const m = /^multipart\/form-data; boundary=(.+)$/.exec(type);
  if (!m) throw new Error(`not a multipart content type: ${type}`);
  return m[1]!;
};

/** The body with its boundary replaced by a fixed marker, for byte comparison. */
const normalised = (r: StoredRequest): string => {
  if (r.body?.kind !== 'bytes') throw new Error('expected a bytes body');
  return Buffer.from(r.body.bytes).toString('latin1').split(boundaryOf(r)).join('BOUNDARY');
};

describe('serializeRequest with a FormData body the browser cannot read back', () => {
  afterEach(() => { vi.restoreAllMocks(); });

  it('encodes it as the browser would send it', async () => {
    const native = await serializeRequest(URL_, { method: 'POST', body: form() });
    vi.spyOn(Request.prototype, 'arrayBuffer').mockRejectedValue(new DOMException('Unable to read form data blob', 'InvalidStateError'));
    const own = await serializeRequest(URL_, { method: 'POST', body: form() });
    expect(boundaryOf(own)).toMatch(/^----halfsyncFormBoundary[0-9a-f]{32}$/);
    expect(normalised(own)).toBe(normalised(native));
    // And a standard parser reads every field back.
    const bytes = own.body?.kind === 'bytes' ? own.body.bytes : new ArrayBuffer(0);
    const parsed = await new Response(bytes, { headers: { 'content-type': `multipart/form-data; boundary=${boundaryOf(own)}` } }).formData();
    const photo = parsed.get('photo') as File;
    expect([photo.name, photo.type, [...new Uint8Array(await photo.arrayBuffer())]]).toEqual(['photo-ü.bin', 'application/x-photo', [0, 1, 2, 253, 254, 255]]);
    expect(parsed.getAll('title')).toEqual(['Grüße & more', 'a second value']);
    expect((parsed.get('raw') as File).type).toBe('application/octet-stream');
  });

  it('refuses with BODY_NOT_REPLAYABLE when another body cannot be read', async () => {
    vi.spyOn(Request.prototype, 'arrayBuffer').mockRejectedValue(new TypeError('unreadable'));
    const error = await serializeRequest(URL_, { method: 'POST', body: new Blob(['x']) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HalfsyncError);
    expect((error as HalfsyncError).code).toBe('BODY_NOT_REPLAYABLE');
  });
});
