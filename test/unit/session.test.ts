// Who a command acts as, for each way of saying it: a stored profile (the default, -p,
// MX_PROFILE, the config's `profile`), MX_ACCESS_TOKEN with and without MX_HOMESERVER, with and
// without a stored profile of another user. What each command then acts as: the user and
// profile whoami reports, whose invites tail shows, whose positions move, whose keys encrypt.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MockAgent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, JSON_HEADERS } from './fake-io.js';

const tempDirs: string[] = [];
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const HS = 'https://hs.test';
const OTHER_HS = 'https://other.test';
/** Each token is one user's, as the server knows it. */
const USERS: Record<string, { user_id: string; device_id: string }> = {
  'tok-me': { user_id: '@me:hs.test', device_id: 'MEDEV' },
  'tok-work': { user_id: '@work:hs.test', device_id: 'WORKDEV' },
  'tok-other': { user_id: '@other:hs.test', device_id: 'OTHERDEV' },
};

/** A config dir holding a store with the profiles `default` (@me) and `work` (@work), and `config`. */
function configDir(config?: Record<string, unknown>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mx-session-'));
  tempDirs.push(dir);
  const profile = (token: string) => ({ homeserver: HS, userId: USERS[token]!.user_id, deviceId: USERS[token]!.device_id, accessToken: token });
  const store = { version: 1, defaultProfile: 'default', profiles: { default: profile('tok-me'), work: profile('tok-work') } };
  writeFileSync(path.join(dir, 'profiles.json'), JSON.stringify(store), { mode: 0o600 });
  if (config) writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config), { mode: 0o600 });
  return dir;
}

function positions(dir: string): Record<string, Record<string, string> | undefined> {
  const store = JSON.parse(readFileSync(path.join(dir, 'profiles.json'), 'utf8')) as { profiles: Record<string, { positions?: Record<string, string> }> };
  return Object.fromEntries(Object.entries(store.profiles).map(([name, p]) => [name, p.positions]));
}

/**
 * A server (on `origin`) that knows the tokens above: whoami, and (with `sync`) a sync that
 * answers an invite addressed to the token's user.
 */
function serve(io: ReturnType<typeof fakeIo>, origin: string, parts: { whoami: boolean; sync: boolean }): void {
  const pool = (io.dispatcher as MockAgent).get(origin);
  const tokenOf = (headers: unknown) => String((headers as Record<string, string>).authorization ?? '').replace(/^Bearer /, '');
  if (parts.whoami) {
    pool.intercept({ path: '/_matrix/client/v3/account/whoami', method: 'GET' })
      .reply((request) => ({ statusCode: 200, data: USERS[tokenOf(request.headers)]!, responseOptions: JSON_HEADERS }));
  }
  if (!parts.sync) return;
  pool.intercept({ path: (p) => p.startsWith('/_matrix/client/v3/sync'), method: 'GET' })
    .reply((request): { statusCode: number; data: object; responseOptions: typeof JSON_HEADERS } => {
      const user = USERS[tokenOf(request.headers)]!.user_id;
      // The invite comes after the position the tail starts from (s0); then nothing new (idle).
      if (new URL(request.path, origin).searchParams.get('since') !== 's0') return { statusCode: 200, data: { next_batch: 'later' }, responseOptions: JSON_HEADERS };
      const invite = { type: 'm.room.member', state_key: user, sender: '@inviter:hs.test', content: { membership: 'invite' } };
      return { statusCode: 200, data: { next_batch: 'next', rooms: { invite: { '!room:hs.test': { invite_state: { events: [invite] } } } } }, responseOptions: JSON_HEADERS };
    })
    .persist();
}

interface Case {
  name: string;
  env?: Record<string, string>;
  argv?: string[];
  config?: Record<string, unknown>;
  /** No store at all (a CI job with only the environment). */
  noStore?: boolean;
  origin?: string;
  /** What the command acts as. */
  user: string;
  profile: string | null;
}

