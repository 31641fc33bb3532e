import { HalfsyncError, storageError } from '../errors.js';

/**
 * The way out of STORAGE_CORRUPT: deletes halfsync's database, which the browser can no longer
 * open. The marker halfsync keeps outside IndexedDB survives, so the next client (or worker) that
 * opens the database finds it new, reports STORAGE_RESET and restores the unfinished tasks from
 * the journal (`createClient({ journal: true })`); without a journal, the tasks are lost and the
 * reset says so. Close this page's clients first: a connection still open makes the deletion wait,
 * and after 5 s it fails with STORAGE_BLOCKED. Where the browser cannot open the site's backing
 * store at all (Chromium, with a damaged `CURRENT` file), it cannot delete it either: that fails
 * with STORAGE_CORRUPT, and only clearing the site's data in the browser's settings helps.
 *
 * @example
 * ```ts
 * import { recoverStorage, type HalfsyncError } from '@halfsync/core';
 * await client.ready.catch(async (e: HalfsyncError) => {
 *   if (e.code !== 'STORAGE_CORRUPT') throw e;
 *   client.close();
 *   await recoverStorage();
 *   location.reload();
 * });
 * ```
 */
export function recoverStorage(dbName = 'halfsync', blockedMs = 5_000): Promise<void> {
  if (typeof indexedDB === 'undefined') {
    return Promise.reject(new HalfsyncError('STORAGE_UNAVAILABLE', 'IndexedDB is not available in this context; there is no database to delete'));
  }
  return new Promise<void>((resolve, reject) => {
    const request = indexedDB.deleteDatabase(dbName);
    let timer: ReturnType<typeof setTimeout> | undefined;
    request.onsuccess = () => { clearTimeout(timer); resolve(); };
    request.onerror = () => {
      clearTimeout(timer);
      reject(request.error?.name === 'UnknownError'
        ? new HalfsyncError(
          'STORAGE_CORRUPT',
          `the browser cannot delete the database "${dbName}" either (UnknownError): its backing store for this site cannot be opened at all. Only clearing this site's data in the browser's settings removes it, and that clears the journal too; the unfinished tasks cannot be restored on this browser`,
          { cause: request.error },
        )
        : storageError(request.error, `deleting the database "${dbName}"`));
    };
    request.onblocked = () => {
      timer ??= setTimeout(() => reject(new HalfsyncError(
        'STORAGE_BLOCKED',
        `the database "${dbName}" cannot be deleted while a tab or the worker keeps it open; close this page's clients (client.close()) and the site's other tabs, then call recoverStorage() again`,
      )), blockedMs);
    };
  });
}
