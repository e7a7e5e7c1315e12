/**
 * This device's keys as the homeserver has them. A device deleted on the server (a logout
 * elsewhere, `logout --all`, `device delete`) loses its keys there, though its crypto store here
 * keeps them; logging in again with the same device ID brings the device back without keys, and
 * the engine, which uploaded them once, never does again: nobody could encrypt for the device.
 * So a login that keeps a store puts the same keys, with the signatures they had, back.
 */
import { matrixRequest, type MatrixClient } from '../matrix/http.js';
import type { CryptoSession } from './session.js';

/** The spec's names of the engine's EncryptionAlgorithm values (its enum: 0, 1; 2 is "unknown"). */
const ALGORITHM_NAMES: Record<number, string> = { 0: 'm.olm.v1.curve25519-aes-sha2', 1: 'm.megolm.v1.aes-sha2' };

/** The server's copy of the device's signed keys (POST /keys/query), or undefined when it has none. */
export async function serverDeviceKeys(client: MatrixClient, userId: string, deviceId: string): Promise<Record<string, unknown> | undefined> {
  const answer = await matrixRequest<{ device_keys?: Record<string, Record<string, Record<string, unknown>>> }>(client, {
    method: 'POST', path: '/_matrix/client/v3/keys/query', body: { device_keys: { [userId]: [deviceId] } },
    auth: true, idempotent: true, what: 'query this device\'s keys',
  });
  return answer.device_keys?.[userId]?.[deviceId];
}

/** Uploads the device's keys again when the server has none; says whether it did. */
export async function restoreDeviceKeys(session: CryptoSession): Promise<boolean> {
  const { client, ref } = session;
  if (await serverDeviceKeys(client, ref.userId, ref.deviceId)) return false;
  const deviceKeys = await session.use(async (engine) => {
    const { machine, sdk } = engine;
    const device = await machine.getDevice(new sdk.UserId(ref.userId), new sdk.DeviceId(ref.deviceId));
    if (!device) return undefined;
    try {
      const algorithms = device.algorithms.map((algorithm) => ALGORITHM_NAMES[algorithm]);
      // One the engine cannot name could not be signed over again as it was.
      if (algorithms.some((name) => name === undefined)) return undefined;
      // The object the device's own signature (and its owner's cross-signature) was made over.
      return {
        user_id: ref.userId,
        device_id: ref.deviceId,
        algorithms,
        keys: Object.fromEntries([...device.keys].map(([id, key]) => [id.toString(), key.toBase64()])),
        signatures: JSON.parse(device.signatures.asJSON()) as unknown,
      };
    } finally {
      device.free();
    }
  });
  if (!deviceKeys) return false;
  await matrixRequest(client, {
    method: 'POST', path: '/_matrix/client/v3/keys/upload', body: { device_keys: deviceKeys },
    auth: true, idempotent: true, what: 'upload this device\'s keys again',
  });
  return true;
}
