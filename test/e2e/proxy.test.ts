import net, { type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpProxy, type HttpProxy } from './http-proxy.js';
import { describeResult, homeserverUrl, registerUser, runMx } from './helpers.js';

describe('HTTP proxies from the environment', () => {
  let proxy: HttpProxy;
  beforeAll(async () => {
    proxy = await startHttpProxy();
  });
  afterAll(() => proxy.close());

  it('sends every request through HTTP_PROXY (or https_proxy), except hosts in NO_PROXY', async () => {
    const user = await registerUser();
    const hs = new URL(homeserverUrl());
    for (const env of [{ HTTP_PROXY: proxy.url }, { http_proxy: proxy.url }]) {
      proxy.seen.length = 0;
      const r = await runMx(['whoami'], { configDir: user.configDir, env });
      expect(r.code, describeResult(['whoami'], r)).toBe(0);
      expect(JSON.parse(r.stdout).user_id).toBe(user.userId);
      expect(proxy.seen.length, `through ${JSON.stringify(env)}`).toBeGreaterThan(0);
      expect(proxy.seen.every((line) => line.includes(hs.host))).toBe(true);
    }

    proxy.seen.length = 0;
    const direct = await runMx(['whoami'], { configDir: user.configDir, env: { HTTP_PROXY: proxy.url, NO_PROXY: hs.hostname } });
    expect(direct.code, describeResult(['whoami'], direct)).toBe(0);
    expect(proxy.seen).toEqual([]);
  });

  it('a proxy variable that is not a URL is a usage error, and nothing is sent', async () => {
    // The homeserver is a listener that counts connections: mx must not even connect.
    let connections = 0;
    const listener = net.createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    try {
      const homeserver = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
      for (const variable of ['HTTPS_PROXY', 'http_proxy']) {
        const env = { [variable]: 'not a url', MX_HOMESERVER: homeserver, MX_ACCESS_TOKEN: 'syt_unused' };
        const r = await runMx(['whoami'], { env });
        expect(r.code, describeResult(['whoami'], r)).toBe(2);
        expect(JSON.parse(r.stderr).error.message).toMatch(new RegExp(`^${variable} is not a URL`, 'i'));
      }
    } finally {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
    expect(connections).toBe(0);
    expect(proxy.seen).toEqual([]);
  });
});
