import { HalfsyncError } from './errors.js';
export const DEFAULT_RETRY = { maxAttempts: 8, baseDelayMs: 1_000, maxDelayMs: 300_000 };
export const DEFAULT_RETENTION = { finishedMs: 86_400_000, maxAgeMs: 7 * 86_400_000 };
const positive = (name, key, value, integer = false) => {
    if (value === undefined)
        return;
    if (typeof value !== 'number' || !(value > 0) || (integer && !Number.isInteger(value))) {
        throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": ${key} must be a positive ${integer ? 'integer' : 'number'}, got ${String(value)}`);
    }
};
/**
 * Defines a task: its name, the handler that does the async half, and its retry, ordering and
 * retention policy. Define each task once in a module that both the page and the worker import.
 *
 * @example
 * ```ts
 * export const sendEmail = defineTask('send-email', {
 *   async run(mail: { to: string; subject: string }, ctx) {
 *     const res = await fetch('/api/mail', { method: 'POST', body: JSON.stringify(mail),
 *       headers: { 'Idempotency-Key': ctx.idempotencyKey }, signal: ctx.signal });
 *     if (res.status === 400) throw new PermanentError(await res.text());
 *     if (!res.ok) throw new Error(`mail server answered ${res.status}`);
 *     return { sentAt: Date.now() };
 *   },
 *   retry: { maxAttempts: 5 },
 * });
 * ```
 */
export function defineTask(name, options) {
    if (typeof name !== 'string' || name.length === 0 || name.length > 200) {
        throw new HalfsyncError('INVALID_OPTIONS', `defineTask: the name must be a non-empty string of at most 200 characters, got ${JSON.stringify(name)}`);
    }
    if (typeof options !== 'object' || options === null || typeof options.run !== 'function') {
        throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": options.run must be a function (the async half)`);
    }
    const { retry = {}, retention = {}, orderKey, validate } = options;
    positive(name, 'retry.maxAttempts', retry.maxAttempts, true);
    positive(name, 'retry.baseDelayMs', retry.baseDelayMs);
    positive(name, 'retry.maxDelayMs', retry.maxDelayMs);
    positive(name, 'retention.finishedMs', retention.finishedMs);
    positive(name, 'retention.maxAgeMs', retention.maxAgeMs);
    if (orderKey !== undefined && typeof orderKey !== 'string' && typeof orderKey !== 'function') {
        throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": orderKey must be a string or a function of the payload`);
    }
    if (validate !== undefined && typeof validate !== 'function') {
        throw new HalfsyncError('INVALID_OPTIONS', `task "${name}": validate must be a function`);
    }
    return Object.freeze({
        name,
        options,
        retry: Object.freeze({ ...DEFAULT_RETRY, ...retry }),
        retention: Object.freeze({ ...DEFAULT_RETENTION, ...retention }),
    });
}
/** Indexes task definitions by name, refusing duplicates. */
export function taskRegistry(tasks) {
    if (!Array.isArray(tasks)) {
        throw new HalfsyncError('INVALID_OPTIONS', 'tasks must be an array of definitions made by defineTask()');
    }
    const byName = new Map();
    for (const task of tasks) {
        if (!task || typeof task.name !== 'string' || typeof task.options?.run !== 'function') {
            throw new HalfsyncError('INVALID_OPTIONS', 'tasks must hold only definitions made by defineTask()');
        }
        const seen = byName.get(task.name);
        if (seen && seen !== task) {
            throw new HalfsyncError('DUPLICATE_TASK', `two task definitions are named "${task.name}"; task names must be unique`);
        }
        byName.set(task.name, task);
    }
    return byName;
}
//# sourceMappingURL=task.js.map