import type { HalfsyncServerErrorCode } from './errors.js';

/** The codes the layer answers with, each with its status and title. */
export type ProblemCode = Extract<
  HalfsyncServerErrorCode,
  'IDEMPOTENCY_KEY_MISSING' | 'IDEMPOTENCY_KEY_INVALID' | 'IDEMPOTENCY_KEY_IN_USE' | 'IDEMPOTENCY_KEY_REUSED' | 'BODY_TOO_LARGE' | 'STORE_UNAVAILABLE' | 'RESPONSE_NOT_RECORDED'
  | 'SCOPE_REQUIRED' | 'HANDLER_TIMEOUT'
>;

/** One table for every reply the layer makes itself: status and title by code. */
export const PROBLEMS: Readonly<Record<ProblemCode, { readonly status: number; readonly title: string }>> = {
  IDEMPOTENCY_KEY_MISSING: { status: 400, title: 'Idempotency-Key header required' },
  IDEMPOTENCY_KEY_INVALID: { status: 400, title: 'Idempotency-Key header invalid' },
  BODY_TOO_LARGE: { status: 413, title: 'Request body too large to fingerprint' },
  IDEMPOTENCY_KEY_IN_USE: { status: 409, title: 'A request with this Idempotency-Key is in progress' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'Idempotency-Key already used for a different request' },
  STORE_UNAVAILABLE: { status: 503, title: 'Idempotency store unavailable' },
  RESPONSE_NOT_RECORDED: { status: 503, title: 'Response could not be recorded' },
  SCOPE_REQUIRED: { status: 500, title: 'Idempotency keys cannot be kept apart by caller' },
  HANDLER_TIMEOUT: { status: 503, title: 'Handler ran past its time limit' },
};

/** The `type` URI of a problem: `base` followed by the code in kebab case. */
export function problemType(base: string, code: ProblemCode): string {
  return base + code.toLowerCase().replace(/_/g, '-');
}

/** The default base of problem `type` URIs; pass `problemTypeBase` to point at your own documentation. */
export const DEFAULT_PROBLEM_TYPE_BASE = 'urn:halfsync:problem:';

/**
 * An RFC 9457 problem reply: `{ type, title, status, detail, code }` as `application/problem+json`,
 * with `Retry-After` when the client should come back.
 */
export function problemResponse(code: ProblemCode, detail: string, options: { typeBase?: string; retryAfterSeconds?: number } = {}): Response {
  const { status, title } = PROBLEMS[code];
  const headers = new Headers({ 'content-type': 'application/problem+json', 'cache-control': 'no-store' });
  if (options.retryAfterSeconds !== undefined) headers.set('retry-after', String(options.retryAfterSeconds));
  const body = { type: problemType(options.typeBase ?? DEFAULT_PROBLEM_TYPE_BASE, code), title, status, detail, code };
  return new Response(JSON.stringify(body), { status, headers });
}