const cases: Case[] = [
  { name: 'the default profile', user: '@me:hs.test', profile: 'default' },
  { name: '-p', argv: ['-p', 'work'], user: '@work:hs.test', profile: 'work' },
  { name: 'MX_PROFILE', env: { MX_PROFILE: 'work' }, user: '@work:hs.test', profile: 'work' },
  { name: "the config's profile", config: { profile: 'work' }, user: '@work:hs.test', profile: 'work' },
  { name: '-p over MX_PROFILE and the config', argv: ['-p', 'default'], env: { MX_PROFILE: 'work' }, config: { profile: 'work' }, user: '@me:hs.test', profile: 'default' },
  { name: 'MX_HOMESERVER + MX_ACCESS_TOKEN, no store', env: { MX_HOMESERVER: HS, MX_ACCESS_TOKEN: 'tok-other' }, noStore: true, user: '@other:hs.test', profile: null },
  { name: 'MX_HOMESERVER + MX_ACCESS_TOKEN of another user than the stored default', env: { MX_HOMESERVER: HS, MX_ACCESS_TOKEN: 'tok-other' }, user: '@other:hs.test', profile: null },
  { name: 'MX_ACCESS_TOKEN of another user, the homeserver from the stored default', env: { MX_ACCESS_TOKEN: 'tok-other' }, user: '@other:hs.test', profile: null },
  { name: 'MX_ACCESS_TOKEN of another user, the homeserver from the config', env: { MX_ACCESS_TOKEN: 'tok-other', MX_PROFILE: 'nosuch' }, config: { homeserver: OTHER_HS }, origin: OTHER_HS, user: '@other:hs.test', profile: null },
  { name: "MX_ACCESS_TOKEN that is the stored profile's own", env: { MX_ACCESS_TOKEN: 'tok-work' }, argv: ['-p', 'work'], user: '@work:hs.test', profile: 'work' },
];

describe('who a command acts as', () => {
  for (const c of cases) {
    it(`${c.name}: whoami, tail's invites and the saved positions are ${c.user}'s`, async () => {
      const dir = c.noStore ? mkdtempSync(path.join(tmpdir(), 'mx-session-')) : configDir(c.config);
      if (c.noStore) tempDirs.push(dir);
      // A profile's own login knows its user; a bare token's user is asked of the server.
      const run = async (argv: string[], parts: { whoami: boolean; sync: boolean }) => {
        const io = fakeIo({ env: { MX_CONFIG_DIR: dir, ...c.env } });
        serve(io, c.origin ?? HS, parts);
        const code = await main([...(c.argv ?? []), ...argv], io);
        expect(code, io.err()).toBe(0);
        return io.out();
      };
      const whoami = JSON.parse(await run(['whoami'], { whoami: true, sync: false })) as { user_id: string; profile: string | null };
      expect(whoami).toMatchObject({ user_id: c.user, profile: c.profile });

      const before = c.noStore ? undefined : positions(dir);
      const lines = (await run(['tail', '--until-idle', '--from', 's0'], { whoami: c.profile === null, sync: true })).trim().split('\n').map((l) => JSON.parse(l) as { state_key: string; sender?: string });
      // The invite addressed to the token's user, as the server sent it: never one made up for a stored profile's user.
      expect(lines).toEqual([expect.objectContaining({ state_key: c.user, sender: '@inviter:hs.test' })]);
      if (c.noStore) return;
      // Positions move only in the profile whose own login this is.
      const after = positions(dir);
      for (const name of ['default', 'work']) {
        if (name === c.profile) expect(after[name]).toMatchObject({ 'tail:default': expect.any(String) });
        else expect(after[name]).toEqual(before![name]);
      }
    });
  }

  it('a token that is no profile\'s login has no crypto store: an encrypted room is refused (exit 9), the stored profile\'s keys unused', async () => {
    const dir = configDir();
    const io = fakeIo({ env: { MX_CONFIG_DIR: dir, MX_ACCESS_TOKEN: 'tok-other' } });
    const pool = (io.dispatcher as MockAgent).get(HS);
    pool.intercept({ path: (p) => p.includes('/state/m.room.encryption'), method: 'GET' }).reply(200, { algorithm: 'm.megolm.v1.aes-sha2' }, JSON_HEADERS);
    pool.intercept({ path: (p) => p.includes('/members'), method: 'GET' }).reply(200, { chunk: [] }, JSON_HEADERS);
    pool.intercept({ path: (p) => p.includes('/state/m.room.history_visibility'), method: 'GET' }).reply(404, { errcode: 'M_NOT_FOUND' }, JSON_HEADERS);
    expect(await main(['send', '!room:hs.test', 'hello'], io)).toBe(9);
    expect(io.err()).toMatch(/MX_ACCESS_TOKEN has no encryption keys/);
    expect(io.requests().some((r) => r.includes('/send/'))).toBe(false);
  });
});
