// Whose devices get room keys (--share-keys-with, MX_SHARE_KEYS_WITH, config share_keys_with),
// and mx's record of the devices a room's session was withheld from. The engine's side runs
// against Synapse in test/e2e/key-sharing.test.ts.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { withheldLine } from '../../src/commands/send/session-sender.js';
import type { WithheldFrom } from '../../src/crypto/key-sharing.js';
import { recordedWithheld, recordShare, shareOutcome, type ShareOutcome } from '../../src/crypto/withheld.js';
import { UsageError } from '../../src/errors.js';
import { main } from '../../src/main.js';
import { loadConfig } from '../../src/profiles/config.js';
import { shareKeysWith } from '../../src/share-keys-with.js';
import { fakeIo, JSON_HEADERS, tempDirMaker, type TestMockAgent } from './fake-io.js';

const tempDir = tempDirMaker('mx-key-sharing-');
const HS = 'https://hs.test';
const ROOM = '!room:hs.test';

describe('the setting', () => {
  it('comes from the flag, else MX_SHARE_KEYS_WITH, else the config, else cross-signed', () => {
    expect(shareKeysWith(undefined, {}, {})).toBe('cross-signed');
    expect(shareKeysWith(undefined, {}, { share_keys_with: 'all' })).toBe('all');
    expect(shareKeysWith(undefined, { MX_SHARE_KEYS_WITH: 'cross-signed' }, { share_keys_with: 'all' })).toBe('cross-signed');
    expect(shareKeysWith(undefined, { MX_SHARE_KEYS_WITH: '' }, { share_keys_with: 'all' })).toBe('all');
    expect(shareKeysWith('all', { MX_SHARE_KEYS_WITH: 'cross-signed' }, {})).toBe('all');
  });

  it('refuses another value of MX_SHARE_KEYS_WITH as a usage error naming the values', () => {
    expect(() => shareKeysWith(undefined, { MX_SHARE_KEYS_WITH: 'verified' }, {})).toThrow(new UsageError('MX_SHARE_KEYS_WITH must be cross-signed or all, not "verified"'));
  });

  it('reads share_keys_with from the config file, and refuses another value (exit code 8)', async () => {
    const configDir = tempDir();
    writeFileSync(path.join(configDir, 'config.yaml'), 'share_keys_with: all\n');
    expect((await loadConfig({ configDir, cwd: configDir })).config).toEqual({ share_keys_with: 'all' });
    writeFileSync(path.join(configDir, 'config.yaml'), 'share_keys_with: everyone\n');
    await expect(loadConfig({ configDir, cwd: configDir })).rejects.toMatchObject({
      exitCode: 8,
      message: expect.stringContaining('"share_keys_with" must be cross-signed or all, not "everyone"'),
    });
  });

  describe('a bad value stops the command before any request', () => {
    async function run(argv: string[], env: Record<string, string> = {}) {
      const io = fakeIo({ env: { MX_CONFIG_DIR: tempDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: HS, ...env } });
      const code = await main([...argv, '-o', 'text'], io);
      return { code, err: io.err(), requests: io.requests() };
    }

    it.each([
      ['send, flag', ['send', ROOM, 'hi', '--share-keys-with', 'verified'], {}, /Invalid values:.*share-keys-with.*"verified".*"cross-signed", "all"/],
      ['react, flag', ['react', ROOM, '$e', '👍', '--share-keys-with', 'everyone'], {}, /Invalid values:.*share-keys-with.*"everyone"/],
      ['send, environment', ['send', ROOM, 'hi'], { MX_SHARE_KEYS_WITH: 'verified' }, /^mx: MX_SHARE_KEYS_WITH must be cross-signed or all, not "verified"\n$/],
      ['send --lines, environment', ['send', ROOM, '--lines'], { MX_SHARE_KEYS_WITH: 'x' }, /MX_SHARE_KEYS_WITH must be/],
      ['react, environment', ['react', ROOM, '$e', '👍'], { MX_SHARE_KEYS_WITH: 'x' }, /MX_SHARE_KEYS_WITH must be/],
    ])('%s', async (_name, argv, env, message) => {
      const { code, err, requests } = await run(argv, env);
      expect({ code, requests }).toEqual({ code: 2, requests: [] });
      expect(err).toMatch(message);
    });

    it('a config file with another value is exit code 8, and no request', async () => {
      const configDir = tempDir();
      writeFileSync(path.join(configDir, 'config.json'), '{"share_keys_with":"verified"}');
      const io = fakeIo({ env: { MX_CONFIG_DIR: configDir } });
      expect(await main(['send', ROOM, 'hi'], io)).toBe(8);
      expect(io.requests()).toEqual([]);
    });

    it('a good value is taken (a plain room: no key to share)', async () => {
      const io = fakeIo({ env: { MX_CONFIG_DIR: tempDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: HS, MX_SHARE_KEYS_WITH: 'all' } });
      const hs = (io.dispatcher as TestMockAgent).get(HS);
      hs.intercept({ path: (p) => p.endsWith('/state/m.room.encryption/'), method: 'GET' }).reply(404, { errcode: 'M_NOT_FOUND' }, JSON_HEADERS);
      hs.intercept({ path: (p) => p.includes('/send/m.room.message/'), method: 'PUT' }).reply(200, { event_id: '$e' }, JSON_HEADERS);
      expect(await main(['send', ROOM, 'hi', '--share-keys-with', 'cross-signed'], io)).toBe(0);
      expect(JSON.parse(io.out())).toMatchObject({ event_id: '$e' });
    });
  });
});

