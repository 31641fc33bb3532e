import type { IDBPDatabase } from 'idb';
import type { HalfsyncSchema } from './schema.js';
import type { Tx } from './store.js';

// Who is signed in, as committed in the `state` store: read inside an insert's or a claim's
// transaction (so a task is stamped and claimed by what committed, never by a tab's belief), and
// by a tab's load. Writing it is store/owner.ts's (sign-in, sign-out), loaded only where used.

/**
 * Who is signed in, as committed: the one truth every tab and runner derives its belief from.
 * `version` moves on with every committed change, so that of two beliefs the newer wins whatever
 * order the messages carrying them arrive in (0: nobody ever signed in here).
 */
export interface OwnerState {
  readonly owner: string | undefined;
  readonly version: number;
}

/** The state record that holds it. */
interface OwnerRow { key: string; value: unknown; at: number; version?: unknown }

const readOwner = (row: OwnerRow | undefined): OwnerState => ({
  owner: typeof row?.value === 'string' ? row.value : undefined,
  version: typeof row?.version === 'number' && Number.isFinite(row.version) ? row.version : row ? 1 : 0,
});

/**
 * Who is signed in, read inside the caller's transaction: from `state` (a runner's claim, an
 * insert with lanes or parents) or from `gate`, the inbox's copy written in the same transaction
 * (a plain insert, whose transaction spans the inbox alone).
 */
export async function ownerState(tx: Tx, from: 'state' | 'gate' = 'state'): Promise<OwnerState> {
  return readOwner(await tx.objectStore(from).get('owner'));
}

/** Who is signed in, read on its own (a tab's load). */
export async function readOwnerState(db: IDBPDatabase<HalfsyncSchema>): Promise<OwnerState> {
  return readOwner(await db.get('state', 'owner'));
}
