import net from 'node:net';

export interface FaultProxy {
  /** The proxy's base URL, to use as the homeserver URL. */
  url: string;
  /**
   * Drops the connection of the next `count` requests whose request line contains `match`,
   * after the server has answered them: the server commits the request, the client never
   * hears back. Resolves nothing; read `dropped` to see how many were dropped so far.
   */
  dropAfterForwarding(match: string, count: number): void;
  /** Requests dropped so far. */
  readonly dropped: number;
  /** Refuse (reset) every new connection while true: the homeserver looks down. */
  refuseConnections: boolean;
  close(): Promise<void>;
}

/**
 * A TCP proxy between mx and the homeserver that injects faults at the connection level,
 * where a real network fails: the request reached the server, the answer never came back.
 */
export async function startFaultProxy(upstreamUrl: string): Promise<FaultProxy> {
  const upstream = new URL(upstreamUrl);
  let pendingDrops: { match: string; count: number } | undefined;
  let dropped = 0;
  const sockets = new Set<net.Socket>();

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (proxy.refuseConnections) {
      client.resetAndDestroy();
      return;
    }
    const target = net.connect(Number(upstream.port), upstream.hostname);
    sockets.add(target);
    target.on('close', () => sockets.delete(target));
    // Set when a request to drop has gone upstream: its answer (the next bytes back) is cut.
    let doomed = false;
    client.on('data', (chunk: Buffer) => {
      if (pendingDrops && pendingDrops.count > 0) {
        const requestLines = chunk.toString('latin1').split('\r\n').filter((line) => /^(GET|PUT|POST|DELETE) /.test(line));
        if (requestLines.some((line) => line.includes(pendingDrops!.match))) {
          pendingDrops.count--;
          doomed = true;
        }
      }
      target.write(chunk);
    });
    target.on('data', (chunk: Buffer) => {
      if (doomed) {
        dropped++;
        client.resetAndDestroy();
        target.destroy();
        return;
      }
      client.write(chunk);
    });
    client.on('end', () => target.end());
    target.on('end', () => client.end());
    client.on('error', () => target.destroy());
    target.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;

  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${port}`,
    dropAfterForwarding(match, count) {
      pendingDrops = { match, count };
    },
    get dropped() {
      return dropped;
    },
    refuseConnections: false,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
