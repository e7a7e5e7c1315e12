// What the encryption e2e tests share: peers stopped after each test, an mx user in a room the peer (test/peer) encrypted.
import { afterEach, expect } from 'vitest';
import * as sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { loginWithPassword } from '../peer/account.js';
import { startPeer, type Peer, type StartPeerOptions } from '../peer/index.js';
import { describeResult, homeserverUrl, registerUser, runMx, type RegisteredUser } from './helpers.js';

/** startPeer for one test file: every peer it starts is stopped after the test that started it. */
export function peersStoppedAfterEach(): (opts: StartPeerOptions) => Promise<Peer> {
  const peers: Peer[] = [];
  afterEach(async () => {
    for (const p of peers.splice(0)) await p.stop();
  });
  return async (opts) => {
    const peer = await startPeer(opts);
    peers.push(peer);
    return peer;
  };
}

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

/**
 * A new device of `user` whose signed device keys are on the server, with no one-time key and
 * no fallback key: whoever claims a key of it gets none, so no Olm channel can be made with it
 * (the engine then tells it m.no_olm). The keys are the crypto engine's own (an in-memory
 * machine); only its device keys are uploaded. Returns its ID and access token.
 */
export async function deviceWithoutOneTimeKeys(user: RegisteredUser): Promise<{ deviceId: string; accessToken: string }> {
  const session = await loginWithPassword(homeserverUrl(), user.userId, user.password, { deviceName: 'no one-time keys' });
  await sdk.initAsync();
  const machine = await sdk.OlmMachine.initialize(new sdk.UserId(session.userId), new sdk.DeviceId(session.deviceId));
  try {
    const upload = ((await machine.outgoingRequests()) as { type: sdk.RequestType; body: string }[]).find((r) => r.type === sdk.RequestType.KeysUpload);
    const { device_keys } = JSON.parse(upload!.body) as { device_keys: unknown };
    const answer = await fetch(`${homeserverUrl()}/_matrix/client/v3/keys/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${session.accessToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ device_keys }),
    });
    expect(answer.status).toBe(200);
    const { one_time_key_counts: counts } = (await answer.json()) as { one_time_key_counts: Record<string, number> };
    expect(counts.signed_curve25519 ?? 0).toBe(0);
  } finally {
    machine.close();
  }
  return { deviceId: session.deviceId, accessToken: session.accessToken };
}
