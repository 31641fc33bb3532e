// The e2e test server (e2e/server.mjs) as the scenarios see it: its request log and its switches.
// Each engine gets its own server (own port, own log), so the engines can run at the same time.
import { createServer } from 'node:net';

export interface Received {
  path: string;
  key: string;
  at: number;
  attempt: number;
  status: number;
  dup: boolean;
  clientGone: boolean;
  /** `200`, `500`, `down`, `hang`... as scripted. */
  behaviour: string;
  body?: { n: number };
  headers?: Record<string, string | undefined>;
  bodyBase64?: string;
  sha256?: string;
}

export interface ServerLog {
  received: Received[];
  applied: Array<{ key: string; seq: number; n: number }>;
  overlaps: Array<{ key: string; at: number }>;
}

/** What the server does with one request; see e2e/server.mjs. */
export interface Behaviour { status?: number; delayMs?: number; retryAfter?: number; hang?: boolean; down?: boolean; lose?: boolean }

export interface ServerApi {
  readonly origin: string;
  log(): Promise<ServerLog>;
  control(body: { reset?: boolean; script?: Behaviour[]; default?: Behaviour }): Promise<void>;
  /** Polls the log until `check` holds; fails with `what` after `timeoutMs`. */
  until(check: (log: ServerLog) => boolean, what: string, timeoutMs?: number): Promise<ServerLog>;
}

/** Polls `read` until it returns a value other than undefined. */
export async function until<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 15_000, everyMs = 25): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function serverApi(origin: string): ServerApi {
  const log = async (): Promise<ServerLog> => (await fetch(`${origin}/api/_log`)).json() as Promise<ServerLog>;
  return {
    origin,
    log,
    async control(body) {
      const res = await fetch(`${origin}/api/_control`, { method: 'POST', body: JSON.stringify(body) });
      if (!res.ok) throw new Error(`the test server refused ${JSON.stringify(body)}: ${res.status}`);
    },
    async until(check, what, timeoutMs = 15_000) {
      let last: ServerLog | undefined;
      try {
        return await until(async () => { last = await log(); return check(last) ? last : undefined; }, `the server: ${what}`, timeoutMs);
      } catch (error) {
        const seen = last?.received.map((r) => `${r.key?.slice(0, 8)}:${r.behaviour}`).join(' ') ?? 'nothing';
        throw new Error(`${(error as Error).message} (received: ${seen})`, { cause: error });
      }
    },
  };
}

/** A port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const address = s.address();
      s.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}
