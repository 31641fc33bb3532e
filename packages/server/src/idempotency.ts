import { readLimited, TOO_LARGE } from './body.js';
import { describeError, HalfsyncServerError, type HalfsyncServerErrorCode } from './errors.js';
import { requestFingerprint } from './fingerprint.js';
import { MAX_KEY_LENGTH, MIN_KEY_LENGTH, parseIdempotencyKey } from './key.js';
import { DEFAULT_PROBLEM_TYPE_BASE, problemResponse, type ProblemCode } from './problem.js';
import { replyParts, type Reply } from './reply.js';
import { judge, type Verdict } from './rules.js';
import type { ClaimRef, RunningRecord } from './store.js';
import { headerFilter, nullBodyStatus, replayOf, toStored, type StoredResponse } from './stored.js';

import { DEFAULTS, MIN_LOCK_TIMEOUT_MS, MAX_TIMER_MS, CREDENTIALS, positive, integerSeconds, type IdempotencyContext, type IdempotentHandler, type IdempotencyOptions, type LayerRequest, type Downstream, type IdempotencyLayer } from './layer-options.js';

export type { IdempotencyContext, IdempotentHandler, IdempotencyOptions, LayerRequest, Downstream, IdempotencyLayer } from './layer-options.js';

// Guarantee 12, "Exactly once, end to end": a keyed request runs its effect once, with its reply
// recorded in the same transaction where the store allows; a retry is answered from the record.

/**
 * Builds the layer adapters share. Application code uses {@link idempotent}, or the middleware of
 * `@halfsync/server/node` or `@halfsync/server/hono`; this is for writing an adapter for another framework.
 */
