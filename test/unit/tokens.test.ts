// Keeping a stored login alive: refresh before a request once the token has expired, and once
// more when the server says so (soft logout); another process's refresh taken over, not spent
// again; a hard logout says how to log in again and changes nothing. A MockAgent plays the server.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, JSON_HEADERS, tempDirMaker } from './fake-io.js';

const HS = 'https://hs.test';
const ME = '@me:hs.test';
const NOW = 1_700_000_000_000;
const dirs = tempDirMaker('mx-tokens-');

interface StoredProfile {
  homeserver: string;
  userId: string;
  deviceId: string;
  accessToken?: string;
  refreshToken?: string;
  accessTokenExpiresAt?: number;
}

function setup(profile: Partial<StoredProfile>) {
  const dir = dirs();
  const stored: StoredProfile = { homeserver: HS, userId: ME, deviceId: 'DEV', accessToken: 'old-access', refreshToken: 'refresh-1', ...profile };
  writeFileSync(path.join(dir, 'profiles.json'), JSON.stringify({ version: 1, defaultProfile: 'default', profiles: { default: stored } }), { mode: 0o600 });
  const io = fakeIo({ env: { MX_CONFIG_DIR: dir }, now: () => NOW });
  const pool = (io.dispatcher as import('undici').MockAgent).get(HS);
  return {
    io,
    pool,
    run: (argv: string[]) => main(argv, io),
    stored: () => JSON.parse(readFileSync(path.join(dir, 'profiles.json'), 'utf8')).profiles.default as StoredProfile,
    rewrite: (change: Partial<StoredProfile>) => {
      const data = JSON.parse(readFileSync(path.join(dir, 'profiles.json'), 'utf8'));
      Object.assign(data.profiles.default, change);
      writeFileSync(path.join(dir, 'profiles.json'), JSON.stringify(data), { mode: 0o600 });
    },
  };
}

