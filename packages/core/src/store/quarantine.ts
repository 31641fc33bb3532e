import { inTx, type TaskStore, type Tx } from './store.js';

// The quarantine: records that do not read as tasks, moved aside with why, never run and never
// dropped (a runner's claim and sweep, a tab's load find them; `history.quarantined()` lists them).

/**
 * Moves an unreadable record of `tasks` to the quarantine, with why; a payload it kept apart goes
 * with it (`payload` beside the record), so nothing of it is lost.
 */
export async function quarantineRecord(tx: Tx, raw: unknown, reason: string, now: number): Promise<void> {
  // The key path guarantees that seq is a valid key, even when the rest of the record is not.
  const { seq, id, apart } = raw as { seq: number; id?: unknown; apart?: unknown };
  const payloads = tx.objectStore('payloads');
  const row = apart === true && typeof id === 'string' ? await payloads.get(id) : undefined;
  await Promise.all([
    tx.objectStore('quarantine').put({ seq, reason, at: now, record: raw, ...(row ? { payload: row.payload } : {}) }),
    tx.objectStore('tasks').delete(seq),
    ...(row ? [payloads.delete(row.id)] : []),
  ]);
}

/** Moves unreadable records a tab read to the quarantine store, with why (a write-only page never does). */
export function quarantine(store: TaskStore, bad: ReadonlyArray<{ raw: unknown; reason: string }>, now: number): Promise<void> {
  return inTx(store, 'relaxed', 'quarantining unreadable tasks', async (tx) => {
    await Promise.all(bad.map(({ raw, reason }) => quarantineRecord(tx, raw, reason, now)));
  });
}
