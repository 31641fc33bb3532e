import type { Task } from '@halfsync/core';

/** Why a pending task is not running: the rule that holds it, as the panel names it. */
export type WaitKind = 'limited' | 'owner' | 'parents' | 'lane' | 'offline' | 'periodic' | 'scheduled' | 'due';

/** What the "next run" column says of a pending task. */
export interface Wait {
  readonly kind: WaitKind;
  readonly text: string;
}

/** What the panel knows beyond the task itself. */
export interface WaitContext {
  /** Every task the tab holds, by id. */
  readonly byId: ReadonlyMap<string, Task>;
  /** The tasks the tab holds that have an order key, by key, in commit order. */
  readonly lanes: ReadonlyMap<string, readonly Task[]>;
  /** Who is signed in (`client.owner`). */
  readonly owner: string | undefined;
  /** Whether the browser says it is online. */
  readonly online: boolean;
  readonly now: number;
}

/** A span as the panel says it: "12s", "15m", "6h", "2d". */
export function span(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

/** "in 12s", "3s ago", "in 15m", "now". */
export function relative(at: number, now: number): string {
  if (Math.round((at - now) / 1000) === 0) return 'now';
  return at > now ? `in ${span(at - now)}` : `${span(now - at)} ago`;
}

/** Groups tasks with an order key by that key, keeping commit order. */
export function lanesOf(tasks: readonly Task[]): Map<string, Task[]> {
  const lanes = new Map<string, Task[]>();
  for (const t of tasks) if (t.orderKey !== undefined) lanes.set(t.orderKey, [...(lanes.get(t.orderKey) ?? []), t]);
  return lanes;
}

const unfinished = (t: Task) => t.status === 'pending' || t.status === 'running';

/**
 * Why a pending task waits, in the order the runner's own rules apply: another user's task waits
 * for them; a child for its parents; a task with an order key for the tasks ahead of it in its
 * lane; a task that could not reach the server for the network. Otherwise, when it may run next: a
 * time in the past then means "due", never "overdue by 28 s". Undefined for a task not pending.
 */
export function waitOf(task: Task, ctx: WaitContext): Wait | undefined {
  if (task.status !== 'pending') return undefined;
  if (task.owner !== ctx.owner) {
    return { kind: 'owner', text: task.owner === undefined ? 'waits until no one is signed in' : `waits for ${task.owner} to sign in` };
  }
  const parents = (task.after ?? []).map((id) => ctx.byId.get(id)).filter((p): p is Task => p !== undefined && p.status !== 'succeeded');
  if (parents.length > 0) return { kind: 'parents', text: 'after its parents' };
  if (task.orderKey !== undefined) {
    const lane = ctx.lanes.get(task.orderKey) ?? [];
    const ahead = lane.slice(0, lane.indexOf(task));
    const due = task.nextRunAt <= ctx.now;
    // A failed task holds its lane until it is retried or dismissed (unless the lane skips
    // failures, which the task does not say): only a task already due is said to wait for one.
    if (ahead.some(unfinished) || (due && ahead.some((t) => t.status === 'failed'))) {
      return { kind: 'lane', text: `behind its lane's head (${task.orderKey})` };
    }
  }
  if (!ctx.online || task.lastError?.kind === 'unreachable') return { kind: 'offline', text: 'waits for the network' };
  if (task.limitedUntil !== undefined && task.limitedUntil > ctx.now) return { kind: 'limited', text: `rate limit: runs ${relative(task.limitedUntil, ctx.now)}` };
  if (task.every !== undefined && task.attempts === 0 && task.nextRunAt > ctx.now) {
    return { kind: 'periodic', text: `every ${span(task.every)}: next run ${relative(task.nextRunAt, ctx.now)}` };
  }
  if (task.nextRunAt > ctx.now) {
    return { kind: 'scheduled', text: `${task.attempts > 0 ? 'retry ' : ''}${relative(task.nextRunAt, ctx.now)}` };
  }
  return { kind: 'due', text: 'due now' };
}
