import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

export interface DeferringProxy {
  /** The proxy's base URL, to use as a client's homeserver URL. */
  url: string;
  /**
   * From now on, answers each `PUT /sendToDevice/...` at once with `{}` (the client thinks it
   * delivered) and forwards it to the homeserver `ms` later: a to-device message that is slower
   * than the room event sent after it, as across federation. 0 forwards at once again.
   */
  deferToDevice(ms: number): void;
  /** When each deferred to-device request reached the homeserver (Date.now()). */
  readonly delivered: number[];
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host', 'upgrade']);

function forwardable(headers: http.IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  return Object.fromEntries(Object.entries(headers).filter(([name, value]) => value !== undefined && !HOP_BY_HOP.has(name.toLowerCase()))) as Record<string, string | string[]>;
}

/** An HTTP proxy in front of the homeserver that can hold back to-device messages. */
export async function startDeferringProxy(upstreamUrl: string): Promise<DeferringProxy> {
  let delayMs = 0;
  const delivered: number[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = chunks.length ? Buffer.concat(chunks) : undefined;
    const forward = () =>
      request(`${upstreamUrl}${req.url}`, { method: req.method as 'GET', headers: forwardable(req.headers), body, headersTimeout: 120_000, bodyTimeout: 120_000 });
    if (delayMs > 0 && req.method === 'PUT' && req.url?.startsWith('/_matrix/client/v3/sendToDevice/')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      const timer = setTimeout(() => {
        timers.delete(timer);
        forward()
          .then(async (answer) => {
            await answer.body.dump();
            delivered.push(Date.now());
          })
          .catch(() => {});
      }, delayMs);
      timers.add(timer);
      return;
    }
    try {
      const answer = await forward();
      res.writeHead(answer.statusCode, forwardable(answer.headers));
      for await (const chunk of answer.body) res.write(chunk);
      res.end();
    } catch {
      res.destroy();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    deferToDevice(ms: number) {
      delayMs = ms;
    },
    delivered,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
