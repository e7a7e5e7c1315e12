// Single sign-on against a homeserver that has no password login at all, only OpenID Connect
// through an identity provider (test/homeserver/identity-provider.mjs): mx prints the page to
// open, a browser (test/e2e/browser.ts) signs in there, and the homeserver sends the browser
// back to mx's loopback port with the login token.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIdentityProvider, type IdentityProvider } from '../homeserver/identity-provider.mjs';
import { startSynapse, type SynapseServer } from '../homeserver/synapse.mjs';
import { signInWithBrowser } from './browser.js';
import { expectExit, mxJson, randomPassword, runMx, startMx, tempConfigDir, uniqueUser, waitUntil, type RunningMx } from './helpers.js';

let idp: IdentityProvider;
let synapse: SynapseServer;

beforeAll(async () => {
  idp = await startIdentityProvider();
  synapse = await startSynapse({
    extraConfig: ({ url }) => ({ ...idp.synapseConfig(url), password_config: { enabled: false } }),
    log: () => {},
  });
}, 120_000);
afterAll(async () => {
  await synapse?.stop();
  await idp?.stop();
});

/** Starts `mx login --sso --no-browser` and waits for the page it says to open. */
async function startSsoLogin(configDir: string, extra: string[] = []): Promise<{ mx: RunningMx; url: string }> {
  const mx = startMx(['login', '--sso', '--no-browser', '--homeserver', synapse.url, ...extra], { configDir, timeoutMs: 60_000 });
  let url: string | undefined;
  await waitUntil(() => {
    const line = mx.stderr().split('\n').find((l) => l.includes('"notice"'));
    url = line ? (JSON.parse(line) as { notice: { url: string } }).notice.url : undefined;
    return url !== undefined || mx.child.exitCode !== null;
  }, 'mx to print the sign-in page');
  if (!url) throw new Error(`mx printed no sign-in page:\n${mx.stderr()}`);
  return { mx, url };
}

/** The whole login as a user would do it: mx waits, the browser signs in as `login`. */
async function ssoLogin(configDir: string, login: string, extra: string[] = []) {
  const { mx, url } = await startSsoLogin(configDir, extra);
  const page = await signInWithBrowser(url, login);
  return { page, result: await mx.done, url };
}

