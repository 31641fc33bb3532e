import type { Workbox } from 'workbox-window';
import type { WorkerReply, WorkerRequest } from './channel.js';
import { HalfsyncError } from './errors.js';

// Which path completes the work in this tab (Background Sync, messages to the worker, the page
// runner), and how the page talks to the worker. DESIGN: "Background Sync and its absence".

/**
 * Which path completes the deferred work in this tab:
 * - `sync`: a service worker woken by Background Sync (Chromium);
 * - `message`: a service worker woken by messages from pages (Firefox, Safari);
 * - `page`: no worker; a page runner elected by a Web Lock runs the same executor;
 * - `starting`: not decided yet (see `HalfsyncClient.ready`).
 */
export type ClientMode = 'starting' | 'sync' | 'message' | 'page';

/** A service worker to complete the work: its script URL, a `Workbox` instance, or `false` for none. */
export type ServiceWorkerOption = string | { url: string; scope?: string; type?: 'classic' | 'module' } | Workbox | false;

/** The worker in use, once chosen. */
export interface WorkerLink {
  readonly wb: Workbox;
  readonly registration: ServiceWorkerRegistration & { readonly sync?: { register(tag: string): Promise<void> } };
}

/** Checks the shape of the `serviceWorker` option; returns an error message or undefined. */
export function serviceWorkerProblem(sw: unknown): string | undefined {
  if (sw === undefined || sw === false || typeof sw === 'string') return undefined;
  if (typeof sw === 'object' && sw !== null && (typeof (sw as { url?: unknown }).url === 'string' || typeof (sw as Workbox).messageSW === 'function')) return undefined;
  return 'serviceWorker must be a script URL, { url, scope, type }, a Workbox instance or false';
}

/** Rejects with WORKER_UNAVAILABLE when `promise` takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new HalfsyncError('WORKER_UNAVAILABLE', `the service worker did not answer (${what}) within ${ms} ms`, { details: { timeoutMs: ms } })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Sends a request to the worker and checks that the answer is halfsync's. */
export async function askWorker(
  link: WorkerLink, db: string, op: WorkerRequest['op'], timeoutMs: number, networkBack = false,
): Promise<Extract<WorkerReply, { ok: true }>> {
  const request: WorkerRequest = networkBack ? { halfsync: 1, op, db, networkBack } : { halfsync: 1, op, db };
  const reply = (await withTimeout(link.wb.messageSW(request), timeoutMs, op)) as WorkerReply | undefined;
  if (!reply || typeof reply !== 'object' || !('ok' in reply)) {
    throw new HalfsyncError('WORKER_UNAVAILABLE', 'the service worker answered but not as halfsync does; call serve({ tasks }) in your worker script');
  }
  if (!reply.ok) throw new HalfsyncError('WORKER_UNAVAILABLE', `the service worker refused the ${op} request: ${reply.message}`);
  return reply;
}

/**
 * How long the first ping may take once the worker is active. An active worker that calls
 * `serve()` answers within milliseconds (a stopped one starts first, well within this); a worker
 * script that never calls it answers nothing, ever, so waiting the whole `workerTimeoutMs` for it
 * only delays every task.
 */
export const FIRST_PING_MS = 3_000;

/**
 * Asks an active worker whether it runs halfsync. When it does not answer within
 * {@link FIRST_PING_MS}, the likeliest cause by far is a worker script without `serve()`: the
 * error (and a console warning, since nothing else would show it) says what to add, and where.
 */
async function firstPing(link: WorkerLink, db: string, timeoutMs: number): Promise<Extract<WorkerReply, { ok: true }>> {
  const ms = Math.min(timeoutMs, FIRST_PING_MS);
  try {
    return await askWorker(link, db, 'ping', ms);
  } catch (error) {
    if (!(error instanceof HalfsyncError) || error.details.timeoutMs === undefined) throw error;
    const script = link.registration.active?.scriptURL ?? 'your service worker script';
    const reason = new HalfsyncError(
      'WORKER_UNAVAILABLE',
      `the service worker ${script} did not answer halfsync within ${ms} ms. Its script must call serve({ tasks }) from '@halfsync/core/worker', once, at its top level, with the same tasks as the page (import { serve } from '@halfsync/core/worker'; serve({ tasks });); if it does, the worker was too slow to start. Tasks run in the page meanwhile`,
      { cause: error, details: { script } },
    );
    // Without this line a missing serve() would show nowhere but in client.modeReason.
    // eslint-disable-next-line no-console
    console.warn(`halfsync: ${reason.message}`);
    throw reason;
  }
}

