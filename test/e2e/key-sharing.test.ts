// Whose devices get the room key of what mx sends (--share-keys-with), and what mx says of the
// devices that got none, with the test peer (matrix-js-sdk with its Rust crypto) on the other
// side. These tests run mx with its own default (the other e2e tests share with every device).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, type Peer } from '../peer/index.js';
import { deviceWithoutOneTimeKeys, mxInPeerRoom } from './encryption-helpers.js';
import { describeResult, expectExit, homeserverUrl, mxJson, registerUser, roomHistory, runMx, tempConfigDir, waitUntil, type RegisteredUser } from './helpers.js';

interface Sent {
  event_id: string;
  encrypted?: boolean;
  withheld_from?: { user_id: string; device_id: string; code: string; reason: string }[];
}

/** mx with its default sharing, as `user`. */
const asUser = (user: RegisteredUser, env: Record<string, string> = {}) => ({ configDir: user.configDir, env: { MX_SHARE_KEYS_WITH: undefined, MX_PROFILE: user.profile, ...env } });

async function crossSign(user: RegisteredUser): Promise<void> {
  await mxJson(['crypto', 'setup', '--password-stdin'], { ...asUser(user), input: user.password });
}

/** The encrypted events `user` sent to the room, as the server has them. */
async function encryptedFrom(user: RegisteredUser, roomId: string): Promise<number> {
  return (await roomHistory(user.configDir, roomId, { profile: user.profile })).filter((e) => e.sender === user.userId && e.type === 'm.room.encrypted').length;
}

const escaped = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('sharing room keys with the devices their owners cross-signed (the default)', () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'no cross-signing' });
  });
  afterAll(() => peer?.stop());

  it('a device without cross-signing gets no key: said in the JSON and on stderr for every message of the session; with --share-keys-with all it gets it', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    await crossSign(user);
    const opts = asUser(user);
    const withheld = [{ user_id: peer.userId, device_id: peer.deviceId, code: 'm.unverified', reason: 'its owner has no cross-signing' }];
    const line = `the room key was not shared with 1 device of 1 user: ${peer.userId} (${peer.deviceId}: its owner has no cross-signing); they cannot read this message`;

    const first = await runMx(['send', roomId, 'not for the peer'], opts);
    expect(first.code, describeResult(first.args, first)).toBe(0);
    const sent = JSON.parse(first.stdout) as Sent;
    expect(sent.withheld_from).toEqual(withheld);
    expect(first.stderr).toContain(line);
    // The next messages of the session share nothing: what mx recorded of the first says it.
    const second = await runMx(['send', roomId, 'still not for the peer', '-o', 'text'], opts);
    expect(second.code, describeResult(second.args, second)).toBe(0);
    expect(second.stdout).toMatch(/^\$\S+\n$/);
    expect(second.stderr).toContain(line);
    const reaction = await mxJson<Sent>(['react', roomId, sent.event_id, '👍'], opts);
    expect(reaction.withheld_from).toEqual(withheld);

    const all = await mxJson<Sent>(['send', roomId, 'for every device', '--share-keys-with', 'all'], opts);
    expect(all.withheld_from).toEqual([]);
    const [got] = await peer.waitForDecryptedMessages(roomId, (m) => m.event_id === all.event_id, 20_000);
    expect(got!.content.body).toBe('for every device');
    // What came before stays unreadable there: the key it got starts after those messages.
    await waitUntil(() => peer.seenEvents(roomId).find((e) => e.event_id === sent.event_id)?.status === 'undecryptable', 'the peer to give up on the first message');
  });

  it('a device its owner cross-signed gets the key, and nothing is said', async () => {
    const signed = await startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'cross-signed' });
    try {
      await signed.bootstrapCrossSigning();
      const { user, roomId } = await mxInPeerRoom(signed);
      await crossSign(user);
      const r = await runMx(['send', roomId, 'for a cross-signed device'], asUser(user));
      expect(r.code, describeResult(r.args, r)).toBe(0);
      const sent = JSON.parse(r.stdout) as Sent;
      expect(sent.withheld_from).toEqual([]);
      expect(r.stderr).not.toMatch(/room key was not shared/);
      const [got] = await signed.waitForDecryptedMessages(roomId, (m) => m.event_id === sent.event_id, 20_000);
      expect(got!.content.body).toBe('for a cross-signed device');
    } finally {
      await signed.stop();
    }
  });

  it('a member whose identity changed stops the send (exit 9, nothing sent) until mx crypto trust accepts it', async () => {
    const other = await startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'resets its keys' });
    try {
      await other.bootstrapCrossSigning();
      const { user, roomId } = await mxInPeerRoom(other);
      await crossSign(user);
      const opts = asUser(user);
      expect((await mxJson<Sent>(['send', roomId, 'before the reset'], opts)).withheld_from).toEqual([]);

      await other.bootstrapCrossSigning(); // new cross-signing keys for the same user
      const refused = await runMx(['send', roomId, 'after the reset'], opts);
      expectExit(refused, 9, new RegExp(`identity \\(cross-signing keys\\) of ${escaped(other.userId)} changed.*mx crypto trust ${escaped(other.userId)}.*nothing was sent`));
      expect(JSON.parse(refused.stderr).error.users).toEqual([other.userId]);
      expect(await encryptedFrom(user, roomId)).toBe(1);

      await mxJson(['crypto', 'trust', other.userId], opts);
      const after = await mxJson<Sent>(['send', roomId, 'after mx crypto trust'], opts);
      expect(after.withheld_from).toEqual([]);
      const [got] = await other.waitForDecryptedMessages(roomId, (m) => m.event_id === after.event_id, 20_000);
      expect(got!.content.body).toBe('after mx crypto trust');
    } finally {
      await other.stop();
    }
  });
});

