import { defineCapability, type Capability } from '../capability.js';
import { HalfsyncError, storageError } from '../errors.js';
import { journalClear, journalCommitted, journalPut } from '../store/journal.js';
import { recovery, restorable, type StorageResetInfo } from '../store/recovery.js';

// Guarantee 1, "Durable", where the browser loses the database, from the page's side: the journal is written from what committed, before `persisted` resolves; the loss is read
// from the record the open wrote (store/recovery.ts) and said in every tab.

/** What the `journal` capability adds to the client. */
export interface JournalMembers {
  /**
   * Set when the browser lost this site's database and halfsync noticed (Chromium's `dataLoss`, or
   * its marker in Cache Storage): a `STORAGE_RESET` error whose `details` say the cause, when, and
   * how many tasks the journal restored. Stays until `acknowledgeStorageReset()`.
   */
  readonly storageReset: HalfsyncError | undefined;
  /** Clears `storageReset` in every tab. */
  acknowledgeStorageReset(): Promise<void>;
}

/**
 * A journal of unfinished tasks in Cache Storage (a separate backing store), from which halfsync
 * restores them if the browser loses the database, and `storageReset` saying it did:
 * `createClient({ use: [journal] })`. It adds a Cache Storage write to every commit (BENCHMARKS.md
 * has the cost). Give the worker `serve({ journal: true })` too.
 *
 * @example
 * ```ts
 * import { createClient, journal } from '@halfsync/core';
 * import { sendEmail } from './tasks';
 * const client = createClient({ tasks: [sendEmail], serviceWorker: '/sw.js', use: [journal] });
 * client.subscribe(() => { if (client.storageReset) console.warn(client.storageReset.message); });
 * ```
 */
export const journal: Capability<JournalMembers> = /* @__PURE__ */ defineCapability('journal', (core): JournalMembers => {
  let storageReset: HalfsyncError | undefined;
  const written = (e: unknown) => core.problem(storageError(e, 'writing the journal'));

  const notice = (info: StorageResetInfo, detectedHere: boolean): void => {
    const known = storageReset?.details as StorageResetInfo | undefined;
    if (known && known.at === info.at && known.restored === info.restored && known.quarantined === info.quarantined && known.restoreError === info.restoreError) return;
    const restored = info.restoreError
      ? `restoring from the journal failed (${info.restoreError})`
      : `${info.restored} unfinished task(s) were restored from the journal${info.quarantined ? `, ${info.quarantined} entry(ies) quarantined` : ''}${info.restored === 0 ? ' (only tasks committed by a client made with createClient({ use: [journal] }), or by a worker with serve({ journal: true }), are journaled)' : ''}`;
    storageReset = new HalfsyncError(
      'STORAGE_RESET',
      `the browser lost this site's database (${info.cause === 'data-loss' ? `it said: ${info.engineMessage ?? 'data loss'}` : 'it was found new, but this site had a queue'}); ${restored}`,
      { details: { ...info } },
    );
    core.model.changed(false);
    if (detectedHere) core.post({ t: 'reset', info });
  };

  /** A runner noticed a lost database, or a tab acknowledged it: read the record (a message is only a hint). */
  const reread = async (): Promise<void> => {
    const row = await (await core.store.db()).get('state', 'reset').catch(() => undefined);
    const info = row?.value as StorageResetInfo | undefined;
    if (info) {
      notice(info, false);
      core.reload('loading the tasks restored after a storage reset');
    } else if (storageReset) {
      storageReset = undefined;
      core.model.changed(false);
    }
  };

  // Looking for a lost queue happens on a database's first open (or one the engine flagged).
  core.hooks.recovery = recovery(core.db, (r) => restorable(core.registry, core.maxPayloadBytes, r));
  // Before `persisted` resolves, so that a task persisted is one a restore brings back; a defer
  // refused at its commit is never journaled, so never restored.
  core.hooks.committing = (records) => journalPut(core.db, records).catch(written);
  core.hooks.published = (changed, removed) => void journalCommitted(core.db, changed, removed).catch(written);
  core.hooks.purged = () => journalClear(core.db);
  core.hooks.loaded = async () => {
    const reset = (await (await core.store.db()).get('state', 'reset'))?.value as StorageResetInfo | undefined;
    if (reset) notice(reset, core.store.reset !== undefined);
  };
  core.hooks.message = (m) => { if (m.t === 'reset') void reread(); };
  core.hooks.missing = (id) => storageReset && new HalfsyncError(
    'STORAGE_RESET',
    `no task with id "${id}" is stored, and the browser lost this site's database ${new Date((storageReset.details as { at?: number }).at ?? 0).toISOString()}: the task may have been stored before that`,
    { details: { id, reset: storageReset.details } },
  );
  return {
    get storageReset() { return storageReset; },
    async acknowledgeStorageReset(): Promise<void> {
      await (await core.store.db()).delete('state', 'reset');
      storageReset = undefined;
      core.model.changed(true);
      core.post({ t: 'reset', info: null });
    },
  };
});
