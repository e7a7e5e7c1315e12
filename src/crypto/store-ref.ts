/**
 * Where a profile's crypto store lives and what opens it. One store per user and device,
 * beside the profile store: `<state dir>/crypto/<hash of user and device>/`, 0700. Its key (32
 * random bytes, base64) is kept in the profile with the access token: the store is encrypted at
 * rest with it, and a copy of the folder without the profile store cannot be read.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { ownFolderExists } from '../fs-util.js';
import { nodeCrypto } from '../builtins.js';

/**
 * What to do when a device's crypto store cannot be used: give the profile a new device. (A new
 * store for the old device would be a new identity under a device ID others know.)
 */
export const NEW_DEVICE_ADVICE =
  'For a new device: mx logout, then mx login (with -p NAME for a named profile); room keys come back with mx crypto recover or mx crypto import';

export function cryptoStoreFolder(stateDir: string, userId: string, deviceId: string): string {
  const { createHash } = nodeCrypto();
  const id = createHash('sha256').update(`${userId}\n${deviceId}`).digest('hex').slice(0, 32);
  return path.join(stateDir, 'crypto', id);
}

/** A fresh store key, as kept in the profile. */
export function newCryptoStoreKey(): string {
  return nodeCrypto().randomBytes(32).toString('base64');
}

export function decodeCryptoStoreKey(key: string): Uint8Array {
  return new Uint8Array(Buffer.from(key, 'base64'));
}

/**
 * Deletes a device's store: after a logout or `profile rm` the device is gone for good. A
 * recursive rm does not follow the links inside the folder, but would go through a link in the
 * place of `crypto` or of the store's folder: such a link is refused (a LocalStateError) and
 * nothing is deleted.
 */
export function deleteCryptoStore(stateDir: string, userId: string, deviceId: string): void {
  const folder = cryptoStoreFolder(stateDir, userId, deviceId);
  if (ownFolderExists(path.dirname(folder)) && ownFolderExists(folder)) rmSync(folder, { recursive: true, force: true });
}