describe('sending from a device that is not cross-signed', () => {
  it('is refused by default (exit 9, nothing sent), saying how to cross-sign it; --share-keys-with all sends', async () => {
    const user = await registerUser();
    const opts = asUser(user);
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted'], opts);
    expectExit(await runMx(['send', roomId, 'hello'], opts), 9, /this account has no cross-signing.*mx crypto setup.*--share-keys-with all.*nothing was sent/);
    // A file is not uploaded for a send that would be refused.
    const file = path.join(user.configDir, 'note.txt');
    writeFileSync(file, 'a file nobody could read');
    const withFile = await runMx(['send', roomId, '--file', file, '--debug'], opts);
    expect(withFile.code, describeResult(withFile.args, withFile)).toBe(9); // (--debug adds the error's stack)
    expect(withFile.stderr).toMatch(/this account has no cross-signing/);
    expect(withFile.stderr).toMatch(/> GET .*\/state/);
    expect(withFile.stderr).not.toMatch(/media\/v3\/upload/);

    await crossSign(user);
    // A new device on another machine (here, mx would verify it with the recovery key it kept).
    const second = { ...user, configDir: tempConfigDir(), profile: 'second' };
    const login = await runMx(['login', user.userId, '--password-stdin', '--homeserver', homeserverUrl(), '-p', 'second'], { ...asUser(second), input: user.password });
    expect(login.code, describeResult(login.args, login)).toBe(0);
    expectExit(await runMx(['send', roomId, 'hello'], asUser(second)), 9, /this device is not cross-signed by its owner.*mx crypto recover.*nothing was sent/);
    expect(await encryptedFrom(user, roomId)).toBe(0);

    const sent = await mxJson<Sent>(['send', roomId, 'hello'], asUser(second, { MX_SHARE_KEYS_WITH: 'all' }));
    expect(sent).toMatchObject({ encrypted: true, withheld_from: [] });
  });
});

describe('a device no Olm channel can be made with', () => {
  // The engine (mx's, and the peer's in matrix-js-sdk) keeps a fallback key on the server: a
  // device whose one-time keys were all claimed still gets a channel through it. Only a device
  // that uploaded neither (a client without fallback keys) has none.
  it('is reported m.no_olm for every message and in every room, though the engine tells it once', async () => {
    const alice = await registerUser();
    const bob = await registerUser();
    const rooms: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted', '--invite', bob.userId], asUser(alice));
      expect((await runMx(['join', roomId], asUser(bob))).code).toBe(0);
      rooms.push(roomId);
    }
    const bare = await deviceWithoutOneTimeKeys(bob);
    const withheld = [{ user_id: bob.userId, device_id: bare.deviceId, code: 'm.no_olm', reason: 'no encrypted channel to it: it has no one-time keys on the server' }];
    // Bob's mx device is not cross-signed: shared with every device.
    const all = asUser(alice, { MX_SHARE_KEYS_WITH: 'all' });

    const first = await runMx(['send', rooms[0]!, 'one'], all);
    expect(first.code, describeResult(first.args, first)).toBe(0);
    expect((JSON.parse(first.stdout) as Sent).withheld_from).toEqual(withheld);
    expect(first.stderr).toContain(`${bob.userId} (${bare.deviceId}: no encrypted channel to it: it has no one-time keys on the server)`);
    expect((await mxJson<Sent>(['send', rooms[0]!, 'two'], all)).withheld_from).toEqual(withheld);
    expect((await mxJson<Sent>(['send', rooms[1]!, 'in another room'], all)).withheld_from).toEqual(withheld);

    // What the device itself was told: one m.no_olm, for all three messages.
    const sync = await fetch(`${homeserverUrl()}/_matrix/client/v3/sync?timeout=0`, { headers: { authorization: `Bearer ${bare.accessToken}` } });
    const toDevice = ((await sync.json()) as { to_device?: { events: { type: string; content: { code?: string } }[] } }).to_device?.events ?? [];
    expect(toDevice.filter((e) => e.type === 'm.room_key.withheld').map((e) => e.content.code)).toEqual(['m.no_olm']);
  });
});
