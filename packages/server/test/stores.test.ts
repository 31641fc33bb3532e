// The store contract against the in-process stores; postgres.test.ts runs it against PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { memoryStore } from '@halfsync/server';
import { sqliteStore } from '@halfsync/server/sqlite';
import { storeContract } from './support/contract.js';

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'halfsync-server-stores-')); });
afterAll(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });
let n = 0;

storeContract('memoryStore', async () => memoryStore());
storeContract('sqliteStore', async () => sqliteStore({ file: join(dir, `contract-${++n}.db`) }));
