import { describe, expect, it } from 'vitest';
import { ssoProviders, startSsoCallback } from '../../src/matrix/sso.js';

describe('ssoProviders', () => {
  it('lists the identity providers of the m.login.sso flow, or undefined without one', () => {
    expect(ssoProviders([{ type: 'm.login.password' }])).toBeUndefined();
    expect(ssoProviders([{ type: 'm.login.sso' }])).toEqual([]);
    expect(ssoProviders([{ type: 'm.login.sso', identity_providers: [{ id: 'oidc-a', name: 'A' }, { id: 'b' }, { name: 'no id' }, 'junk'] }])).toEqual([
      { id: 'oidc-a', name: 'A' },
      { id: 'b', name: 'b' },
    ]);
  });
});

describe('startSsoCallback', () => {
  const start = (timeoutMs = 5_000, signal = new AbortController().signal) => startSsoCallback('https://hs.example', 'oidc-a', timeoutMs, signal);
  const redirectOf = (url: string) => new URL(new URL(url).searchParams.get('redirectUrl')!);

  it('sends the browser to the provider with a loopback redirect, and takes the token that comes back with its state', async () => {
    const callback = await start();
    expect(callback.url.startsWith('https://hs.example/_matrix/client/v3/login/sso/redirect/oidc-a?redirectUrl=')).toBe(true);
    const redirect = redirectOf(callback.url);
    expect(redirect.hostname).toBe('127.0.0.1');
    expect(redirect.searchParams.get('state')).toMatch(/^[\w-]{24}$/);
    expect((await fetch(new URL('/elsewhere', redirect))).status).toBe(404);
    redirect.searchParams.set('loginToken', 'syl_token');
    const page = await fetch(redirect);
    expect(page.status).toBe(200);
    await expect(callback.loginToken).resolves.toBe('syl_token');
  });

  it('refuses a callback without a login token', async () => {
    const callback = await start();
    expect((await fetch(redirectOf(callback.url))).status).toBe(400);
    await expect(callback.loginToken).rejects.toMatchObject({ exitCode: 3, message: expect.stringMatching(/without a login token/) });
  });

  it('gives up after the timeout, and when aborted', async () => {
    await expect((await start(50)).loginToken).rejects.toMatchObject({ exitCode: 3, message: expect.stringMatching(/no sign-in came back/) });
    const abort = new AbortController();
    const callback = await start(5_000, abort.signal);
    abort.abort(new Error('SIGINT'));
    await expect(callback.loginToken).rejects.toThrow('SIGINT');
    await expect(fetch(redirectOf(callback.url))).rejects.toThrow();
  });
});