/**
 * Registers the worker (through `workbox-window`) and asks it whether it runs halfsync. Resolves
 * with the path and the worker, or with `page` and the reason the worker cannot be used.
 */
export async function choosePath(
  sw: ServiceWorkerOption | undefined, db: string, timeoutMs: number,
): Promise<{ mode: Exclude<ClientMode, 'starting'>; link?: WorkerLink; reason?: HalfsyncError }> {
  if (!sw) return { mode: 'page' };
  if (typeof navigator === 'undefined' || !('serviceWorker' in navigator)) {
    return { mode: 'page', reason: new HalfsyncError('WORKER_UNAVAILABLE', 'this browser (or this context: private mode, an insecure origin) has no service workers; tasks run in the page instead') };
  }
  try {
    let wb: Workbox;
    if (typeof sw === 'string' || !('messageSW' in sw)) {
      const { Workbox } = await import('workbox-window');
      const spec = typeof sw === 'string' ? { url: sw } : sw;
      wb = new Workbox(spec.url, { scope: spec.scope, type: spec.type ?? 'module' } as RegistrationOptions);
    } else wb = sw;
    await wb.register();
    // `ready` (not wb.active) also resolves when the worker was active before this page loaded.
    // A slow install or start is waited for up to `timeoutMs`.
    const registration = await withTimeout(navigator.serviceWorker.ready, timeoutMs, 'activate');
    const link: WorkerLink = { wb, registration };
    const pong = await firstPing(link, db, timeoutMs);
    if (pong.op !== 'ping') throw new HalfsyncError('WORKER_UNAVAILABLE', 'the service worker does not speak halfsync; call serve() in it');
    return { mode: 'sync' in registration ? 'sync' : 'message', link };
  } catch (error) {
    const reason = error instanceof HalfsyncError && error.code === 'WORKER_UNAVAILABLE' ? error
      : new HalfsyncError('WORKER_UNAVAILABLE', `the service worker could not be used (${(error as Error)?.message ?? String(error)}); tasks run in the page instead`, { cause: error });
    return { mode: 'page', reason };
  }
}

/**
 * A client made without `serviceWorker` on a page that a halfsync worker controls: almost always
 * a forgotten option (the tasks then run in the page, and in the worker whenever it wakes). Asks
 * the controlling worker, briefly, whether it runs halfsync; says so if it does.
 */
export async function unusedWorker(db: string): Promise<HalfsyncError | undefined> {
  const controller = typeof navigator === 'undefined' ? undefined : navigator.serviceWorker?.controller;
  if (!controller) return undefined;
  const answered = await new Promise<boolean>((resolve) => {
    const channel = new MessageChannel();
    const timer = setTimeout(() => { channel.port1.close(); resolve(false); }, 500);
    channel.port1.onmessage = (e: MessageEvent<WorkerReply>) => { clearTimeout(timer); channel.port1.close(); resolve(e.data?.ok === true); };
    controller.postMessage({ halfsync: 1, op: 'ping', db } satisfies WorkerRequest, [channel.port2]);
  });
  if (!answered) return undefined;
  const reason = new HalfsyncError(
    'INVALID_OPTIONS',
    `the service worker ${controller.scriptURL} runs halfsync and controls this page, but this client was created without serviceWorker: tasks run in the page runner (and in the worker when it wakes). Pass createClient({ serviceWorker: ${JSON.stringify(new URL(controller.scriptURL).pathname)} }) to use it`,
    { details: { script: controller.scriptURL } },
  );
  // eslint-disable-next-line no-console
  console.warn(`halfsync: ${reason.message}`);
  return reason;
}

