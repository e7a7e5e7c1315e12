/**
 * Server-side key backup (spec: "Server-side key backups", m.megolm_backup.v1.curve25519-aes-sha2):
 * room keys encrypted to the backup's public key and stored on the server, so that a new login
 * with the recovery key (which unlocks the backup's private key from secret storage) can read
 * history. The engine encrypts and decrypts the keys; this module speaks to the server, and
 * remembers which backup this device uploads to.
 *
 * Which backup (version and public key) is kept in the store's folder, in `backup.json`: the
 * engine forgets it when it closes, and each mx process must know it without asking the server.
 * The backup's private key is in the engine's store (encrypted at rest with the rest).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { ExitCode, MxError } from '../errors.js';
import { readOwnFile, replaceFileAtomically } from '../fs-util.js';
import { MatrixError } from '../matrix/errors.js';
import { matrixRequest, type MatrixClient } from '../matrix/http.js';
import { sendRequest, type LockedEngine } from './requests.js';

const BACKUP_ALGORITHM = 'm.megolm_backup.v1.curve25519-aes-sha2';
const V3 = '/_matrix/client/v3';
const FILE = 'backup.json';

/** GET /room_keys/version: the account's current backup. */
export interface BackupVersion {
  version: string;
  algorithm: string;
  auth_data: { public_key?: string; signatures?: Record<string, Record<string, string>> };
  count?: number;
  etag?: string;
}

/** The backup this device uploads new room keys to. */
export interface BackupTarget {
  version: string;
  publicKey: string;
}

/** The account's current backup, or undefined when it has none. */
export async function currentBackup(client: MatrixClient): Promise<BackupVersion | undefined> {
  try {
    return await matrixRequest<BackupVersion>(client, {
      method: 'GET', path: `${V3}/room_keys/version`, auth: true, idempotent: true, what: 'read the key backup\'s version',
    });
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === 'M_NOT_FOUND') return undefined;
    throw error;
  }
}

/** POST /room_keys/version: a new backup (it becomes the current one); its version. */
export async function createBackup(client: MatrixClient, authData: Record<string, unknown>): Promise<string> {
  const answer = await matrixRequest<{ version: string }>(client, {
    method: 'POST', path: `${V3}/room_keys/version`, body: { algorithm: BACKUP_ALGORITHM, auth_data: authData },
    auth: true, idempotent: false, what: 'create a key backup',
  });
  return answer.version;
}

/** What GET /room_keys/keys answers: room -> session -> the encrypted key. */
export interface BackedUpKeys {
  rooms?: Record<string, { sessions?: Record<string, { session_data?: { ephemeral?: string; mac?: string; ciphertext?: string } }> }>;
}

/** Every key in a backup version, still encrypted. */
export async function downloadBackup(client: MatrixClient, version: string): Promise<BackedUpKeys> {
  return matrixRequest<BackedUpKeys>(client, {
    method: 'GET', path: `${V3}/room_keys/keys`, query: { version }, auth: true, idempotent: true,
    timeoutMs: 300_000, what: 'download the key backup',
  });
}

export function readBackupTarget(folder: string): BackupTarget | undefined {
  const text = readOwnFile(path.join(folder, FILE))?.toString('utf8');
  if (text === undefined) return undefined;
  const parsed = JSON.parse(text) as Partial<BackupTarget>;
  return typeof parsed.version === 'string' && typeof parsed.publicKey === 'string' ? { version: parsed.version, publicKey: parsed.publicKey } : undefined;
}

export async function saveBackupTarget(folder: string, target: BackupTarget): Promise<void> {
  await replaceFileAtomically(path.join(folder, FILE), JSON.stringify(target));
}

function forgetBackupTarget(folder: string): void {
  rmSync(path.join(folder, FILE), { force: true });
}

/** The server's words for "that backup version is not the current one (any more)". */
function isStaleVersion(error: unknown): boolean {
  return error instanceof MatrixError && (error.errcode === 'M_WRONG_ROOM_KEYS_VERSION' || error.errcode === 'M_NOT_FOUND');
}

/**
 * Uploads the room keys the engine has not backed up yet, batch by batch. Another client may
 * have replaced the backup meanwhile: then this device stops backing up (the engine and
 * backup.json forget it) and `onProblem` says so; a recovery with the new backup's key starts
 * again. Other failures are reported and left to the next lock period: the engine still counts
 * those keys as not backed up.
 */
export async function uploadRoomKeys(engine: LockedEngine, folder: string, onProblem: (message: string) => void): Promise<void> {
  const { machine } = engine;
  try {
    // Batches of ~200 keys; bounded, so a server that keeps accepting nothing cannot loop for ever.
    for (let round = 0; round < 1000; round++) {
      const request = await machine.backupRoomKeys();
      if (!request) return;
      await sendRequest(engine, request);
    }
  } catch (error) {
    if (isStaleVersion(error)) {
      await machine.disableBackup();
      forgetBackupTarget(folder);
      onProblem('the key backup on the server was replaced by another client: mx no longer backs up room keys to it (mx crypto recover with the new recovery key starts again)');
      return;
    }
    if (error instanceof MxError && error.exitCode !== ExitCode.localState) {
      onProblem(`could not back up room keys (${error.message}); mx will try again next time`);
      return;
    }
    throw error;
  }
}
