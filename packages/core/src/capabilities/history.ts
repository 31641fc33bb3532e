import { defineCapability, type Capability } from '../capability.js';
import { badOption } from '../deferral.js';
import { toTask, type Task } from '../record.js';
import { checkQuery, countTasks, queryTasks, type PageOptions, type TaskQuery } from '../store/query.js';
import type { AnyTaskDefinition } from '../task.js';

/** One page of `query`. */
export interface TaskPage {
  /** The tasks, newest (or oldest) first by defer time. */
  readonly tasks: readonly Task[];
  /** Pass it back as `cursor` for the next page; undefined on the last page. */
  readonly cursor: string | undefined;
}

/** A filter of `query` and `count`: by task definition or name, status, order key, owner and time. */
export interface ClientQuery extends Omit<TaskQuery, 'task'> {
  /** Only tasks of this definition (or definition name). */
  readonly task?: AnyTaskDefinition | string;
}

/** What the `history` capability adds to the client. */
export interface HistoryMembers {
  /**
   * Reads one page of stored tasks through an index, newest first by default: finished ones
   * beyond the snapshot's window, and other users' tasks (`owner`), included.
   */
  query(filter?: ClientQuery, page?: PageOptions): Promise<TaskPage>;
  /** Counts stored tasks matching `filter` (index counts where one index covers it). */
  count(filter?: ClientQuery): Promise<number>;
  /** Records moved aside because they could not be read (`payload`: the one a record kept apart, if it did). */
  quarantined(): Promise<Array<{ seq: number; reason: string; at: number; record: unknown; payload?: unknown }>>;
}

const toQuery = (filter: ClientQuery): TaskQuery => {
  if (typeof filter !== 'object' || filter === null) badOption(`a query must be an object: { task?, status?, orderKey?, owner?, since?, until? }, got ${filter === null ? 'null' : typeof filter}`);
  const task = typeof filter.task === 'object' && filter.task !== null ? filter.task.name : filter.task;
  return { ...filter, task };
};

/**
 * Reading what is stored beyond the live snapshot: `createClient({ use: [history] })`.
 *
 * @example
 * ```ts
 * import { createClient, history } from '@halfsync/core';
 * import { sendEmail } from './tasks';
 * const client = createClient({ tasks: [sendEmail], use: [history] });
 * let page = await client.query({ task: sendEmail, status: 'succeeded' }, { limit: 20 });
 * while (page.cursor) page = await client.query({ task: sendEmail, status: 'succeeded' }, { limit: 20, cursor: page.cursor });
 * ```
 */
export const history: Capability<HistoryMembers> = /* @__PURE__ */ defineCapability('history', (core): HistoryMembers => ({
  async query(filter: ClientQuery = {}, page: PageOptions = {}): Promise<TaskPage> {
    const query = toQuery(filter);
    checkQuery(query, page);
    await core.settleInbox();
    const { records, cursor } = await queryTasks(await core.store.db(), query, page);
    return { tasks: records.map((r) => core.model.get(r.id) ?? toTask(r)), cursor };
  },
  async count(filter: ClientQuery = {}): Promise<number> {
    const query = toQuery(filter);
    checkQuery(query);
    await core.settleInbox();
    return countTasks(await core.store.db(), query);
  },
  quarantined() {
    return core.store.quarantined();
  },
}));