/** A to-device request of a share, as the engine makes it. */
function toDevice(type: string, messages: Record<string, Record<string, object>>) {
  return { event_type: type, body: JSON.stringify({ messages }) };
}

const bob1 = { user_id: '@bob:x', device_id: 'BOB1' };
const bob2 = { user_id: '@bob:x', device_id: 'BOB2' };
const carol = { user_id: '@carol:x', device_id: 'C1' };

describe('what a share did', () => {
  it('reads the room keys and the withheld codes of the to-device requests', () => {
    const outcome = shareOutcome([
      toDevice('m.room.encrypted', { '@bob:x': { BOB1: { ciphertext: {} } } }),
      toDevice('m.room_key.withheld', { '@bob:x': { BOB2: { code: 'm.unverified' } }, '@carol:x': { C1: { code: 'm.no_olm' } } }),
    ]);
    expect(outcome).toEqual({ keyed: [bob1], withheld: [{ ...bob2, code: 'm.unverified' }, { ...carol, code: 'm.no_olm' }] });
  });
});

describe('the record of withheld devices', () => {
  const none: ShareOutcome = { keyed: [], withheld: [] };
  const debugLines = () => {
    const lines: string[] = [];
    return { lines, debug: (line: string) => void lines.push(line) };
  };

  it('keeps the session\'s withheld devices for its next messages, drops one that got the key, and starts again with a new session', async () => {
    const folder = tempDir();
    const first = await recordShare(folder, ROOM, 'S1', { keyed: [carol], withheld: [{ ...bob1, code: 'm.unverified' }, { ...bob2, code: 'm.unverified' }] }, undefined);
    expect(first).toEqual([{ ...bob1, code: 'm.unverified' }, { ...bob2, code: 'm.unverified' }]);
    // The next message of the session: no to-device request at all.
    expect(await recordShare(folder, ROOM, 'S1', none, undefined)).toEqual(first);
    // BOB2 was cross-signed meanwhile and got the key.
    expect(await recordShare(folder, ROOM, 'S1', { keyed: [bob2], withheld: [] }, undefined)).toEqual([{ ...bob1, code: 'm.unverified' }]);
    expect(recordedWithheld(folder, ROOM, 'S1', undefined)).toEqual([{ ...bob1, code: 'm.unverified' }]);
    // Another room knows nothing of it; a new session of this room starts from its own share.
    expect(await recordShare(folder, '!other:x', 'T1', none, undefined)).toEqual([]);
    expect(await recordShare(folder, ROOM, 'S2', none, undefined)).toEqual([]);
    expect(recordedWithheld(folder, ROOM, 'S1', undefined)).toEqual([]);
    // Nothing withheld: no file kept.
    expect(readdirSync(path.join(folder, 'withheld'))).toEqual([]);
  });

  it('keeps a device told m.no_olm (once, by the engine) in every room and session until it gets a key', async () => {
    const folder = tempDir();
    const noOlm = { ...carol, code: 'm.no_olm' };
    expect(await recordShare(folder, ROOM, 'S1', { keyed: [bob1], withheld: [noOlm] }, undefined)).toEqual([noOlm]);
    expect(await recordShare(folder, '!other:x', 'T1', { keyed: [bob1], withheld: [] }, undefined)).toEqual([noOlm]);
    expect(await recordShare(folder, ROOM, 'S2', none, undefined)).toEqual([noOlm]);
    // Withheld for another reason in a room: that reason there, m.no_olm still elsewhere.
    expect(await recordShare(folder, ROOM, 'S2', { keyed: [], withheld: [{ ...carol, code: 'm.unverified' }] }, undefined)).toEqual([{ ...carol, code: 'm.unverified' }]);
    expect(await recordShare(folder, '!other:x', 'T1', none, undefined)).toEqual([noOlm]);
    // It uploaded one-time keys, and the next share gave it the key.
    expect(await recordShare(folder, '!other:x', 'T1', { keyed: [carol], withheld: [] }, undefined)).toEqual([]);
    expect(await recordShare(folder, '!third:x', 'U1', none, undefined)).toEqual([]);
  });

  it('takes a damaged file for unknown (a debug line), and replaces it at the next change', async () => {
    const folder = tempDir();
    await recordShare(folder, ROOM, 'S1', { keyed: [], withheld: [{ ...bob1, code: 'm.unverified' }, { ...carol, code: 'm.no_olm' }] }, undefined);
    const dir = path.join(folder, 'withheld');
    for (const name of readdirSync(dir)) writeFileSync(path.join(dir, name), name === 'no-olm' ? '{"not":"a list"}' : '{"room_id": "!room:hs.te');
    const { lines, debug } = debugLines();
    expect(await recordShare(folder, ROOM, 'S1', none, debug)).toEqual([]);
    expect(lines).toEqual([expect.stringMatching(/withheld\/[0-9a-f]{40} is damaged/), expect.stringMatching(/withheld\/no-olm is not a list of devices; ignored/)]);
    expect(await recordShare(folder, ROOM, 'S1', { keyed: [], withheld: [{ ...bob2, code: 'm.unverified' }] }, undefined)).toEqual([{ ...bob2, code: 'm.unverified' }]);
  });

  it('lists a bounded number of devices per file, the latest ones', async () => {
    const folder = tempDir();
    const many = Array.from({ length: 2500 }, (_, i) => ({ user_id: `@u${i}:x`, device_id: 'D', code: 'm.unverified' }));
    const listed = await recordShare(folder, ROOM, 'S1', { keyed: [], withheld: many }, undefined);
    expect(listed).toHaveLength(2000);
    expect(listed.at(-1)).toEqual(many.at(-1));
    const [file] = readdirSync(path.join(folder, 'withheld'));
    expect(readFileSync(path.join(folder, 'withheld', file!)).length).toBeLessThan(200_000);
  });
});

