/**
 * The recovery keys mx made or was given for an account, kept on this machine: a key that a
 * script's `mx register` made is never lost, `mx crypto recovery-key` shows it when a person
 * asks, and a new login of the same user here is trusted in the same step.
 *
 * `<state dir>/recovery-keys/<hash of the user ID>.json`, 0600 in a 0700 folder, as the profile
 * store keeps access tokens. Per user, not per device: a logout, which deletes the device's
 * crypto store, leaves it. Whoever can read it can read the profile store and the crypto store
 * beside it too, and those already hold what a recovery key unlocks once this device is set up
 * (the cross-signing and backup keys), so keeping it here adds nothing for an attacker.
 */
import path from 'node:path';
import { nodeCrypto } from '../builtins.js';
import { ensurePrivateDir, readOwnFile, replaceFileAtomically } from '../fs-util.js';
import { isRecord } from '../matrix/shape.js';

export interface KeptRecoveryKey {
  /** The secret storage key's ID on the account (m.secret_storage.key.ID). */
  key_id: string;
  recovery_key: string;
  /** When it was kept (ms since the epoch). */
  kept_at: number;
}

/** The older keys are kept too (a set-up that stopped may have made the one in use), up to this many. */
const MAX_KEPT = 10;

export function keptRecoveryKeysFile(stateDir: string, userId: string): string {
  const id = nodeCrypto().createHash('sha256').update(userId).digest('hex').slice(0, 32);
  return path.join(stateDir, 'recovery-keys', `${id}.json`);
}

/** The keys kept for `userId`, newest first (none when the file is missing or not mx's). */
export function keptRecoveryKeys(stateDir: string, userId: string): KeptRecoveryKey[] {
  const file = keptRecoveryKeysFile(stateDir, userId);
  const text = readOwnFile(file, 'the recovery keys file')?.toString('utf8');
  if (text === undefined) return [];
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return [];
  }
  if (!isRecord(data) || data.user_id !== userId || !Array.isArray(data.keys)) return [];
  return data.keys.filter(
    (k): k is KeptRecoveryKey => isRecord(k) && typeof k.key_id === 'string' && typeof k.recovery_key === 'string' && typeof k.kept_at === 'number',
  );
}

/** The kept recovery key of the secret storage key `keyId`, if mx has it. */
export function keptRecoveryKey(stateDir: string, userId: string, keyId: string): string | undefined {
  return keptRecoveryKeys(stateDir, userId).find((k) => k.key_id === keyId)?.recovery_key;
}

/** Keeps a recovery key for `userId` (durable when this resolves). */
export async function keepRecoveryKey(stateDir: string, userId: string, key: { keyId: string; recoveryKey: string }, now: number): Promise<string> {
  const file = keptRecoveryKeysFile(stateDir, userId);
  ensurePrivateDir(path.dirname(file), stateDir);
  const others = keptRecoveryKeys(stateDir, userId).filter((k) => k.key_id !== key.keyId);
  const keys = [{ key_id: key.keyId, recovery_key: key.recoveryKey, kept_at: now }, ...others].slice(0, MAX_KEPT);
  await replaceFileAtomically(file, `${JSON.stringify({ user_id: userId, keys }, null, 2)}\n`);
  return file;
}
