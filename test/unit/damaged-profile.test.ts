// A profile with a bad value (edited by hand, copied, written by another program): every command
// that would act as it exits 8 naming the profile and the field (never a secret value), sends
// nothing and changes nothing; the store's other profiles stay usable.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, JSON_HEADERS, mockAgent, tempDirMaker } from './fake-io.js';

const HS = 'https://hs.test';
const GOOD = { homeserver: HS, userId: '@me:hs.test', deviceId: 'DEV', accessToken: 'syt_good', cryptoKey: Buffer.alloc(32, 7).toString('base64') };
const tempDir = tempDirMaker('mx-damaged-');

/** A config dir whose store holds `bad` (the default profile) and a good profile. */
function storeWith(bad: unknown): { configDir: string; storeFile: string; text: string } {
  const configDir = tempDir();
  const storeFile = path.join(configDir, 'profiles.json');
  const text = JSON.stringify({ version: 1, defaultProfile: 'bad', profiles: { bad, good: GOOD } }, null, 2);
  writeFileSync(storeFile, text, { mode: 0o600 });
  return { configDir, storeFile, text };
}

const bad: [string, Record<string, unknown>, RegExp][] = [
  ['an empty homeserver', { ...GOOD, homeserver: '' }, /"homeserver" is empty/],
  ['a homeserver with a line break', { ...GOOD, homeserver: 'https://hs.test\r\n' }, /"homeserver" is not a homeserver URL/],
  ['a file: homeserver', { ...GOOD, homeserver: 'file:///etc/passwd' }, /"homeserver" is not an http:\/\/ or https:\/\/ URL/],
  ['a javascript: homeserver', { ...GOOD, homeserver: 'javascript:alert(1)' }, /"homeserver" is not an http:\/\/ or https:\/\/ URL/],
  ['an ftp: homeserver', { ...GOOD, homeserver: 'ftp://hs.test' }, /"homeserver" is not an http:\/\/ or https:\/\/ URL/],
  ['a homeserver with a password in it', { ...GOOD, homeserver: 'https://me:SECRET@hs.test' }, /"homeserver" is not a homeserver URL/],
  ['a user ID without @', { ...GOOD, userId: 'me:hs.test' }, /"userId" is not a user ID/],
  ['a user ID without server name', { ...GOOD, userId: '@me' }, /"userId" is not a user ID/],
  ['an empty device ID', { ...GOOD, deviceId: '' }, /"deviceId" is empty/],
  ['a token with a line break', { ...GOOD, accessToken: 'syt_SECRET\r\nX-Injected: yes' }, /"accessToken" is empty or holds spaces or control characters/],
  ['an empty token', { ...GOOD, accessToken: '' }, /"accessToken" is empty/],
  ['a refresh token that is a number', { ...GOOD, refreshToken: 12345 }, /"refreshToken" is not a string/],
  ['a crypto key of the wrong length', { ...GOOD, cryptoKey: Buffer.from('SECRET-SECRET').toString('base64') }, /"cryptoKey" is not the base64 of 32 bytes/],
  ['positions that are not strings', { ...GOOD, positions: { tail: { since: 5 } } }, /"positions" is not an object of strings/],
];

const commands = [['whoami'], ['tail', '--until-idle'], ['send', '!room:hs.test', 'hi']];

describe('a damaged profile', () => {
  for (const argv of commands) {
    it.each(bad)(`(%s): mx ${argv.join(' ')} exits 8 naming the profile and the field, sends nothing, changes nothing`, async (_what, profile, message) => {
      const { configDir, storeFile, text } = storeWith(profile);
      const io = fakeIo({ env: { MX_CONFIG_DIR: configDir } });
      const code = await main(argv, io);
      expect(code, io.err()).toBe(8);
      const lines = io.err().trim().split('\n');
      expect(lines, io.err()).toHaveLength(1);
      const error = JSON.parse(lines[0]!).error;
      expect(error.message).toMatch(/^The profile "bad" in .*profiles\.json is damaged: /);
      expect(error.message).toMatch(message);
      expect(error.message).toMatch(/fix it by hand, or remove it with mx profile rm bad\.$/);
      expect(io.err()).not.toMatch(/SECRET|internal error/);
      expect(io.requests()).toEqual([]);
      expect(readFileSync(storeFile, 'utf8')).toBe(text);
    });
  }

  it('does not lock the user out of the other profiles: they list (the damaged one is warned about) and work', async () => {
    const { configDir } = storeWith({ ...GOOD, homeserver: 'file:///etc/passwd' });
    const list = fakeIo({ env: { MX_CONFIG_DIR: configDir } });
    expect(await main(['profile', 'list'], list), list.err()).toBe(0);
    expect(JSON.parse(list.out()).map((p: { name: string }) => p.name)).toEqual(['good']);
    expect(list.err().trim().split('\n')).toEqual([expect.stringMatching(/"warning".*The profile \\"bad\\" .* is damaged: \\"homeserver\\" is not an http/)]);

    const agent = mockAgent();
    agent.get(HS).intercept({ path: '/_matrix/client/v3/account/whoami', method: 'GET' }).reply(200, { user_id: GOOD.userId, device_id: 'DEV' }, JSON_HEADERS);
    const whoami = fakeIo({ env: { MX_CONFIG_DIR: configDir }, dispatcher: agent });
    expect(await main(['whoami', '-p', 'good'], whoami), whoami.err()).toBe(0);
    expect(JSON.parse(whoami.out())).toMatchObject({ user_id: GOOD.userId, profile: 'good' });
  });

  it('is refused by profile show, profile use and login (exit 8, no request), and removed by profile rm', async () => {
    const { configDir, storeFile, text } = storeWith({ ...GOOD, userId: 'me' });
    for (const argv of [['profile', 'show'], ['profile', 'show', 'bad'], ['profile', 'use', 'bad'], ['login', 'me', '--password-stdin', '-p', 'bad']]) {
      const io = fakeIo({ env: { MX_CONFIG_DIR: configDir }, input: 'pw' });
      expect(await main(argv, io), argv.join(' ')).toBe(8);
      expect(io.err(), argv.join(' ')).toMatch(/The profile \\"bad\\" .* is damaged: \\"userId\\" is not a user ID/);
      expect(io.requests()).toEqual([]);
      expect(readFileSync(storeFile, 'utf8')).toBe(text);
    }
    const rm = fakeIo({ env: { MX_CONFIG_DIR: configDir } });
    expect(await main(['profile', 'rm', 'bad'], rm), rm.err()).toBe(0);
    const after = JSON.parse(readFileSync(storeFile, 'utf8'));
    expect(after.profiles).toEqual({ good: GOOD });
    expect(after.defaultProfile).toBeUndefined();
  });
});
