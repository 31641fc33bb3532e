import { HalfsyncError } from './errors.js';
import type { PageRunner, PageRunnerOptions } from './page-runner.js';

// The page runner is the one chunk the client loads lazily: only a page that runs the tasks itself
// (no worker, or one that stopped answering) needs it.

/**
 * Loads the page runner's chunk and makes the runner. When the chunk cannot be loaded (offline
 * before it was cached, gone after a deploy) the work stays queued: `failed` is told why, with a
 * code, and the promise resolves with a stand-in that runs nothing, so the next wake loads it again.
 */
export function loadPageRunner(options: PageRunnerOptions, failed: (reason: HalfsyncError) => void): Promise<PageRunner> {
  return import('./page-runner.js').then(({ PageRunner }) => new PageRunner(options), (error: unknown) => {
    const reason = new HalfsyncError(
      'RUNNER_UNAVAILABLE',
      `the page runner (page-runner.js, loaded only when this page runs the tasks) could not be loaded (${(error as Error)?.message ?? String(error)}); the tasks stay queued and the next wake loads it again. Precache the app's script chunks with the app shell so that it loads offline`,
      { cause: error },
    );
    failed(reason);
    // Every method does nothing (drainNow rejects with the reason); not a thenable, so that it
    // resolves the promise as itself.
    return new Proxy({}, {
      get: (_, key) => (key === 'then' ? undefined : key === 'drainNow' ? () => Promise.reject(reason) : () => {}),
    }) as PageRunner;
  });
}
