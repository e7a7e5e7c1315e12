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

/** The message index of a Megolm ciphertext: version byte 3, then protobuf field 1 (a varint). */
export function megolmIndex(ciphertext: string): number {
  const bytes = Buffer.from(ciphertext, 'base64');
  if (bytes[0] !== 3 || bytes[1] !== 0x08) throw new Error('not a Megolm message');
  let value = 0;
  for (let i = 2, shift = 0; i < bytes.length; i++, shift += 7) {
    value += (bytes[i]! & 0x7f) * 2 ** shift;
    if (!(bytes[i]! & 0x80)) break;
  }
  return value;
}
