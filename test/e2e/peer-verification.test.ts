// The test peer's SAS (emoji) verification, peer to peer with no mx involved: the proof that
// the verification API of test/peer works before mx's verification tests lean on it.
import { describe, expect, it } from 'vitest';
import type { Peer } from '../peer/index.js';
import { peersStoppedAfterEach } from './encryption-helpers.js';
import { homeserverUrl } from './helpers.js';

const startPeer = peersStoppedAfterEach();

/** Two Element-like users in a DM room both have joined. */
async function twoUsersInDm(): Promise<{ alice: Peer; bob: Peer; roomId: string }> {
  const [alice, bob] = await Promise.all([
    startPeer({ homeserverUrl: homeserverUrl(), asElement: true, deviceName: 'alice' }),
    startPeer({ homeserverUrl: homeserverUrl(), asElement: true, deviceName: 'bob' }),
  ]);
  const roomId = await alice.createEncryptedRoom({ invite: [bob.userId], isDirect: true });
  await bob.waitForMembership(roomId, bob.userId, 'invite');
  await bob.joinRoom(roomId);
  await alice.waitForMembership(roomId, bob.userId, 'join');
  return { alice, bob, roomId };
}

describe('test peer: SAS verification', () => {
  it('a new device of a user is verified by its other device: same emoji, both done, cross-signed', async () => {
    const old = await startPeer({ homeserverUrl: homeserverUrl(), asElement: true, deviceName: 'old' });
    const fresh = await old.startAnotherDevice({ deviceName: 'new' });
    expect(await old.deviceSignedByOwner(old.userId, fresh.deviceId)).toBe(false);
    await old.waitForDevice(old.userId, fresh.deviceId);

    const asked = await fresh.requestOwnVerification();
    expect(asked.phase).toBe('requested');
    const answering = await old.waitForVerificationRequest({ from: old.userId, deviceId: fresh.deviceId });
    expect(answering.flowId).toBe(asked.flowId);
    expect(answering.roomId).toBeUndefined();
    await answering.accept();
    await asked.start();

    const [atNew, atOld] = await Promise.all([asked.waitForSas(), answering.waitForSas()]);
    expect(atNew.emoji).toHaveLength(7);
    expect(atNew.emoji[0]).toEqual({ symbol: expect.any(String), name: expect.stringMatching(/^[A-Z][a-z]/) });
    expect(atNew.decimals).toHaveLength(3);
    expect(atOld).toEqual(atNew);
    expect(asked.otherDeviceId).toBe(old.deviceId);

    await Promise.all([asked.confirm(), answering.confirm()]);
    await Promise.all([asked.waitForDone(), answering.waitForDone()]);
    expect([asked.phase, answering.phase]).toEqual(['done', 'done']);
    // The signature counts once the server has it and the peer fetched it again.
    await expect.poll(() => old.deviceSignedByOwner(old.userId, fresh.deviceId), { timeout: 10_000 }).toBe(true);
  });

  it('two users verify each other in their DM room: both done, each sees the other verified', async () => {
    const { alice, bob, roomId } = await twoUsersInDm();
    expect(await alice.userIdentityVerified(bob.userId)).toBe(false);

    const asked = await alice.requestUserVerification(bob.userId, roomId);
    const answering = await bob.waitForVerificationRequest({ from: alice.userId });
    expect(answering.roomId).toBe(roomId);
    expect(answering.flowId).toBe(asked.flowId);
    await answering.accept();
    // Alice never starts: Bob does, and Alice's peer goes on with Bob's start.
    await answering.start();

    const [atAlice, atBob] = await Promise.all([asked.waitForSas(), answering.waitForSas()]);
    expect(atAlice).toEqual(atBob);
    await Promise.all([asked.confirm(), answering.confirm()]);
    await Promise.all([asked.waitForDone(), answering.waitForDone()]);
    await expect.poll(() => alice.userIdentityVerified(bob.userId), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => bob.userIdentityVerified(alice.userId), { timeout: 10_000 }).toBe(true);
  });

  it('a mismatch cancels with m.mismatched_sas on both sides', async () => {
    const { alice, bob, roomId } = await twoUsersInDm();
    const asked = await alice.requestUserVerification(bob.userId, roomId);
    const answering = await bob.waitForVerificationRequest({ from: alice.userId });
    await answering.accept();
    await asked.start();
    await Promise.all([asked.waitForSas(), answering.waitForSas()]);

    await answering.mismatch();
    expect(await asked.waitForCancel()).toMatchObject({ code: 'm.mismatched_sas', byUs: false });
    expect(await answering.waitForCancel()).toMatchObject({ code: 'm.mismatched_sas', byUs: true });
    await expect(asked.waitForDone(1000)).rejects.toThrow(/cancelled by the other side with m\.mismatched_sas/);
    expect(await alice.userIdentityVerified(bob.userId)).toBe(false);
  });

  it('a request declined before it is accepted: the requester sees m.user', async () => {
    const old = await startPeer({ homeserverUrl: homeserverUrl(), asElement: true });
    const fresh = await old.startAnotherDevice();
    await old.waitForDevice(old.userId, fresh.deviceId);
    const asked = await fresh.requestOwnVerification({ deviceId: old.deviceId });
    const answering = await old.waitForVerificationRequest({ deviceId: fresh.deviceId });
    await answering.cancel();
    expect(await asked.waitForCancel()).toEqual({ code: 'm.user', reason: expect.stringMatching(/cancel/), byUs: false });
    expect(await answering.waitForCancel()).toMatchObject({ code: 'm.user', byUs: true });
  });

  it('a raw cancel with any code reaches the other side, to-device and in a room', async () => {
    const old = await startPeer({ homeserverUrl: homeserverUrl(), asElement: true });
    const fresh = await old.startAnotherDevice();
    await old.waitForDevice(old.userId, fresh.deviceId);
    const asked = await fresh.requestOwnVerification();
    const answering = await old.waitForVerificationRequest({ deviceId: fresh.deviceId });
    await answering.accept();
    await answering.cancel('m.unknown_method', 'raw to-device');
    // The reason is the SDK's words for the code: it drops the one sent.
    expect(await asked.waitForCancel()).toEqual({ code: 'm.unknown_method', reason: 'The device does not know how to handle the requested method.', byUs: false });

    const { alice, bob, roomId } = await twoUsersInDm();
    const inRoom = await alice.requestUserVerification(bob.userId, roomId);
    const atBob = await bob.waitForVerificationRequest({ from: alice.userId });
    await atBob.accept();
    await atBob.cancel('org.example.custom', 'raw in the room');
    expect(await inRoom.waitForCancel()).toEqual({ code: 'org.example.custom', reason: 'Unknown cancel reason', byUs: false });
    const wire = alice.seenEvents(roomId).find((e) => e.type === 'm.key.verification.cancel');
    expect(wire).toMatchObject({ status: 'plaintext', content: { code: 'org.example.custom', reason: 'raw in the room' } });
    // The raw cancel went past Bob's SDK: his side of the flow is still open.
    expect(atBob.phase).toBe('ready');
  });
});