export function createIdempotencyLayer<Tx = never, Out = never>(options: IdempotencyOptions<Tx, Out>): IdempotencyLayer<Tx, Out> {
  const store = options?.store;
  const steps = ['insert', 'get', 'takeOver', 'renew', 'complete', 'release', 'purge'] as const;
  if (typeof store !== 'object' || store === null || steps.some((s) => typeof store[s] !== 'function')) {
    throw new HalfsyncServerError('INVALID_OPTIONS', 'idempotency needs a store: pass { store: memoryStore() }, sqliteStore({ file }) or postgresStore({ pool })');
  }
  const methods = new Set((options.methods ?? DEFAULTS.methods).map((m) => {
    if (typeof m !== 'string' || !/^[A-Za-z]+$/.test(m)) throw new HalfsyncServerError('INVALID_OPTIONS', `idempotency option methods must hold HTTP method names, got ${String(m)}`);
    return m.toUpperCase();
  }));
  const expiresAfterMs = positive('expiresAfterMs', options.expiresAfterMs, DEFAULTS.expiresAfterMs);
  if (options.lockTimeoutMs !== undefined && !(options.lockTimeoutMs >= MIN_LOCK_TIMEOUT_MS)) {
    throw new HalfsyncServerError(
      'INVALID_OPTIONS',
      `idempotency option lockTimeoutMs must be at least ${MIN_LOCK_TIMEOUT_MS} ms, got ${String(options.lockTimeoutMs)}: a claim is renewed every third of it, ` +
        'and a shorter lease is taken over by the first stall of the event loop or the store while its handler still runs (keep the default 30 s unless you know the longest stall)',
    );
  }
  const lockMs = positive('lockTimeoutMs', options.lockTimeoutMs, DEFAULTS.lockTimeoutMs, MIN_LOCK_TIMEOUT_MS);
  const maxHandlerMs = positive('maxHandlerMs', options.maxHandlerMs, Infinity);
  const minKeyLength = positive('minKeyLength', options.minKeyLength, MIN_KEY_LENGTH);
  if (!Number.isInteger(minKeyLength) || minKeyLength > MAX_KEY_LENGTH) {
    throw new HalfsyncServerError('INVALID_OPTIONS', `idempotency option minKeyLength must be a whole number from 1 to ${MAX_KEY_LENGTH}, got ${minKeyLength}`);
  }
  const retryAfter = integerSeconds('retryAfterSeconds', options.retryAfterSeconds, DEFAULTS.retryAfterSeconds);
  const unavailableRetryAfter = integerSeconds('unavailableRetryAfterSeconds', options.unavailableRetryAfterSeconds, DEFAULTS.unavailableRetryAfterSeconds);
  const maxBodyBytes = positive('maxBodyBytes', options.maxBodyBytes, DEFAULTS.maxBodyBytes, 0);
  const purgeIntervalMs = positive('purgeIntervalMs', options.purgeIntervalMs, DEFAULTS.purgeIntervalMs);
  const clock = options.now ?? Date.now;
  const fingerprinter = options.fingerprint ?? requestFingerprint;
  const keep = headerFilter(options.headers);
  const typeBase = options.problemTypeBase ?? DEFAULT_PROBLEM_TYPE_BASE;
  const required = options.required ?? true;
  const isRequired = typeof required === 'function' ? required : () => required;

  const report = (code: HalfsyncServerErrorCode, message: string, cause?: unknown, details?: Record<string, unknown>) => {
    options.onError?.(new HalfsyncServerError(code, cause === undefined ? message : `${message}: ${describeError(cause)}`, { cause, details }));
  };
  const problem = (code: ProblemCode, detail: string, retryAfterSeconds?: number) =>
    problemResponse(code, detail, { typeBase, retryAfterSeconds });
  const inProgress = (key: string) =>
    problem('IDEMPOTENCY_KEY_IN_USE', `a request with Idempotency-Key "${key}" is still being handled: send it again, unchanged, after ${retryAfter} s to get its response`, retryAfter);
  const unavailable = (key: string, error: unknown) => {
    report('STORE_UNAVAILABLE', `the idempotency store failed before the handler ran (key "${key}"); the handler did not run`, error, { key });
    return problem('STORE_UNAVAILABLE', `the idempotency store cannot be reached, so the request was not handled: send it again, unchanged, after ${unavailableRetryAfter} s`, unavailableRetryAfter);
  };
  const notRecorded = (key: string) =>
    problem(
      'RESPONSE_NOT_RECORDED',
      `the request with Idempotency-Key "${key}" was handled but its response could not be recorded: send it again, unchanged, after ${unavailableRetryAfter} s`,
      unavailableRetryAfter,
    );

  let nextPurgeAt = purgeIntervalMs === Infinity ? Infinity : 0;
  let purgeTimer: ReturnType<typeof setInterval> | undefined;
  const maybePurge = () => {
    const now = clock();
    if (now < nextPurgeAt) return;
    nextPurgeAt = now + purgeIntervalMs;
    store.purge(now).catch((error: unknown) => {
      // A closed store is the application shutting down: nothing to purge, nor to tell, any more.
      if (error instanceof HalfsyncServerError && error.code === 'STORE_CLOSED') return void clearInterval(purgeTimer);
      report('STORE_UNAVAILABLE', 'deleting expired idempotency records failed', error);
    });
  };
  // An idle server purges too. The timer never keeps the process alive.
  if (purgeIntervalMs !== Infinity) {
    purgeTimer = setInterval(maybePurge, Math.min(purgeIntervalMs, MAX_TIMER_MS));
    (purgeTimer as { unref?: () => void }).unref?.();
  }
  const needsScope = (request: Request) => CREDENTIALS.some((name) => request.headers.has(name));
  async function scopeOf(request: Request): Promise<string | undefined> {
    if (!options.scope) return needsScope(request) ? undefined : '';
    const scope: unknown = await options.scope(request);
    if (typeof scope !== 'string') {
      throw new HalfsyncServerError('INVALID_OPTIONS', `idempotency option scope must return a string (the caller's account), got ${scope === null ? 'null' : typeof scope}`);
    }
    return scope;
  }

  /** What a transaction's reply stores (a 5xx: nothing, the retry runs again). */
  const stored = (parts: ReturnType<typeof replyParts>): StoredResponse | undefined =>
    parts.status >= 500 ? undefined : toStored(parts.status, parts.headers, parts.body, keep);

  type Claim = { claimed: RunningRecord } | { answer: Response };
  async function claimKey(scope: string, key: string, fingerprint: string): Promise<Claim> {
    const owner = crypto.randomUUID();
    // A few rounds: a record may be released, taken over or purged between two steps.
    for (let round = 0; round < 4; round++) {
      const now = clock();
      const record: RunningRecord = { scope, key, owner, fingerprint, lockedUntil: now + lockMs, expiresAt: now + expiresAfterMs };
      let verdict: Verdict;
      try {
        if (await store.insert(record)) return { claimed: record };
        verdict = judge(await store.get(scope, key), fingerprint, now);
        if (verdict.kind === 'take-over') {
          if (await store.takeOver(record, verdict.previous)) return { claimed: record };
          continue;
        }
      } catch (error) {
        return { answer: unavailable(key, error) };
      }
      switch (verdict.kind) {
        case 'claim':
          continue;
        case 'replay':
          return { answer: replayOf(verdict.response) };
        case 'in-progress':
          return { answer: inProgress(key) };
        case 'mismatch':
          return {
            answer: problem(
              'IDEMPOTENCY_KEY_REUSED',
              `Idempotency-Key "${key}" was already used for a different request (another method, path or body): ` +
                'reuse a key only to retry the exact same request, and make a new key for a new one',
            ),
          };
      }
    }
    return { answer: inProgress(key) };
  }

  async function releaseQuietly(claim: ClaimRef): Promise<void> {
    try {
      await store.release(claim);
    } catch (error) {
      report('STORE_UNAVAILABLE', `releasing the claim on key "${claim.key}" failed; a retry may take it over after ${lockMs} ms`, error, { key: claim.key });
    }
  }

  function heartbeat(claim: ClaimRef): () => void {
    // A renewal still in flight when the handler ends (or its transaction commits) finds the record
    // completed: that is no lost lock.
    let running = true;
    const stop = () => {
      running = false;
      clearInterval(timer);
    };
    const timer = setInterval(() => {
      store.renew(claim, clock() + lockMs).then(
        (held) => {
          if (held || !running) return;
          // Said once: the claim is gone for good.
          stop();
          report('LOCK_LOST', `the claim on key "${claim.key}" was taken over while its handler ran; raise lockTimeoutMs above the store's longest stall`, undefined, { key: claim.key });
        },
        (error: unknown) => {
          if (running) report('STORE_UNAVAILABLE', `renewing the claim on key "${claim.key}" failed`, error, { key: claim.key });
        },
      );
    }, Math.max(50, Math.floor(lockMs / 3)));
    (timer as { unref?: () => void }).unref?.();
    return stop;
  }

  /** The handler's context; `stop` ends the claim's renewals (once its transaction committed, there is no claim to keep). */
  function contextFor(claim: RunningRecord | undefined, stop: () => void = () => {}) {
    const state = { used: false, committed: undefined as ReturnType<typeof replyParts> | undefined, lockLost: false, timedOut: false };
    const controller = new AbortController();
    const timedOut = () =>
      new HalfsyncServerError('HANDLER_TIMEOUT', `the handler of Idempotency-Key "${claim?.key}" ran past maxHandlerMs (${maxHandlerMs} ms): its claim was given up and nothing of it is recorded`, { details: { key: claim?.key } });
    const context: IdempotencyContext<Tx, Out> = {
      key: claim?.key,
      signal: controller.signal,
      async transaction(work) {
        const run = store.transaction;
        if (typeof run !== 'function') {
          throw new HalfsyncServerError('TRANSACTION_UNSUPPORTED', 'this idempotency store has no transactions: use sqliteStore() or postgresStore(), or record the effect in the handler and return its response');
        }
        if (state.used) throw new HalfsyncServerError('TRANSACTION_ALREADY_USED', 'transaction() runs once per request: put the whole effect in one piece of work');
        state.used = true;
        if (state.timedOut) throw timedOut();
        // The reply is read and checked once: for the record, and for the answer.
        let read: ReturnType<typeof replyParts> | undefined;
        const encode = (reply: Reply) => stored((read = replyParts(reply)));
        const outcome = await run.call(store, claim && { scope: claim.scope, key: claim.key, owner: claim.owner, expiresAt: clock() + expiresAfterMs }, work, encode);
        // Past maxHandlerMs the claim was released, so the transaction found it gone and rolled back.
        if (outcome.status === 'lock-lost' && state.timedOut) throw timedOut();
        if (outcome.status === 'lock-lost') {
          state.lockLost = true;
          report('LOCK_LOST', `the claim on key "${claim?.key}" was taken over before its transaction committed; the transaction was rolled back`, undefined, { key: claim?.key });
          throw new HalfsyncServerError('LOCK_LOST', `another request took over Idempotency-Key "${claim?.key}"; this one's effect was rolled back`, { details: { key: claim?.key } });
        }
        const parts = read ?? replyParts(outcome.reply);
        if (outcome.status === 'committed' && claim) { state.committed = parts; stop(); }
        return toResponse(parts.status, parts.headers, parts.body);
      },
    };
    const giveUp = () => {
      state.timedOut = true;
      controller.abort(timedOut());
    };
    return { context, state, giveUp };
  }

  async function handle(input: LayerRequest, downstream: Downstream<Tx, Out>): Promise<Response> {
    const { request } = input;
    const method = request.method.toUpperCase();
    if (!methods.has(method)) return downstream(contextFor(undefined).context, undefined);
    const header = request.headers.get('idempotency-key');
    if (header === null) {
      if (!isRequired(request)) return downstream(contextFor(undefined).context, undefined);
      return problem(
        'IDEMPOTENCY_KEY_MISSING',
        `${method} ${new URL(request.url).pathname} requires an Idempotency-Key header: send a unique value (a UUID) made once per operation, and the same value with every retry of it`,
      );
    }
    const parsed = parseIdempotencyKey(header, minKeyLength);
    if (!parsed.ok) {
      return problem('IDEMPOTENCY_KEY_INVALID', `the Idempotency-Key header is invalid: ${parsed.reason}; send ${minKeyLength} to ${MAX_KEY_LENGTH} printable ASCII characters, such as a UUID`);
    }
    const key = parsed.key;
    const scope = await scopeOf(request);
    if (scope === undefined) {
      report('SCOPE_REQUIRED', `a request with Idempotency-Key "${key}" carries credentials (${CREDENTIALS.join(' or ')}) and the idempotency layer has no scope option, so one caller's key could answer another with their response: set scope to the caller's account`, undefined, { key });
      return problem(
        'SCOPE_REQUIRED',
        'this request carries credentials, and the server\'s idempotency layer is not set to keep one caller\'s keys apart from another\'s (its scope option), so the request was not handled: ' +
          'the server must set scope; send it again, unchanged, once it does',
      );
    }
    const body = await input.readBody(maxBodyBytes);
    if (body === TOO_LARGE) {
      return problem('BODY_TOO_LARGE', `the request body is over ${maxBodyBytes} bytes, the most this route fingerprints: send a smaller body`);
    }
    const fingerprint = await fingerprinter({ method, url: new URL(request.url), body });
    maybePurge();

    const claim = await claimKey(scope, key, fingerprint);
    if ('answer' in claim) return claim.answer;
    const stop = heartbeat(claim.claimed);
    const { context, state, giveUp } = contextFor(claim.claimed, stop);
    let response: Response;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    try {
      const running = downstream(context, body);
      const outcome = maxHandlerMs > MAX_TIMER_MS ? await running : await Promise.race([
        running,
        new Promise<typeof TIMED_OUT>((resolve) => { deadline = setTimeout(resolve, maxHandlerMs, TIMED_OUT); }),
      ]);
      clearTimeout(deadline);
      if (outcome === TIMED_OUT) {
        // The handler goes on unawaited; whatever it ends with is not recorded.
        running.catch(() => {});
        stop();
        giveUp();
        if (state.committed) return toResponse(state.committed.status, state.committed.headers, state.committed.body);
        await releaseQuietly(claim.claimed);
        report('HANDLER_TIMEOUT', `the handler of key "${key}" ran past maxHandlerMs (${maxHandlerMs} ms); its claim was given up, so a retry runs it again`, undefined, { key });
        return problem(
          'HANDLER_TIMEOUT',
          `the request with Idempotency-Key "${key}" took longer than the server allows and was given up, its effect not recorded: send it again, unchanged, after ${unavailableRetryAfter} s`,
          unavailableRetryAfter,
        );
      }
      response = outcome;
    } catch (error) {
      clearTimeout(deadline);
      stop();
      if (state.lockLost) return inProgress(key);
      // After a commit the error surfaces as itself (a bug to see), and a retry gets the committed reply.
      if (!state.committed) await releaseQuietly(claim.claimed);
      throw error;
    }
    stop();
    // The transaction's reply is what was recorded, so it is what the first answer must be too.
    if (state.lockLost) return inProgress(key);
    if (state.committed) return toResponse(state.committed.status, state.committed.headers, state.committed.body);
    if (response.status >= 500) {
      await releaseQuietly(claim.claimed);
      return response;
    }
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      await releaseQuietly(claim.claimed);
      throw error;
    }
    let recorded: boolean;
    try {
      recorded = await store.complete(claim.claimed, toStored(response.status, response.headers, bytes, keep), clock() + expiresAfterMs);
    } catch (error) {
      report('RESPONSE_NOT_RECORDED', `recording the response of key "${key}" failed after its handler ran; a retry will run the handler again (the transactional mode prevents this)`, error, { key });
      return notRecorded(key);
    }
    if (!recorded) {
      report('LOCK_LOST', `the claim on key "${key}" was taken over while its handler ran, so its response was not recorded; raise lockTimeoutMs`, undefined, { key });
      return notRecorded(key);
    }
    return toResponse(response.status, response.headers, bytes, response.statusText);
  }

  return { handle };
}

