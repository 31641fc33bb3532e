import type { ChannelMessage } from './channel.js';
import { HalfsyncError } from './errors.js';
import type { TaskModel } from './model.js';
import type { TaskRecord } from './record.js';
import type { OwnerState } from './store/owner-state.js';
import type { LinkedInsert, Recovery, TaskStore } from './store/store.js';
import type { AnyTaskDefinition } from './task.js';

// A capability is a module an app imports and lists in `createClient({ use })`. The client core
// knows none of them by name: it calls the hooks a capability sets and merges the members it
// returns onto the client. What keeps work correct on the runner's side never depends on one.

/**
 * A capability of the page client (`chains`, `latestWins`, `owners`, `history`, `journal`), given
 * to {@link createClient} in `use`. `Members` is what it adds to the client.
 */
export interface Capability<Members extends object = object> {
  /** Its name, as imported from `@halfsync/core`. */
  readonly capability: string;
  /** Only carries the type of the members it adds; never set. */
  readonly members?: Members;
}

/** What the client is given by the capabilities in `use` (an intersection of their members). */
export type MembersOf<Use extends readonly Capability[]> =
  (Use[number] extends infer C ? (C extends Capability<infer M> ? (m: M) => void : never) : never) extends (m: infer All) => void ? All : never;

/** What the client core lends a capability: its store, its view, and the points where it may act. */
export interface ClientCore {
  readonly db: string;
  readonly store: TaskStore;
  readonly model: TaskModel;
  readonly registry: ReadonlyMap<string, AnyTaskDefinition>;
  readonly maxPayloadBytes: number;
  /** The load of the snapshot (settled: it may have failed). */
  readonly loading: Promise<void>;
  readonly hooks: Hooks;
  now(): number;
  /** Throws CLIENT_CLOSED once the client is closed. */
  open(): void;
  /** Applies records this tab committed to the view, tells the other tabs, and calls the hooks. */
  publish(changed: readonly TaskRecord[], removed: readonly string[]): void;
  post(message: ChannelMessage): void;
  /** Asks the runner to run what is due. */
  wake(): void;
  /** Says an error in `lastError` (the work itself is safe). */
  problem(error: HalfsyncError): void;
  /** Reads what is alive again, into the view. */
  reload(what: string): void;
  /** Moves the tasks waiting in the inbox (or `limit` of them, the highest priority first) into `tasks` (store/inbox.ts), before a read of the store. */
  settleInbox(limit?: number): Promise<void>;
  /**
   * Changes who this tab shows signed in and runs `write` after the defers made before it committed
   * (and before those made after it); resolves with what `write` committed, believed once it has.
   */
  changeOwner(owner: string | undefined, write: () => Promise<{ changed: TaskRecord[]; removed: string[]; state: OwnerState }>): Promise<void>;
}

/** The points of the core a capability may set; each is called where its comment says. */
export interface Hooks {
  /** Inserts a record with `after` or `supersede` in the commit's transaction (chains, latest wins). */
  linked?: LinkedInsert;
  /** Which defer options a capability made available (`after`, `supersede`), and which it is. */
  readonly options: Map<string, string>;
  /** Notices and repairs a lost queue around the database's open. */
  recovery?: Recovery;
  /** After a commit, before `persisted` resolves: what must be on disk beside it. */
  committing?(records: readonly TaskRecord[]): Promise<void>;
  /** After anything this tab committed was applied. */
  published?(changed: readonly TaskRecord[], removed: readonly string[]): void;
  /** After `purge({ everyone: true })` deleted every task. */
  purged?(): Promise<void>;
  /** Before the snapshot's first load. */
  loaded?(): Promise<void>;
  /** A channel message the core does not handle itself. */
  message?(message: ChannelMessage): void;
  /** Why a task is not stored, when a capability knows better than TASK_NOT_FOUND. */
  missing?(id: string): HalfsyncError | undefined;
}

const installers = new WeakMap<Capability, (core: ClientCore) => object>();

/** Makes a capability: `install` runs once per client, before its database opens, and returns the members it adds. */
export function defineCapability<Members extends object>(name: string, install: (core: ClientCore) => Members): Capability<Members> {
  const capability: Capability<Members> = Object.freeze({ capability: name });
  installers.set(capability, install);
  return capability;
}

/** Installs `use` on a client; returns the members to add to it. */
export function installAll(use: unknown, core: ClientCore): PropertyDescriptorMap {
  if (use === undefined) return {};
  if (!Array.isArray(use)) throw new HalfsyncError('INVALID_OPTIONS', `createClient's use must be a list of capabilities (chains, latestWins, owners, history, journal from '@halfsync/core'), got ${typeof use}`);
  const members: PropertyDescriptorMap = {};
  const seen = new Set<unknown>();
  for (const c of use as unknown[]) {
    const install = installers.get(c as Capability);
    if (!install) throw new HalfsyncError('INVALID_OPTIONS', `createClient's use holds ${describe(c)}, not a capability; pass chains, latestWins, owners, history or journal as imported from '@halfsync/core' (not called)`);
    if (seen.has(c)) continue;
    seen.add(c);
    Object.assign(members, Object.getOwnPropertyDescriptors(install(core)));
  }
  return members;
}

const describe = (v: unknown): string => (typeof v === 'function' ? `the function ${v.name || '(anonymous)'}` : v === null ? 'null' : typeof v === 'object' ? 'an object' : JSON.stringify(v));

/** The defer option `option` needs a capability this client was not created with. */
export function missingCapability(task: string, option: string, capability: string): HalfsyncError {
  return new HalfsyncError(
    'CAPABILITY_MISSING',
    `task "${task}": the ${option} option needs the ${capability} capability; import { ${capability} } from '@halfsync/core' and create the client with createClient({ use: [${capability}] }) (nothing was stored)`,
    { details: { task, option, capability } },
  );
}
