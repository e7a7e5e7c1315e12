/**
 * Never a silent new identity. The engine makes a new account (new identity keys) whenever it
 * opens a store that holds none. That is right once, for a new device. For a device whose keys
 * others know it is a disaster that looks like success: messages to the device are lost, and
 * its keys on the server no longer match, so every later key upload fails.
 *
 * So the store's folder records which identity the store holds (`identity.json`: the device's
 * Ed25519 and Curve25519 keys), written once the account is durable and before its keys first
 * leave the process, and every machine made from the store is checked against it:
 * - recorded: the machine has those keys, or the store lost its account (damage, exit 8);
 * - not recorded (a new store, or one made before mx kept this record): the server's keys for
 *   the device decide. None: a new device, whose identity is recorded (after the account is
 *   durable). The machine's keys: recorded. Other keys: the device is another client's, or its
 *   store here lost the account that made them: refused.
 * A refused machine's new account is never saved (the caller stops the lock period's save).
 */
import path from 'node:path';
import { ExitCode, LocalStateError, MxError } from '../errors.js';
import { errorMessage, readOwnFile, replaceFileAtomically } from '../fs-util.js';
import { serverDeviceKeys } from './device-keys.js';
import type { LockedEngine } from './requests.js';
import { NEW_DEVICE_ADVICE } from './store-ref.js';

const FILE = 'identity.json';

interface IdentityRecord {
  user_id: string;
  device_id: string;
  ed25519: string;
  curve25519: string;
}

/**
 * Checks the machine of `engine` against the identity its store is known to hold (see above);
 * records it when it is new. Throws an MxError when the machine must not be used or saved.
 * `storeExisted`: a store was saved in the folder before (it is not one this process makes).
 */
export async function checkDeviceIdentity(engine: LockedEngine, folder: string, storeExisted: boolean): Promise<void> {
  const { machine, client } = engine;
  const userId = machine.userId.toString();
  const deviceId = machine.deviceId.toString();
  const keys = machine.identityKeys;
  const ours = { ed25519: keys.ed25519.toBase64(), curve25519: keys.curve25519.toBase64() };
  const file = path.join(folder, FILE);
  const recorded = readIdentityRecord(file);
  if (recorded) {
    if (recorded.ed25519 === ours.ed25519 && recorded.curve25519 === ours.curve25519) return;
    throw new LocalStateError(
      `The crypto store ${folder} no longer holds the keys of device ${deviceId} (its account is gone: the store was damaged or replaced). ` +
        `mx will not make a new identity for a device others know; nothing was changed. ${NEW_DEVICE_ADVICE}`,
    );
  }
  const onServer = await serverDeviceKeys(client, userId, deviceId);
  if (onServer) {
    const published = onServer.keys as Record<string, unknown> | undefined;
    const same = published?.[`ed25519:${deviceId}`] === ours.ed25519 && published?.[`curve25519:${deviceId}`] === ours.curve25519;
    if (!same && storeExisted) {
      throw new LocalStateError(
        `The crypto store ${folder} does not hold the keys that device ${deviceId} has on the server (the store lost its account). ` +
          `mx will not make a new identity for a device others know; nothing was changed. ${NEW_DEVICE_ADVICE}`,
      );
    }
    if (!same) {
      throw new MxError(
        `device ${deviceId} has encryption keys on the server that mx does not hold here (made by another client, ` +
          'or its crypto store was deleted); log in with mx login for a device of its own to use encrypted rooms',
        ExitCode.encryption,
      );
    }
  } else {
    // A new identity: on disk before anything tells the world of it.
    await engine.durable();
  }
  await writeIdentityRecord(file, { user_id: userId, device_id: deviceId, ...ours });
}

function readIdentityRecord(file: string): IdentityRecord | undefined {
  const text = readOwnFile(file)?.toString('utf8');
  if (text === undefined) return undefined;
  try {
    const record = JSON.parse(text) as Partial<IdentityRecord>;
    if (typeof record.ed25519 === 'string' && typeof record.curve25519 === 'string') return record as IdentityRecord;
  } catch {
    // said below
  }
  throw new LocalStateError(`${file} is damaged (it should name the device's identity keys); mx will not use this crypto store. ${NEW_DEVICE_ADVICE}`);
}

async function writeIdentityRecord(file: string, record: IdentityRecord): Promise<void> {
  try {
    await replaceFileAtomically(file, `${JSON.stringify(record)}\n`);
  } catch (error) {
    throw new LocalStateError(`Cannot write ${file}: ${errorMessage(error)}`, { cause: error });
  }
}