const TIMED_OUT: unique symbol = Symbol('halfsync.server.timedOut');

function toResponse(status: number, headers: Headers, body: Uint8Array<ArrayBuffer>, statusText?: string): Response {
  return new Response(nullBodyStatus(status) ? null : body, { status, headers, statusText });
}

/**
 * Guards a Fetch-API handler with the Idempotency-Key layer (IETF draft-ietf-httpapi-idempotency-key-header):
 *
 * - the first request with a key runs the handler, and its response (status, headers but `Set-Cookie`,
 *   body) is recorded with the request's fingerprint;
 * - a retry with the same key and fingerprint gets the recorded response with `Idempotent-Replayed: true`,
 *   and the handler does not run;
 * - the same key while the first request runs: 409 with `Retry-After`; with another fingerprint: 422;
 * - a guarded request without a key: 400; a key under 16 characters (`minKeyLength`), over 255, not printable
 *   ASCII or sent twice: 400; a body over `maxBodyBytes`: 413; a store that cannot be reached: 503 with
 *   `Retry-After`, and the handler does not run;
 * - a keyed request with credentials (`Authorization`, `Cookie`) and no `scope`: 500 `SCOPE_REQUIRED`, and the
 *   handler does not run (set `scope` to the caller's account);
 * - a handler that throws or answers 5xx records nothing, so a retry runs it again.
 *
 * @example
 * ```ts
 * import { idempotent } from '@halfsync/server';
 * import { sqliteStore } from '@halfsync/server/sqlite';
 *
 * const createOrder = idempotent(async (request) => {
 *   const order = await request.json();
 *   return Response.json({ received: order }, { status: 201 });
 * }, { store: sqliteStore({ file: 'data/idempotency.db' }) });
 * ```
 */
export function idempotent<Tx = never, Out = never>(handler: IdempotentHandler<Tx, Out>, options: IdempotencyOptions<Tx, Out>): (request: Request) => Promise<Response> {
  const layer = createIdempotencyLayer(options);
  return (request) =>
    layer.handle(
      { request, readBody: (limit) => readLimited(request.body, limit, request.headers.get('content-length')) },
      async (context, body) => handler(body === undefined ? request : withBody(request, body), context),
    );
}

/**
 * A copy of `request` with the body the layer already read. Without the client's abort signal, on purpose: a
 * guarded handler should run to its end even if the client goes away, so that its response is recorded and the
 * client's retry gets it.
 */
function withBody(request: Request, body: Uint8Array<ArrayBuffer>): Request {
  const method = request.method.toUpperCase();
  return new Request(request.url, { method: request.method, headers: request.headers, body: method === 'GET' || method === 'HEAD' ? null : body });
}
