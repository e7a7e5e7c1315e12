// The encryption test peer (test/peer) against the e2e Synapse: two matrix-js-sdk clients
// with Rust crypto talk in an encrypted room, and the server holds only ciphertext. This is
// the peer's own proof; mx's encryption tests build on it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MEGOLM, startPeer, type Peer } from '../peer/index.js';
import { homeserverUrl } from './helpers.js';

/** What keeps the event loop alive, by kind (ref'd timers, sockets, ...). */
function keepAlive(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

describe('encryption test peer (matrix-js-sdk + Rust crypto)', () => {
  let alice: Peer;
  let bob: Peer;
  let roomId: string;
  let baseline: Record<string, number>;

  beforeAll(async () => {
    baseline = keepAlive();
    [alice, bob] = await Promise.all([
      startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'peer A' }),
      startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'peer B' }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
  });

  it('A creates an encrypted room, invites B, B joins', async () => {
    roomId = await alice.createEncryptedRoom({ invite: [bob.userId], name: 'peer test' });
    await bob.waitForMembership(roomId, bob.userId, 'invite');
    await bob.joinRoom(roomId);
    await alice.waitForMembership(roomId, bob.userId, 'join');
    expect(await bob.crypto.isEncryptionEnabledInRoom(roomId)).toBe(true);
  });

  it('B decrypts A’s text and HTML; A decrypts B’s reply', async () => {
    const textId = await alice.sendText(roomId, 'hello from A');
    const htmlId = await alice.sendHtml(roomId, 'hello *bold*', 'hello <b>bold</b>');

    const atB = await bob.waitForDecryptedMessages(roomId, 2);
    expect(atB.map((m) => m.event_id)).toEqual([textId, htmlId]);
    expect(atB[0]).toMatchObject({ sender: alice.userId, type: 'm.room.message', algorithm: MEGOLM, sender_device: alice.deviceId, content: { msgtype: 'm.text', body: 'hello from A' } });
    expect(atB[1]!.content).toEqual({ msgtype: 'm.text', body: 'hello *bold*', format: 'org.matrix.custom.html', formatted_body: 'hello <b>bold</b>' });

    const replyId = await bob.sendText(roomId, 'hi A, B here');
    const atA = await alice.waitForDecryptedMessages(roomId, (m) => m.event_id === replyId);
    expect(atA).toHaveLength(1);
    expect(atA[0]).toMatchObject({ sender: bob.userId, sender_device: bob.deviceId, content: { body: 'hi A, B here' } });
    // A's own messages are not counted as received.
    expect((await alice.decryptedMessages(roomId)).map((m) => m.event_id)).toEqual([replyId]);
  });

  it('the server stores only m.room.encrypted (Megolm) events for them', async () => {
    const res = await fetch(`${homeserverUrl()}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`, {
      headers: { authorization: `Bearer ${alice.accessToken}` },
    });
    expect(res.status).toBe(200);
    const { chunk } = (await res.json()) as { chunk: { type: string; sender: string; state_key?: string; content: Record<string, any> }[] };
    const timeline = chunk.filter((e) => e.state_key === undefined);
    expect(timeline).toHaveLength(3);
    for (const event of timeline) {
      expect(event.type).toBe('m.room.encrypted');
      expect(event.content.algorithm).toBe(MEGOLM);
      expect(typeof event.content.ciphertext).toBe('string');
      expect(JSON.stringify(event.content)).not.toMatch(/hello|B here/);
    }
    expect(chunk.find((e) => e.type === 'm.room.encryption')?.content).toEqual({ algorithm: MEGOLM });
  });

  it('an encrypted attachment sent by A downloads and decrypts at B', async () => {
    const bytes = new Uint8Array(Buffer.from('attachment bytes \u00e9\u0000\u00ff'.repeat(100), 'latin1'));
    const { eventId } = await alice.sendEncryptedFile(roomId, bytes, { name: 'a.bin' });
    const [message] = await bob.waitForDecryptedMessages(roomId, (m) => m.event_id === eventId);
    expect(message!.content.url).toBeUndefined();
    expect(Buffer.from(await bob.downloadAndDecryptAttachment(message!.content)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('a second device of B: earlier messages stay undecryptable (and say why), new ones decrypt', async () => {
    const bob2 = await bob.startAnotherDevice({ deviceName: 'peer B2' });
    try {
      expect(bob2.userId).toBe(bob.userId);
      expect(bob2.deviceId).not.toBe(bob.deviceId);
      await bob2.waitForRoom(roomId, { encrypted: true });
      // A encrypts only for devices it knows of: wait until its sync has brought B2's keys.
      await alice.waitForDevice(bob.userId, bob2.deviceId);
      const newId = await alice.sendText(roomId, 'for both of B’s devices');
      const [message] = await bob2.waitForDecryptedMessages(roomId, (m) => m.event_id === newId);
      expect(message).toMatchObject({ sender: alice.userId, sender_device: alice.deviceId, content: { body: 'for both of B’s devices' } });
      // B's first device sent 'hi A, B here' before B2 existed: B2 sees it, but has no key for it.
      const earlier = bob2.seenEvents(roomId).filter((e) => e.status === 'undecryptable');
      expect(earlier.length).toBeGreaterThanOrEqual(4);
      expect(earlier.every((e) => e.failure?.startsWith('HISTORICAL_MESSAGE_NO_KEY_BACKUP'))).toBe(true);
      // A timeout lists what arrived, undecryptable events with their reason.
      const error = await bob2.waitForDecryptedMessages(roomId, 99, 200).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/timed out after 200 ms waiting for 99 decrypted event\(s\)/);
      expect((error as Error).message).toContain('UNDECRYPTABLE HISTORICAL_MESSAGE_NO_KEY_BACKUP');
      expect((error as Error).message).toContain('for both of B’s devices');
    } finally {
      await bob2.stop();
    }
  });

  it('stop() leaves nothing that keeps the process alive', async () => {
    await Promise.all([alice.stop(), bob.stop()]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const now = keepAlive();
    for (const kind of ['Timeout', 'TCPSocketWrap', 'TCPWRAP', 'Immediate']) expect(now[kind] ?? 0, kind).toBeLessThanOrEqual(baseline[kind] ?? 0);
  });
});

describe('the test peer as Element (asElement)', () => {
  let element: Peer;
  let plain: Peer;
  let roomId: string;

  beforeAll(async () => {
    [element, plain] = await Promise.all([
      startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'element', asElement: true }),
      startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'no cross-signing' }),
    ]);
    roomId = await element.createEncryptedRoom({ invite: [plain.userId] });
    await plain.joinRoom(roomId);
    await element.waitForMembership(roomId, plain.userId, 'join');
    await element.waitForDevice(plain.userId, plain.deviceId);
  });

  afterAll(async () => {
    await Promise.all([element?.stop(), plain?.stop()]);
  });

  it('is cross-signed, with a recovery key; a login as Element needs that key', async () => {
    expect(element.recoveryKey).toMatch(/^(\w{4} ){11}\w{4}$/);
    expect(await plain.deviceSignedByOwner(element.userId, element.deviceId)).toBe(true);
    expect(await element.deviceSignedByOwner(plain.userId, plain.deviceId)).toBe(false);
    await expect(startPeer({ homeserverUrl: homeserverUrl(), user: element.userId, password: element.password!, asElement: true })).rejects.toThrow(/needs recoveryKey/);
  });

  it('withholds its room key from a device its owner did not cross-sign, and refuses that device’s messages', async () => {
    const fromElement = await element.sendText(roomId, 'cross-signed devices only');
    const atPlain = await plain.waitForUndecryptable(roomId, fromElement, 'MEGOLM_KEY_WITHHELD_FOR_UNVERIFIED_DEVICE');
    expect(atPlain.status).toBe('undecryptable');
    const fromPlain = await plain.sendText(roomId, 'from a device no one signed');
    const atElement = await element.waitForUndecryptable(roomId, fromPlain, 'UNSIGNED_SENDER_DEVICE');
    expect(atElement.failure).toMatch(/^UNSIGNED_SENDER_DEVICE/);
    expect(await element.decryptedMessages(roomId)).toEqual([]);
  });

  it('a second device as Element is verified with the recovery key, and reads and is read', async () => {
    const second = await element.startAnotherDevice({ deviceName: 'element 2', asElement: true });
    try {
      expect(second.recoveryKey).toBe(element.recoveryKey);
      expect(await element.deviceSignedByOwner(element.userId, second.deviceId)).toBe(true);
      await second.waitForRoom(roomId, { encrypted: true });
      await element.waitForDevice(element.userId, second.deviceId);
      const sent = await element.sendText(roomId, 'to my other device');
      await second.waitForDecryptedMessages(roomId, (m) => m.event_id === sent);
      const back = await second.sendText(roomId, 'from my other device');
      await element.waitForDecryptedMessages(roomId, (m) => m.event_id === back);
    } finally {
      await second.stop();
    }
  });
});
