import { HalfsyncError } from './errors.js';
import { UNIT_MS } from './rate-limit.js';
import { defineTask, type TaskDefinition, type TaskOptions } from './task.js';
import { keepSchedule, type KeepSchedule } from './store/schedule.js';

// A periodic task: a definition with a schedule (`every`, an optional daily `window`). The runners
// keep one run of it waiting in the store per user (store/schedule.ts); this module reads the
// options and does the schedule's arithmetic.

/** A daily window, in local time: `{ from: '06:00', to: '09:00' }`; `from` after `to` spans midnight. */
export interface ScheduleWindow {
  /** The start of the window, `HH:MM` (24-hour, local time). */
  readonly from: string;
  /** The end of the window (excluded), `HH:MM`. */
  readonly to: string;
}

/** The options of {@link definePeriodicTask}. */
export interface PeriodicTaskOptions<Input, Result> extends Omit<TaskOptions<Input, Result>, 'orderKey' | 'supersede' | 'validate' | 'laneFailure'> {
  /**
   * The least time between two runs: `'15m'`, `'12h'`, `'1d'` (a positive integer per `s`, `m`, `h`
   * or `d`), or ms; at least one second. The next run comes due this long after the last one
   * finished (with a `window` and whole days: at the window's opening that many days later); runs
   * missed while nothing ran (every tab closed, the device asleep) make one run.
   */
  every: string | number;
  /** When runs may start, each day, in local time (a price refresh in the early morning). */
  window?: ScheduleWindow;
  /** The payload each run gets (structured-cloneable). Default `undefined`. */
  input?: Input;
}

/** A periodic definition's schedule, as the runners read it. */
export interface Schedule {
  /** The least time between two runs, in ms. */
  readonly everyMs: number;
  /** The daily window in minutes after local midnight (`from` > `to`: it spans midnight). */
  readonly window?: { readonly from: number; readonly to: number };
  /** The payload each run gets. */
  readonly input: unknown;
  /** The first time from `at` on when a run may start: `at` itself, or the window's next opening. */
  startFrom(at: number): number;
  /**
   * When the run after one that ended at `lastEnded` may start, not before `now`: `every` later;
   * with a window and an `every` of whole days, the window's opening that many calendar days
   * after the day of the last run (a daily run stays daily across a change to summer time, and
   * never drifts out of its window).
   */
  nextAfter(lastEnded: number, now: number): number;
  /**
   * The executor's step for this schedule: adds the next run when the last has finished (kept on
   * the definition, so that a worker without periodic tasks does not carry it).
   * @internal
   */
  readonly keep: KeepSchedule;
}

/** A task definition that runs on a schedule (made by {@link definePeriodicTask}). */
export interface PeriodicTaskDefinition<Input = unknown, Result = unknown> extends TaskDefinition<Input, Result> {
  /** Its schedule. */
  readonly schedule: Schedule;
}

const minutesOf = (name: string, key: string, given: unknown): number => {
  const m = typeof given === 'string' ? /^([01]\d|2[0-3]):([0-5]\d)$/.exec(given) : null;
  if (!m) throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": window.${key} must be a local time 'HH:MM' (00:00 to 23:59), got ${JSON.stringify(given)}`);
  return Number(m[1]) * 60 + Number(m[2]);
};