const WHOAMI = '/_matrix/client/v3/account/whoami';
const REFRESH = '/_matrix/client/v3/refresh';
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('refresh tokens', () => {
  it('an expired token is refreshed before the request, and the new tokens are saved', async () => {
    const t = setup({ accessTokenExpiresAt: NOW - 1 });
    t.pool.intercept({ path: REFRESH, method: 'POST', body: JSON.stringify({ refresh_token: 'refresh-1' }) })
      .reply(200, { access_token: 'new-access', refresh_token: 'refresh-2', expires_in_ms: 300_000 }, JSON_HEADERS);
    t.pool.intercept({ path: WHOAMI, headers: bearer('new-access') }).reply(200, { user_id: ME, device_id: 'DEV' }, JSON_HEADERS);
    expect(await t.run(['whoami'])).toBe(0);
    expect(t.stored()).toMatchObject({ accessToken: 'new-access', refreshToken: 'refresh-2', accessTokenExpiresAt: NOW + 300_000 });
    expect(t.io.requests()).toEqual([`POST ${REFRESH}`, `GET ${WHOAMI}`]);
  });

  it('a soft logout refreshes and retries once, a send with the same transaction ID', async () => {
    const t = setup({});
    const send = /^\/_matrix\/client\/v3\/rooms\/!r%3Ahs\.test\/send\/m\.room\.message\/nightly$/;
    t.pool.intercept({ path: '/_matrix/client/v3/rooms/!r%3Ahs.test/state/m.room.encryption/', method: 'GET' }).reply(404, { errcode: 'M_NOT_FOUND' }, JSON_HEADERS);
    t.pool.intercept({ path: send, method: 'PUT', headers: bearer('old-access') }).reply(401, { errcode: 'M_UNKNOWN_TOKEN', error: 'expired', soft_logout: true }, JSON_HEADERS);
    t.pool.intercept({ path: REFRESH, method: 'POST' }).reply(200, { access_token: 'new-access', refresh_token: 'refresh-2', expires_in_ms: 300_000 }, JSON_HEADERS);
    t.pool.intercept({ path: send, method: 'PUT', headers: bearer('new-access') }).reply(200, { event_id: '$sent' }, JSON_HEADERS);
    expect(await t.run(['send', '!r:hs.test', 'hello', '--txn-id', 'nightly'])).toBe(0);
    expect(JSON.parse(t.io.out())).toMatchObject({ event_id: '$sent', txn_id: 'nightly' });
    expect(t.stored().accessToken).toBe('new-access');
  });

  it('takes the token another process refreshed meanwhile instead of spending the refresh token again', async () => {
    const t = setup({});
    t.pool.intercept({ path: WHOAMI, headers: bearer('old-access') }).reply(() => {
      // Another mx refreshed while this request was on its way.
      t.rewrite({ accessToken: 'theirs', refreshToken: 'refresh-2', accessTokenExpiresAt: NOW + 300_000 });
      return { statusCode: 401, data: { errcode: 'M_UNKNOWN_TOKEN', error: 'expired', soft_logout: true }, responseOptions: JSON_HEADERS };
    });
    t.pool.intercept({ path: WHOAMI, headers: bearer('theirs') }).reply(200, { user_id: ME, device_id: 'DEV' }, JSON_HEADERS);
    expect(await t.run(['whoami'])).toBe(0);
    expect(t.io.requests()).toEqual([`GET ${WHOAMI}`, `GET ${WHOAMI}`]);
    expect(t.stored()).toMatchObject({ accessToken: 'theirs', refreshToken: 'refresh-2' });
  });

  it('a refused refresh token, and a hard logout, exit 3 naming mx login -p; the profile keeps its user and device', async () => {
    const t = setup({});
    t.pool.intercept({ path: WHOAMI }).reply(401, { errcode: 'M_UNKNOWN_TOKEN', error: 'expired', soft_logout: true }, JSON_HEADERS);
    t.pool.intercept({ path: REFRESH, method: 'POST' }).reply(401, { errcode: 'M_UNKNOWN_TOKEN', error: 'refresh token unknown', soft_logout: false }, JSON_HEADERS);
    expect(await t.run(['whoami'])).toBe(3);
    expect(t.io.err()).toMatch(/the login of profile \\"default\\" is gone: the server refused its refresh token .*run mx login -p default/);
    expect(t.stored()).toMatchObject({ homeserver: HS, userId: ME, deviceId: 'DEV', accessToken: 'old-access' });

    const hard = setup({ refreshToken: undefined });
    hard.pool.intercept({ path: WHOAMI }).reply(401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Invalid token', soft_logout: false }, JSON_HEADERS);
    expect(await hard.run(['whoami'])).toBe(3);
    expect(hard.io.err()).toMatch(/the login is gone: run mx login -p default/);
    expect(hard.stored()).toMatchObject({ userId: ME, deviceId: 'DEV' });
  });

  // Synapse answers a refresh token already used (by another copy of the profile: a CI job's
  // restored store, a copied folder) or expired with 403 M_FORBIDDEN.
  it.each([
    ['whoami', ['whoami']],
    ['tail', ['tail', '--until-idle']],
  ])('a refresh token spent elsewhere (403 M_FORBIDDEN) is a lost login: %s exits 3 naming mx login -p; the profile keeps its homeserver and user', async (_name, argv) => {
    const t = setup({ accessTokenExpiresAt: NOW - 1 });
    t.pool.intercept({ path: REFRESH, method: 'POST' }).reply(403, { errcode: 'M_FORBIDDEN', error: "refresh token isn't valid anymore" }, JSON_HEADERS);
    expect(await t.run(argv)).toBe(3);
    const lines = t.io.err().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!).error).toEqual({
      message: expect.stringMatching(/^the login of profile "default" is gone: the server refused its refresh token \(refresh the access token: refresh token isn't valid anymore \(M_FORBIDDEN\); another copy of this profile may have used it, or the device was logged out\): run mx login -p default$/),
      exit_code: 3,
      errcode: 'M_FORBIDDEN',
      status: 403,
    });
    expect(t.io.requests()).toEqual([`POST ${REFRESH}`]);
    expect(t.stored()).toMatchObject({ homeserver: HS, userId: ME, deviceId: 'DEV' });
  });

  it('logout of a login whose refresh token is spent forgets it here', async () => {
    const t = setup({ accessTokenExpiresAt: NOW - 1 });
    t.pool.intercept({ path: REFRESH, method: 'POST' }).reply(403, { errcode: 'M_FORBIDDEN', error: "refresh token isn't valid anymore" }, JSON_HEADERS);
    expect(await t.run(['logout'])).toBe(0);
    expect(t.io.err()).toMatch(/the server no longer knew this token/);
    expect(t.stored()).toEqual({ homeserver: HS, userId: ME });
  });

  it('a token from MX_ACCESS_TOKEN is never refreshed, and says so when it expires', async () => {
    const io = fakeIo({ env: { MX_HOMESERVER: HS, MX_ACCESS_TOKEN: 'ci-token' } });
    (io.dispatcher as import('undici').MockAgent).get(HS).intercept({ path: WHOAMI }).reply(401, { errcode: 'M_UNKNOWN_TOKEN', error: 'expired', soft_logout: true }, JSON_HEADERS);
    expect(await main(['whoami'], io)).toBe(3);
    expect(io.err()).toMatch(/MX_ACCESS_TOKEN cannot be refreshed/);
    expect(io.requests()).toEqual([`GET ${WHOAMI}`]);
  });

  it('login asks for a refresh token and saves it with the expiry; --no-refresh asks for a token that does not expire', async () => {
    const dir = dirs();
    for (const [args, asked] of [[[], true], [['--no-refresh'], false]] as const) {
      const io = fakeIo({ env: { MX_CONFIG_DIR: dir, MX_PASSWORD: 'pw' }, now: () => NOW });
      const pool = (io.dispatcher as import('undici').MockAgent).get(HS);
      pool.intercept({ path: '/_matrix/client/v3/login', method: 'GET' }).reply(200, { flows: [{ type: 'm.login.password' }] }, JSON_HEADERS);
      let body: Record<string, unknown> = {};
      pool.intercept({ path: '/_matrix/client/v3/login', method: 'POST' }).reply((req) => {
        body = JSON.parse(String(req.body));
        return { statusCode: 200, data: { user_id: ME, device_id: asked ? 'DEV1' : 'DEV2', access_token: 'tok', ...(asked ? { refresh_token: 'r1', expires_in_ms: 60_000 } : {}) }, responseOptions: JSON_HEADERS };
      });
      // The new device would set up its encryption next (its first request: the catch-up sync);
      // a server that cannot just gets a warning.
      pool.intercept({ path: (p) => p.startsWith('/_matrix/client/v3/sync?'), method: 'GET' }).reply(503, { errcode: 'M_UNKNOWN' }, JSON_HEADERS).times(4);
      expect(await main(['login', ME, '--homeserver', HS, '-p', asked ? 'a' : 'b', ...args], io)).toBe(0);
      expect(body.refresh_token).toBe(asked ? true : undefined);
      const stored = JSON.parse(readFileSync(path.join(dir, 'profiles.json'), 'utf8')).profiles[asked ? 'a' : 'b'];
      expect(stored.refreshToken).toBe(asked ? 'r1' : undefined);
      expect(stored.accessTokenExpiresAt).toBe(asked ? NOW + 60_000 : undefined);
    }
  });
});
