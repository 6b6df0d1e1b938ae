/** The few lines every emulated endpoint needs around node:http: listen on a port, close, the caller's address. */
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** Listens on `port` (0 = any free port) and answers the port actually bound. */
export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<{ port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { port: (server.address() as AddressInfo).port };
}

/** Stops accepting, drops keep-alive connections, and resolves once the server is closed. */
export async function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** The caller's IPv4 address as API Gateway reports it (`sourceIp`), without Node's IPv6-mapped prefix. */
export const sourceIpOf = (socket: Socket): string => (socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