/** Reads `every` and `window`; throws INVALID_OPTIONS, quoting the option, when one is malformed. */
export function scheduleOf(name: string, every: unknown, window: unknown, input: unknown): Schedule {
  let everyMs: number;
  if (typeof every === 'string') {
    const m = /^(\d+)([smhd])$/.exec(every.trim());
    everyMs = m ? Number(m[1]) * UNIT_MS[m[2]!]! : NaN;
  } else everyMs = typeof every === 'number' ? every : NaN;
  if (!(Number.isFinite(everyMs) && everyMs >= 1_000)) {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": every must be like '15m' (a positive integer per s, m, h or d) or a number of ms, at least one second, got ${JSON.stringify(every)}`);
  }
  let span: Schedule['window'];
  if (window !== undefined) {
    if (typeof window !== 'object' || window === null) throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": window must be { from: 'HH:MM', to: 'HH:MM' }, got ${JSON.stringify(window)}`);
    const w = window as Partial<ScheduleWindow>;
    span = { from: minutesOf(name, 'from', w.from), to: minutesOf(name, 'to', w.to) };
    if (span.from === span.to) throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": window.from and window.to are the same time; leave the window out to run at any time`);
  }
  try {
    structuredClone(input);
  } catch (error) {
    throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": input cannot be stored (${(error as Error).message}); give plain data`);
  }
  const startFrom = (at: number) => nextInWindow(at, span);
  const nextAfter = (lastEnded: number, now: number): number => {
    if (!span || everyMs % DAY !== 0) return startFrom(Math.max(now, lastEnded + everyMs));
    // The window's last opening at or before the run ended (for a window across midnight, a run
    // after midnight belongs to the opening of the day before), then that many days on.
    const d = new Date(lastEnded);
    d.setHours(Math.floor(span.from / 60), span.from % 60, 0, 0);
    if (d.getTime() > lastEnded) d.setDate(d.getDate() - 1);
    d.setDate(d.getDate() + everyMs / DAY);
    d.setHours(Math.floor(span.from / 60), span.from % 60, 0, 0);
    return startFrom(Math.max(now, d.getTime()));
  };
  return { everyMs, ...(span ? { window: span } : {}), input, startFrom, nextAfter, keep: keepSchedule };
}

const DAY = UNIT_MS.d!;

/** Whether local time `at` falls in the window. */
export function inWindow(at: number, window: Schedule['window']): boolean {
  if (!window) return true;
  const d = new Date(at);
  const m = d.getHours() * 60 + d.getMinutes();
  return window.from < window.to ? m >= window.from && m < window.to : m >= window.from || m < window.to;
}

/** The first time from `at` on when a run may start: `at` itself, or the window's next opening. */
export function nextInWindow(at: number, window: Schedule['window']): number {
  if (!window || inWindow(at, window)) return at;
  const d = new Date(at);
  d.setHours(Math.floor(window.from / 60), window.from % 60, 0, 0);
  // Today's opening, unless it has passed: then tomorrow's (set by the date, as a day is not always 24 h).
  if (d.getTime() <= at) {
    d.setDate(d.getDate() + 1);
    d.setHours(Math.floor(window.from / 60), window.from % 60, 0, 0);
  }
  return d.getTime();
}

/**
 * Defines a task that runs on its own schedule, at most once per `every` for each user, across the
 * worker, every tab and restarts; missed runs (a week with the app closed) make one run, not many.
 * It is never deferred: list it in the worker's and the client's `tasks`, and the runners keep its
 * next run waiting in the store. Where the browser grants Periodic Background Sync (an installed
 * app in Chromium), the `periodic` capability asks it to wake the worker with every tab closed;
 * otherwise runs happen when the worker starts and while a tab is open.
 *
 * @example
 * ```ts
 * export const refreshPrices = definePeriodicTask('refresh-prices', {
 *   every: '1d',
 *   window: { from: '05:00', to: '09:00' },
 *   async run(_input: undefined, ctx) {
 *     const res = await fetch('/api/prices', { signal: ctx.signal });
 *     if (!res.ok) throw new Error(`prices answered ${res.status}`);
 *     await caches.open('prices').then((c) => c.put('/api/prices', res));
 *   },
 * });
 * ```
 */
export function definePeriodicTask<Input = undefined, Result = unknown>(name: string, options: PeriodicTaskOptions<Input, Result>): PeriodicTaskDefinition<Input, Result> {
  if (typeof options !== 'object' || options === null) throw new HalfsyncError('INVALID_OPTIONS', `task ${JSON.stringify(name)}: definePeriodicTask needs options { every, run }`);
  for (const key of ['orderKey', 'supersede', 'validate', 'laneFailure', 'batch', 'runBatch']) {
    if (key in options) throw new HalfsyncError('INVALID_OPTIONS', `task ${JSON.stringify(name)}: ${key} is not an option of a periodic task (its runs are made by its schedule, one at a time)`);
  }
  const { every, window, input, ...rest } = options;
  const schedule = scheduleOf(name, every, window, input);
  // A run that keeps failing gives way to the next period's run rather than retrying for days.
  const retry = { maxAttempts: 5, ...rest.retry };
  const definition = defineTask<Input, Result>(name, { ...rest, retry });
  return Object.freeze({ ...definition, schedule: Object.freeze(schedule) });
}
