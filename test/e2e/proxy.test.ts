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
    const user = await registerUser();
    proxy.seen.length = 0;
    const r = await runMx(['whoami'], { configDir: user.configDir, env: { HTTPS_PROXY: 'not a url' } });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stderr).error.message).toMatch(/HTTPS_PROXY is not a URL/);
  });
});
