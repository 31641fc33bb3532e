// A real HTTP server on 127.0.0.1 for a Fetch handler, closed by the test that made it.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from '@halfsync/server/node';

export interface Running {
  readonly base: string;
  readonly server: Server;
  close(): Promise<void>;
}

export async function listen(listener: RequestListener): Promise<Running> {
  const server = createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    server,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export const serve = (handler: (request: Request) => Promise<Response>) => listen((req, res) => void toNodeHandler(handler)(req, res));
