import { defineCapability, type Capability, type ClientCore } from '../capability.js';
import { checkPayload } from '../deferral.js';
import { HalfsyncError } from '../errors.js';
import { recordById } from '../store/query.js';
import { insertLinked, modify } from '../store/ops.js';

// Work that depends on work, from the page's side: `after` (parents before children) and
// `supersede` (latest wins) are inserted with their links in the commit's transaction. Running them in order
// is the runner's (store/pump.ts, store/chain.ts), whatever a page imports.

/** Lets the commit insert records with links, and says which defer option it made available. */
function linking(core: ClientCore, option: 'after' | 'supersede', name: string): void {
  core.hooks.linked = insertLinked;
  core.hooks.options.set(option, name);
}

/**
 * Chains: the `after` defer option (run only after these tasks succeeded, reading their results).
 * `createClient({ use: [chains] })`.
 *
 * @example
 * ```ts
 * import { createClient, chains } from '@halfsync/core';
 * import { createOrder, sendReceipt } from './tasks';
 * const client = createClient({ tasks: [createOrder, sendReceipt], use: [chains] });
 * const order = client.defer(createOrder, { sku: 'tea', qty: 2 });
 * client.defer(sendReceipt, { to: 'a@example.com' }, { after: [order] });
 * ```
 */
export const chains: Capability<object> = /* @__PURE__ */ defineCapability('chains', (core) => {
  linking(core, 'after', 'chains');
  return {};
});

/** What the `latestWins` capability adds to the client. */
export interface LatestWinsMembers {
  /** Replaces the payload of a pending task before it runs (validated as `defer` does); INVALID_TRANSITION once it runs. */
  update<Payload>(id: string, payload: Payload): Promise<void>;
}

/**
 * Latest wins: the `supersede` defer option (a pending task with the same key is replaced) and
 * `update()`. `createClient({ use: [latestWins] })`.
 *
 * @example
 * ```ts
 * import { createClient, latestWins } from '@halfsync/core';
 * import { saveNote } from './tasks';
 * const client = createClient({ tasks: [saveNote], use: [latestWins] });
 * client.defer(saveNote, { text: 'draft' }, { supersede: 'note-1' });
 * client.defer(saveNote, { text: 'final' }, { supersede: 'note-1' }); // the only one sent
 * ```
 */
export const latestWins: Capability<LatestWinsMembers> = /* @__PURE__ */ defineCapability('latestWins', (core): LatestWinsMembers => {
  linking(core, 'supersede', 'latestWins');
  return {
    async update<Payload>(id: string, payload: Payload): Promise<void> {
      core.open();
      await core.loading;
      const name = core.model.get(id)?.name ?? (await recordById(await core.store.db(), id))?.name;
      const task = name === undefined ? undefined : core.registry.get(name);
      if (!task) throw new HalfsyncError('TASK_NOT_FOUND', `no task with id "${id}" that this client can change`, { details: { id } });
      const stored = checkPayload(task, payload, core.maxPayloadBytes);
      const { changed, removed } = await modify(core.store, id, 'update', core.now(), task.retention, stored);
      core.publish(changed, removed);
    },
  };
});
