import type { Capability, MembersOf } from '../capability.js';
import { chains, latestWins } from '../capabilities/links.js';
import { history } from '../capabilities/history.js';
import { owners } from '../capabilities/owners.js';
import { createClient, type ClientOptions, type HalfsyncClient } from '../client.js';
import { HalfsyncError } from '../errors.js';
import type { DrainSummary } from '../executor.js';
import type { Task } from '../record.js';

/** A clock a test moves by hand. */
export interface ManualClock {
  /** The current time (ms since the epoch). */
  now(): number;
  /** Moves the clock forward. */
  advance(ms: number): void;
  /** Sets the clock. */
  set(at: number): void;
}

/** What a test client can do unless its options say otherwise: every capability but the journal (Cache Storage is a browser's). */
const DEFAULT_USE = [chains, latestWins, owners, history] as const;
/** The capabilities of a test client made without `use`. */
export type DefaultTestUse = typeof DEFAULT_USE;

/** Options of {@link createTestClient}; `use` defaults to `chains`, `latestWins`, `owners` and `history`. */
export interface TestClientOptions<Use extends readonly Capability[] = DefaultTestUse> extends Omit<ClientOptions<Use>, 'serviceWorker' | 'autoRun' | 'now'> {
  /** Where the manual clock starts. Default: the real time when the client is made. */
  readonly startAt?: number;
}

/** A client for unit tests of task handlers, with a manual clock and draining only on demand. */
export interface TestClient<Use extends readonly Capability[] = DefaultTestUse> {
  /** The client: `defer`, `getSnapshot`, `retry`... exactly as in a page, with the capabilities of `use`. */
  readonly client: HalfsyncClient & MembersOf<Use>;
  /** The manual clock every timestamp and backoff uses. */
  readonly clock: ManualClock;
  /** Runs the tasks due now, once. */
  drain(): Promise<DrainSummary>;
  /**
   * Takes the runner offline: it claims nothing, and handlers that fail while offline count as
   * unreachable (no attempt used). `online()` brings it back; the next drain then runs at once
   * what was waiting for the network.
   */
  offline(): void;
  /** Brings the runner back online (see `offline`). */
  online(): void;
  /**
   * Drains, then moves the clock to the next due time and drains again, until nothing is due
   * (every retry played out), the runner is offline, or `maxRounds` is reached. Returns every task.
   */
  settle(options?: { maxRounds?: number }): Promise<readonly Task[]>;
  /** Closes the client. */
  close(): void;
}

/**
 * A halfsync client for unit tests in Node, without a browser: the page runner runs the real
 * executor over IndexedDB (give Node one with `import 'fake-indexeddb/auto'`), on a manual
 * clock, only when the test says so. Backoff, retries, order keys and results behave as in a
 * browser; `settle()` plays retries out without waiting for them.
 *
 * @example
 * ```ts
 * import 'fake-indexeddb/auto';
 * import { createTestClient } from '@halfsync/core/testing/node';
 *
 * const t = createTestClient({ tasks: [sendEmail] });
 * const h = t.client.defer(sendEmail, { to: 'a@example.com' });
 * const [task] = await t.settle();
 * expect(task.status).toBe('succeeded');
 * ```
 */
export function createTestClient<const Use extends readonly Capability[] = DefaultTestUse>(options: TestClientOptions<Use>): TestClient<Use> {
  if (typeof indexedDB === 'undefined') {
    throw new HalfsyncError('STORAGE_UNAVAILABLE', 'createTestClient needs IndexedDB: install fake-indexeddb and import "fake-indexeddb/auto" first');
  }
  let t = options.startAt ?? Date.now();
  const clock: ManualClock = { now: () => t, advance: (ms) => { t += ms; }, set: (at) => { t = at; } };
  const { startAt: _startAt, ...rest } = options;
  let online = true;
  const client = createClient<Use>({
    dbName: `halfsync-test-${Math.random().toString(36).slice(2)}`,
    persistStorage: false,
    use: DEFAULT_USE as unknown as Use,
    ...rest,
    serviceWorker: false,
    autoRun: false,
    now: clock.now,
    online: () => online,
  });
  const drain = async () => { await client.ready; return client.drain(); };
  return {
    client,
    clock,
    drain,
    offline: () => { online = false; },
    online: () => { online = true; },
    async settle({ maxRounds = 100 } = {}) {
      for (let round = 0; round < maxRounds; round++) {
        const summary = await drain();
        if (summary.nextDueAt === undefined || summary.stopped === 'offline') return client.getSnapshot();
        clock.set(Math.max(clock.now(), summary.nextDueAt));
      }
      throw new HalfsyncError('INVALID_TRANSITION', `settle(): tasks were still due after ${maxRounds} rounds; raise maxRounds, check for a task that never finishes, or bring the runner online`);
    },
    close: () => client.close(),
  };
}
