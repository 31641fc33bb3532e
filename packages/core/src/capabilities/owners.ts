import { defineCapability, type Capability } from '../capability.js';
import { HalfsyncError } from '../errors.js';
import { purgeOwner, setOwner } from '../store/owner.js';

// Guarantee 10, "Run as its owner", from the page's side: who is signed in changes here, commits,
// then is announced. What keeps a task from running as someone else is in the store and the
// runner (store/owner.ts, store/pump.ts), and holds whether a page imports this or not.

/** What the `owners` capability adds to the client. */
export interface OwnerMembers {
  /**
   * Signs a user in: once it commits, every task committed records them as its owner (stamped in
   * the task's own transaction from what committed, in pages and the worker alike), and only their
   * tasks run, in every tab and in the worker. Another user's tasks wait, held, until that user
   * signs in again. A defer made in a tab that still showed the previous user and committed after
   * the change is refused with OWNER_CHANGED, never recorded as the new user's.
   */
  signIn(owner: string): Promise<void>;
  /**
   * Signs the current user out. Their unfinished tasks are kept (default) and run when they sign
   * in again on this browser, never for anyone else; with `discard: true` they are deleted now,
   * payloads, results and quarantined records included, the one running too (its handler finishes
   * into nothing). No task of theirs starts once this has resolved.
   */
  signOut(options?: { discard?: boolean }): Promise<void>;
  /**
   * Deletes every task of `owner` (undefined: of work deferred signed out), whatever its status,
   * with its payload, result and quarantined records; `{ everyone: true }` deletes everything:
   * "delete my data on this device".
   */
  purge(options: { owner: string | undefined } | { everyone: true }): Promise<void>;
}

/**
 * Sign-in, sign-out and purge: `createClient({ use: [owners] })`.
 *
 * @example
 * ```ts
 * import { createClient, owners } from '@halfsync/core';
 * import { sendEmail } from './tasks';
 * const client = createClient({ tasks: [sendEmail], use: [owners] });
 * await client.signIn('user-42');
 * ```
 */
export const owners: Capability<OwnerMembers> = /* @__PURE__ */ defineCapability('owners', (core): OwnerMembers => ({
  signIn(owner: string): Promise<void> {
    if (typeof owner !== 'string' || owner.length === 0 || owner.length > 200) {
      return Promise.reject(new HalfsyncError('INVALID_OPTIONS', `signIn() needs the user's id: a non-empty string of at most 200 characters, got ${typeof owner === 'string' ? `${owner.length} characters` : typeof owner}`));
    }
    return core.changeOwner(owner, () => setOwner(core.store, owner, core.now(), false));
  },
  signOut(options: { discard?: boolean } = {}): Promise<void> {
    if (typeof options !== 'object' || options === null || (options.discard !== undefined && typeof options.discard !== 'boolean')) {
      return Promise.reject(new HalfsyncError('INVALID_OPTIONS', `signOut() takes { discard?: boolean }, got ${options === null ? 'null' : typeof options === 'object' ? JSON.stringify(options) : typeof options}`));
    }
    const discard = options.discard === true;
    return core.changeOwner(undefined, () => setOwner(core.store, undefined, core.now(), discard));
  },
  async purge(options: { owner: string | undefined } | { everyone: true }): Promise<void> {
    core.open();
    if (typeof options !== 'object' || options === null || !('everyone' in options || 'owner' in options)) {
      throw new HalfsyncError('INVALID_OPTIONS', 'purge() takes { owner } (undefined: work deferred signed out) or { everyone: true }');
    }
    await core.loading.catch(() => {});
    const everyone = 'everyone' in options && options.everyone === true;
    const { changed, removed } = await purgeOwner(core.store, everyone ? null : (options as { owner: string | undefined }).owner, core.now());
    if (everyone) await core.hooks.purged?.();
    core.publish(changed, removed);
  },
}));
