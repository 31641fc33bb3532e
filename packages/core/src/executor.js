import { HalfsyncError, PermanentError, RetryableError } from './errors.js';
import { toTaskError } from './record.js';
import { uuid, withLock } from './util.js';
const SHUTDOWN = Symbol('halfsync.shutdown');
/** Decides whether a thrown value is permanent; works across realms by name too. */
export function classify(error, now) {
    const name = error?.name;
    if (error instanceof PermanentError || name === 'PermanentError' || error instanceof HalfsyncError) {
        return { kind: 'fail', error: toTaskError(error, now, true) };
    }
    const hint = error instanceof RetryableError || name === 'RetryableError' ? error.retryAfterMs : undefined;
    return { kind: 'retry', error: toTaskError(error, now, false), retryAfterMs: hint };
}
/**
 * Runs due tasks: one drain at a time across the worker and every tab (a Web Lock), each claimed
 * task leased in its record, at most `concurrency` handlers at once, order-key lanes one task at
 * a time. The same code runs in the service worker and, as a fallback, in a page.
 */
export class Executor {
    options;
    owner = uuid();
    concurrency;
    leaseMs;
    now;
    random;
    policy;
    constructor(options) {
        this.options = options;
        this.concurrency = options.concurrency ?? 4;
        this.leaseMs = options.leaseMs ?? 30_000;
        if (!(Number.isInteger(this.concurrency) && this.concurrency > 0)) {
            throw new HalfsyncError('INVALID_OPTIONS', `concurrency must be a positive integer, got ${String(options.concurrency)}`);
        }
        if (!(this.leaseMs >= 100))
            throw new HalfsyncError('INVALID_OPTIONS', `leaseMs must be at least 100, got ${String(options.leaseMs)}`);
        this.now = options.now ?? Date.now;
        this.random = options.random ?? Math.random;
        this.policy = (name) => options.tasks.get(name);
    }
    /** Runs every due task, then returns what it did. Waits for the drain lock if another runner holds it. */
    drain(options = {}) {
        return withLock(`halfsync:${this.options.store.name}:drain`, options.signal, () => this.run(options)).catch((error) => {
            if (options.signal?.aborted && error?.name === 'AbortError') {
                return { ran: 0, succeeded: 0, retried: 0, failed: 0, quarantined: 0, purged: 0, dueNow: 0, nextDueAt: undefined, stopped: 'aborted' };
            }
            throw error;
        });
    }
    async run({ signal, deadline, lastChance = false }) {
        const { store, tasks, onChange } = this.options;
        const inflight = new Map();
        const settled = [];
        const totals = { ran: 0, succeeded: 0, retried: 0, failed: 0, quarantined: 0, purged: 0 };
        let wake;
        const poke = () => { const w = wake; wake = undefined; w?.(); };
        let stopped = 'idle';
        const stop = (why) => {
            if (stopped !== 'idle')
                return;
            stopped = why;
            for (const f of inflight.values())
                f.controller.abort(SHUTDOWN);
            poke();
        };
        const onAbort = () => stop('aborted');
        signal?.addEventListener('abort', onAbort);
        if (signal?.aborted)
            stopped = 'aborted';
        const deadlineTimer = deadline === undefined ? undefined : setTimeout(() => stop('deadline'), Math.max(0, deadline - this.now()));
        const heartbeat = setInterval(() => void this.renew(inflight), Math.max(50, this.leaseMs / 3));
        const start = (r) => {
            const def = tasks.get(r.name);
            if (stopped !== 'idle') {
                settled.push({ seq: r.seq, owner: this.owner, outcome: { kind: 'release' } });
                return;
            }
            const controller = new AbortController();
            inflight.set(r.id, { seq: r.seq, controller });
            totals.ran++;
            const ctx = {
                id: r.id, attempt: r.attempts, idempotencyKey: r.idempotencyKey, signal: controller.signal,
                lastChance, orderKey: r.orderKey, createdAt: r.createdAt,
            };
            void (async () => {
                let outcome;
                try {
                    outcome = { kind: 'ok', result: await def.options.run(r.payload, ctx) };
                }
                catch (error) {
                    outcome = controller.signal.reason === SHUTDOWN ? { kind: 'release' } : classify(error, this.now());
                }
                inflight.delete(r.id);
                settled.push({ seq: r.seq, owner: this.owner, outcome });
                poke();
            })();
        };
        try {
            for (;;) {
                const limit = stopped === 'idle' ? this.concurrency - inflight.size : 0;
                const out = await store.pump({
                    now: this.now(), owner: this.owner, leaseMs: this.leaseMs, limit, settlements: settled.splice(0),
                    skip: new Set(inflight.keys()), policy: this.policy, random: this.random, inspect: inflight.size === 0,
                });
                for (const key of Object.keys(totals))
                    if (key !== 'ran')
                        totals[key] += out[key];
                if (out.changed.length > 0 || out.removed.length > 0)
                    onChange?.(out.changed, out.removed);
                for (const r of out.claimed)
                    start(r);
                if (inflight.size === 0 && settled.length === 0 && out.claimed.length === 0) {
                    return { ...totals, dueNow: out.dueNow ?? 0, nextDueAt: out.nextDueAt, stopped };
                }
                if (settled.length === 0)
                    await new Promise((resolve) => { wake = resolve; });
            }
        }
        finally {
            clearInterval(heartbeat);
            clearTimeout(deadlineTimer);
            signal?.removeEventListener('abort', onAbort);
            for (const f of inflight.values())
                f.controller.abort(SHUTDOWN);
        }
    }
    async renew(inflight) {
        if (inflight.size === 0)
            return;
        const held = [...inflight.entries()];
        try {
            const renewed = await this.options.store.renew(held.map(([, f]) => f.seq), this.owner, this.now(), this.leaseMs);
            const kept = new Set(renewed.map((r) => r.id));
            for (const [id, f] of held) {
                if (!kept.has(id) && inflight.get(id) === f) {
                    f.controller.abort(new HalfsyncError('LEASE_LOST', `task ${id}: this runner lost its lease; another runner has taken the task over`));
                }
            }
        }
        catch {
            // A failed renewal is retried at the next beat; the lease still covers the gap.
        }
    }
}
//# sourceMappingURL=executor.js.map