describe('mx login --sso', () => {
  it('signs in through the identity provider, and the profile works and can be refreshed', async () => {
    const configDir = tempConfigDir();
    const login = uniqueUser('sso');
    const { page, result, url } = await ssoLogin(configDir, login);
    expectExit(result, 0);
    // The page was the homeserver's, and its way back to mx is loopback only.
    expect(url.startsWith(`${synapse.url}/_matrix/client/v3/login/sso/redirect?redirectUrl=`)).toBe(true);
    expect(new URL(new URL(url).searchParams.get('redirectUrl')!).hostname).toBe('127.0.0.1');
    expect(page.status).toBe(200);
    expect(page.text).toContain('Signed in');
    const userId = `@${login}:${synapse.serverName}`;
    expect(JSON.parse(result.stdout)).toMatchObject({ user_id: userId, homeserver: synapse.url });

    expect(await mxJson(['whoami'], { configDir })).toMatchObject({ user_id: userId });
    expect(await mxJson(['profile', 'show'], { configDir })).toMatchObject({ user_id: userId, refreshable: true });
    // The display name came from the identity provider.
    expect(await mxJson(['account', 'displayname'], { configDir })).toMatchObject({ displayname: `SSO ${login}` });
  });

  it('with --idp, goes straight to that provider; the same sign-in is the same Matrix user', async () => {
    const login = uniqueUser('sso');
    const first = await ssoLogin(tempConfigDir(), login);
    expectExit(first.result, 0);
    const second = await ssoLogin(tempConfigDir(), login, ['--idp', 'oidc-test']);
    expectExit(second.result, 0);
    expect(second.url).toContain('/login/sso/redirect/oidc-test?');
    const [a, b] = [first, second].map((r) => JSON.parse(r.result.stdout) as { user_id: string; device_id: string });
    expect(b!.user_id).toBe(a!.user_id);
    expect(b!.device_id).not.toBe(a!.device_id);
  });

  it('a profile signed in again as its own user is renewed; as someone else, it is kept and the stray device logged out', async () => {
    const configDir = tempConfigDir();
    const owner = uniqueUser('owner');
    expectExit((await ssoLogin(configDir, owner)).result, 0);
    const again = await ssoLogin(configDir, owner);
    expectExit(again.result, 0);
    const renewed = await mxJson<{ user_id: string; device_id: string }>(['profile', 'show'], { configDir });
    expect(renewed.device_id).toBe((JSON.parse(again.result.stdout) as { device_id: string }).device_id);

    const other = uniqueUser('other');
    const wrong = await ssoLogin(configDir, other);
    expectExit(wrong.result, 6, new RegExp(`logged in as @${owner}:`));
    expect(await mxJson(['profile', 'show'], { configDir })).toMatchObject({ user_id: renewed.user_id, device_id: renewed.device_id });
    expect(await mxJson(['whoami'], { configDir })).toMatchObject({ user_id: renewed.user_id });
    // The other user's device from that sign-in is gone: signed in for real, they have only this one.
    const otherDir = tempConfigDir();
    expectExit((await ssoLogin(otherDir, other)).result, 0);
    expect(await mxJson<unknown[]>(['device', 'list'], { configDir: otherDir })).toHaveLength(1);
  });

  it('a password login names single sign-on when the server has no passwords', async () => {
    const r = await runMx(['login', uniqueUser('pw'), '--password-stdin', '--homeserver', synapse.url], { configDir: tempConfigDir(), input: randomPassword() });
    expectExit(r, 3, /does not offer password login .*mx login --sso/);
  });

  it('refuses a browser that comes back with another state, and logs nothing in', async () => {
    const configDir = tempConfigDir();
    const { mx, url } = await startSsoLogin(configDir);
    const redirect = new URL(new URL(url).searchParams.get('redirectUrl')!);
    redirect.searchParams.set('state', 'forged');
    redirect.searchParams.set('loginToken', 'syl_forged');
    const page = await fetch(redirect);
    expect(page.status).toBe(400);
    expectExit(await mx.done, 3, /state that is not the one mx sent/);
    expectExit(await runMx(['whoami'], { configDir }), 3);
  });

  it('gives up after --sso-timeout without a sign-in', async () => {
    const { mx } = await startSsoLogin(tempConfigDir(), ['--sso-timeout', '1']);
    expectExit(await mx.done, 3, /no sign-in came back within 1 s/);
  });

  it('stops on Ctrl-C while it waits, and the port closes', async () => {
    const { mx, url } = await startSsoLogin(tempConfigDir());
    mx.child.kill('SIGINT');
    expectExit(await mx.done, 130);
    await expect(fetch(new URL(url).searchParams.get('redirectUrl')!)).rejects.toThrow();
  });

  it('names the identity providers when --idp names none of them', async () => {
    const r = await runMx(['login', '--sso', '--idp', 'nope', '--homeserver', synapse.url], { configDir: tempConfigDir() });
    expectExit(r, 2, /no identity provider \\"nope\\" on .*; it has: oidc-test \(Test sign-in\)/);
  });
});

describe('mx login --sso: bad input', () => {
  it.each([
    [['login', '--idp', 'oidc-test', '--homeserver', 'http://127.0.0.1:9'], /--idp is for --sso/],
    [['login', '--sso', '--sso-timeout', '0', '--homeserver', 'http://127.0.0.1:9'], /--sso-timeout must be a number of seconds above 0/],
    [['login', 'alice', '--sso', '--homeserver', 'http://127.0.0.1:9'], /leave out the user name/],
  ])('%j', async (args, message) => {
    expectExit(await runMx(args, { configDir: tempConfigDir() }), 2, message);
  });
});
