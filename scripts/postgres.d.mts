// Types of scripts/postgres.mjs for the TypeScript tests and benchmarks that start a throwaway cluster.
export interface Cluster {
  readonly port: number;
  readonly dir: string;
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication, local only). */
  readonly url: string;
  /** Starts the server again after stop(). */
  start(): Promise<void>;
  /** Stops the server (a clean, fast shutdown), keeping its data. */
  stop(): Promise<void>;
  /** Stops the server and deletes its folder. */
  destroy(): Promise<void>;
  destroySync(): void;
}
export function postgresBinDir(): string | undefined;
export function ensurePostgres(): void;
export function startCluster(options?: { durable?: boolean; maxConnections?: number }): Promise<Cluster>;
