// The concurrency scenario shared by the SQLite and PostgreSQL suites: many keys, each sent many times at
// once, spread across servers; then what each key's answers must be for "applied exactly once".
import { expect } from 'vitest';

export interface Answer {
  readonly status: number;
  readonly replayed: boolean;
  readonly retryAfter: string | null;
  readonly body: string;
  /** The network error, when there was no answer at all. */
  readonly error?: string;
}

export interface StormOptions {
  /** Base URLs of the servers; the sends of each key are spread across them. */
  readonly servers: readonly string[];
  readonly path: string;
  readonly keys: readonly string[];
  /** How many times each key is sent, all at once. */
  readonly sends: number;
  /** How many keys are in flight together. */
  readonly parallelKeys: number;
  /** Headers of the i-th send of a key (credentials, say). */
  readonly headers?: (send: number) => Record<string, string>;
}

/** Sends every key `sends` times concurrently; returns each key's answers. */
export async function storm(options: StormOptions): Promise<Map<string, Answer[]>> {
  const answers = new Map<string, Answer[]>();
  let next = 0;
  const sendKey = async (key: string, k: number) => {
    const all = await Promise.all(
      Array.from({ length: options.sends }, async (_, i): Promise<Answer> => {
        const base = options.servers[(k + i) % options.servers.length]!;
        try {
          const res = await fetch(base + options.path, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': key, ...options.headers?.(i) },
            body: JSON.stringify({ key }),
          });
          return { status: res.status, replayed: res.headers.get('idempotent-replayed') === 'true', retryAfter: res.headers.get('retry-after'), body: await res.text() };
        } catch (error) {
          return { status: 0, replayed: false, retryAfter: null, body: '', error: String((error as Error).cause ?? error) };
        }
      }),
    );
    answers.set(key, all);
  };
  await Promise.all(
    Array.from({ length: options.parallelKeys }, async () => {
      for (let k = next++; k < options.keys.length; k = next++) await sendKey(options.keys[k]!, k);
    }),
  );
  return answers;
}

/**
 * Every key: exactly one original answer (201, not replayed), and every other answer a replay of exactly
 * that response or a 409 with Retry-After; no network errors, no 5xx. Returns each key's original body.
 */
export function expectAppliedOnce(answers: Map<string, Answer[]>): Map<string, string> {
  const originals = new Map<string, string>();
  const problems: string[] = [];
  for (const [key, list] of answers) {
    const firsts = list.filter((a) => a.status === 201 && !a.replayed);
    if (firsts.length !== 1) {
      problems.push(`${key}: ${firsts.length} original answers (${summary(list)})`);
      continue;
    }
    const original = firsts[0]!.body;
    originals.set(key, original);
    for (const a of list) {
      if (a.status === 201 && !a.replayed) continue;
      if (a.status === 201 && a.replayed && a.body === original) continue;
      if (a.status === 409 && a.retryAfter !== null) continue;
      problems.push(`${key}: an answer that is neither a replay of the original nor a 409: ${a.status} ${a.error ?? a.body.slice(0, 120)}`);
    }
  }
  expect(problems.slice(0, 10)).toEqual([]);
  return originals;
}

/** After the storm, each key once more, one at a time: all answered from the store with the original response. */
export async function expectNoneLost(servers: readonly string[], path: string, originals: Map<string, string>, headers: Record<string, string> = {}): Promise<void> {
  const wrong: string[] = [];
  let i = 0;
  for (const [key, original] of originals) {
    const res = await fetch(servers[i++ % servers.length]! + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key, ...headers },
      body: JSON.stringify({ key }),
    });
    const body = await res.text();
    if (res.status !== 201 || res.headers.get('idempotent-replayed') !== 'true' || body !== original) wrong.push(`${key}: ${res.status} ${body.slice(0, 80)}`);
  }
  expect(wrong.slice(0, 10)).toEqual([]);
}

export function tally(answers: Map<string, Answer[]>): { originals: number; replays: number; conflicts: number; other: number } {
  const t = { originals: 0, replays: 0, conflicts: 0, other: 0 };
  for (const list of answers.values()) {
    for (const a of list) {
      if (a.status === 201 && !a.replayed) t.originals++;
      else if (a.status === 201) t.replays++;
      else if (a.status === 409) t.conflicts++;
      else t.other++;
    }
  }
  return t;
}

function summary(list: Answer[]): string {
  return list.map((a) => `${a.status}${a.replayed ? 'r' : ''}`).join(' ');
}
