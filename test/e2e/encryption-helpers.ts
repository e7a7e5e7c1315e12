// What the encryption e2e tests share: an mx user in a room the peer (test/peer) encrypted.
import { expect } from 'vitest';
import type { Peer } from '../peer/index.js';
import { describeResult, registerUser, runMx, type RegisteredUser } from './helpers.js';

/** A user of mx with its device, in a room the peer made encrypted and invited it to. */
export async function mxInPeerRoom(peer: Peer): Promise<{ user: RegisteredUser; deviceId: string; roomId: string }> {
  const user = await registerUser();
  const deviceId = String(user.output.device_id);
  const roomId = await peer.createEncryptedRoom({ invite: [user.userId] });
  const joined = await runMx(['join', roomId], { configDir: user.configDir });
  expect(joined.code, describeResult(['join'], joined)).toBe(0);
  await peer.waitForMembership(roomId, user.userId, 'join');
  // The peer encrypts only for devices it knows.
  await peer.waitForDevice(user.userId, deviceId);
  return { user, deviceId, roomId };
}