describe('the line on stderr', () => {
  const entry = (d: { user_id: string; device_id: string }, code: string, reason: string): WithheldFrom => ({ ...d, code, reason });

  it('counts the devices and users, and says why for each', () => {
    const line = withheldLine([
      entry(bob1, 'm.unverified', 'not cross-signed by its owner'),
      entry(bob2, 'm.unverified', 'not cross-signed by its owner'),
      entry(carol, 'm.no_olm', 'no encrypted channel to it: it has no one-time keys on the server'),
    ], 'cross-signed');
    expect(line).toBe(
      'the room key was not shared with 3 devices of 2 users: @bob:x (BOB1, BOB2: not cross-signed by its owner), ' +
        '@carol:x (C1: no encrypted channel to it: it has no one-time keys on the server); they cannot read this message ' +
        '(--share-keys-with all shares with devices that are not cross-signed too)',
    );
    expect(withheldLine([entry(carol, 'm.no_olm', 'no channel')], 'all')).toBe('the room key was not shared with 1 device of 1 user: @carol:x (C1: no channel); they cannot read this message');
  });

  it('names a few users, not hundreds', () => {
    const line = withheldLine(Array.from({ length: 300 }, (_, i) => entry({ user_id: `@u${i}:x`, device_id: 'D' }, 'm.unverified', 'r')), 'all');
    expect(line).toMatch(/^the room key was not shared with 300 devices of 300 users: @u0:x \(D: r\), .*@u4:x \(D: r\), and 295 more; they cannot read this message$/);
  });
});
