/**
 * Trust and recovery for the account, as Element does them (spec: "Cross-signing", "Secrets",
 * "Server-side key backups"):
 *
 * - setup: the account gets cross-signing keys (this device signed with them), secret storage
 *   with a new recovery key holding those keys and the backup's key, and a key backup that this
 *   device fills with the room keys it holds;
 * - recover: on another device, the recovery key (or the secret storage passphrase) unlocks the
 *   cross-signing keys and the backup key; the device signs itself with the account's
 *   self-signing key, downloads every room key from the backup and backs up new ones from then on.
 *
 * Everything the user gives (the key, the passphrase) and everything on the server it depends
 * on (each secret, the backup's public key) is checked before the crypto store changes, so bad
 * input leaves the store as it was.
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { ExitCode, MxError } from '../errors.js';
import { getAccountData, setAccountData } from '../matrix/account-data.js';
import { matrixRequest, type MatrixClient } from '../matrix/http.js';
import { explainMissingStages, passwordStage, withUserInteractiveAuth } from '../matrix/uia.js';
import { createBackup, currentBackup, downloadBackup, type BackupTarget } from './backup.js';
import { queryKeysNow, sendRequest, type LockedEngine } from './requests.js';
import {
  decodeRecoveryKey,
  decryptSecret,
  DEFAULT_KEY_TYPE,
  describeKey,
  encodeRecoveryKey,
  encryptSecret,
  keyDescriptionType,
  keyFromPassphrase,
  keyMatches,
  looksLikeRecoveryKey,
  SECRET_NAMES,
  SECRET_STORAGE_ALGORITHM,
  WrongKeyError,
  type EncryptedSecret,
  type KeyDescription,
} from './secret-storage.js';
import type { CryptoSession } from './session.js';
import { nodeCrypto } from '../builtins.js';

/** The account's default secret storage key: its ID and description. */
interface StorageKey {
  keyId: string;
  description: KeyDescription;
}

async function defaultStorageKey(client: MatrixClient, userId: string): Promise<StorageKey | undefined> {
  const pointer = await getAccountData(client, userId, DEFAULT_KEY_TYPE);
  const keyId = typeof pointer?.key === 'string' ? pointer.key : undefined;
  if (!keyId) return undefined;
  const description = await getAccountData(client, userId, keyDescriptionType(keyId));
  if (!description) return undefined;
  if (description.algorithm !== SECRET_STORAGE_ALGORITHM) {
    throw new MxError(`the account's secret storage key uses ${String(description.algorithm)}, which mx does not know`, ExitCode.encryption);
  }
  return { keyId, description: description as unknown as KeyDescription };
}

/** The ID of the account's default secret storage key (the one its recovery key opens), if it has one. */
export async function defaultStorageKeyId(client: MatrixClient, userId: string): Promise<string | undefined> {
  return (await defaultStorageKey(client, userId))?.keyId;
}

/** A secret from the account data, decrypted; undefined when it is not stored under this key. */
async function readStoredSecret(client: MatrixClient, userId: string, name: string, storage: StorageKey, key: Uint8Array): Promise<string | undefined> {
  const content = await getAccountData(client, userId, name);
  const encrypted = (content?.encrypted as Record<string, EncryptedSecret> | undefined)?.[storage.keyId];
  if (!encrypted) return undefined;
  try {
    return decryptSecret(key, name, encrypted);
  } catch (error) {
    // The key passed the key check: a secret it cannot open was stored with another key.
    if (error instanceof WrongKeyError) {
      throw new MxError(`${name} in secret storage does not open with this key (another client stored it with another key?)`, ExitCode.encryption);
    }
    throw error;
  }
}

async function storeSecret(client: MatrixClient, userId: string, name: string, storage: StorageKey, key: Uint8Array, value: string): Promise<void> {
  await setAccountData(client, userId, name, { encrypted: { [storage.keyId]: encryptSecret(key, name, value) } });
}

/** The key a recovery key or passphrase stands for, checked against the key's description. */
function unlock(input: string, storage: StorageKey): Uint8Array {
  const passphrase = !looksLikeRecoveryKey(input) && storage.description.passphrase !== undefined;
  const key = passphrase ? keyFromPassphrase(input, storage.description) : decodeRecoveryKey(input);
  if (!keyMatches(key, storage.description)) {
    throw new WrongKeyError(`wrong ${passphrase ? 'passphrase' : 'recovery key'}: it does not open this account's secret storage`);
  }
  return key;
}

export interface RecoverResult {
  user_id: string;
  device_id: string;
  /** This device is now signed by the account's self-signing key. */
  cross_signed: boolean;
  backup: { version: string; keys: number; imported: number; unreadable: number } | null;
}

/** Where a recovery key goes before it is used (kept-recovery-keys.ts, a file the user named). */
export type KeepRecoveryKey = (key: { recoveryKey: string; keyId: string }) => Promise<void>;

export interface RecoverOptions {
  onProgress: (line: string) => void;
  /** Called with a recovery key (not a passphrase) once it proved to open the secret storage. */
  keepRecoveryKey?: KeepRecoveryKey;
}

/**
 * Recovers with the recovery key or passphrase `input`: checks it and every secret it opens,
 * then imports the cross-signing keys, signs this device, and restores the key backup.
 */
export async function recover(session: CryptoSession, input: string, { onProgress, keepRecoveryKey }: RecoverOptions): Promise<RecoverResult> {
  const { client, ref } = session;
  const storage = await defaultStorageKey(client, ref.userId);
  if (!storage) {
    throw new MxError('this account has no secret storage (no recovery key was ever set up): mx crypto setup makes one', ExitCode.encryption);
  }
  const key = unlock(input, storage);
  const secret = (name: string) => readStoredSecret(client, ref.userId, name, storage, key);
  const [master, selfSigning, userSigning, backupKey] = await Promise.all([
    secret(SECRET_NAMES.master), secret(SECRET_NAMES.selfSigning), secret(SECRET_NAMES.userSigning), secret(SECRET_NAMES.backup),
  ]);
  if (!master || !selfSigning) {
    throw new MxError('the secret storage holds no cross-signing keys: set up cross-signing with mx crypto setup --reset (or in Element)', ExitCode.encryption);
  }
  const backup = backupKey ? await checkedBackup(session, backupKey) : undefined;
  if (looksLikeRecoveryKey(input)) await keepRecoveryKey?.({ recoveryKey: encodeRecoveryKey(key), keyId: storage.keyId });

  await session.use(async (engine) => {
    await queryKeysNow(engine, [ref.userId]);
    const status = await engine.machine.importCrossSigningKeys(master, selfSigning, userSigning ?? null);
    if (!status.hasMaster || !status.hasSelfSigning) {
      throw new MxError('the cross-signing keys in secret storage are not the account\'s current ones (reset by another client?)', ExitCode.encryption);
    }
    await signOwnDevice(engine, ref.userId, ref.deviceId);
  });
  onProgress('cross-signing keys imported; this device is signed by the account');
  let restored: RecoverResult['backup'] = null;
  if (backup && backupKey) {
    await session.startBackup(backupKey, backup);
    onProgress(`downloading the key backup (version ${backup.version})`);
    restored = { version: backup.version, ...(await restoreBackup(session, backupKey, backup.version)) };
  }
  return { user_id: ref.userId, device_id: ref.deviceId, cross_signed: true, backup: restored };
}

/** The account's current backup, if it is the one the backup key in secret storage opens. */
export async function checkedBackup(session: CryptoSession, backupKey: string): Promise<BackupTarget | undefined> {
  const current = await currentBackup(session.client);
  if (!current) return undefined;
  const publicKey = await session.use(async ({ sdk }) => sdk.BackupDecryptionKey.fromBase64(backupKey).megolmV1PublicKey.publicKeyBase64);
  if (current.auth_data.public_key !== publicKey) {
    throw new MxError(
      `the key backup on the server (version ${current.version}) is not the one whose key is in secret storage: another client replaced it. ` +
        'Nothing was changed here; recover with that client\'s recovery key, or make a new backup with mx crypto setup --reset',
      ExitCode.encryption,
    );
  }
  return { version: current.version, publicKey };
}

/** Signs this device with the self-signing key, and this user's identity with this device, and uploads both. */
export async function signOwnDevice(engine: LockedEngine, userId: string, deviceId: string): Promise<void> {
  const { sdk, machine } = engine;
  const device = await machine.getDevice(new sdk.UserId(userId), new sdk.DeviceId(deviceId));
  if (!device) throw new MxError('this device\'s keys are not on the server yet: run the command again', ExitCode.temporary);
  await sendRequest(engine, await device.verify());
  device.free();
  const identity = await machine.getIdentity(new sdk.UserId(userId));
  if (identity instanceof sdk.OwnUserIdentity) await sendRequest(engine, await identity.verify());
  identity?.free();
  await queryKeysNow(engine, [userId]);
}

/** Downloads a backup version and imports its keys. */
export async function restoreBackup(session: CryptoSession, backupKey: string, version: string): Promise<{ keys: number; imported: number; unreadable: number }> {
  const downloaded = await downloadBackup(session.client, version);
  return session.use(async (engine) => {
    const { machine, sdk } = engine;
    const decryption = sdk.BackupDecryptionKey.fromBase64(backupKey);
    const byRoom = new Map<Sdk.RoomId, Map<string, unknown>>();
    let keys = 0;
    let unreadable = 0;
    for (const [roomId, room] of Object.entries(downloaded.rooms ?? {})) {
      const sessions = new Map<string, unknown>();
      for (const [sessionId, entry] of Object.entries(room.sessions ?? {})) {
        keys++;
        const data = entry.session_data;
        try {
          const plain = JSON.parse(decryption.decryptV1(String(data?.ephemeral), String(data?.mac), String(data?.ciphertext))) as Record<string, unknown>;
          sessions.set(sessionId, { ...plain, room_id: roomId, session_id: sessionId });
        } catch {
          unreadable++;
        }
      }
      if (sessions.size > 0) byRoom.set(new sdk.RoomId(roomId), sessions);
    }
    const result = await machine.importBackedUpRoomKeys(byRoom, () => {}, version);
    return { keys, imported: result.importedCount, unreadable };
  });
}

export interface SetupResult {
  user_id: string;
  device_id: string;
  recovery_key: string;
  /** New cross-signing keys were made, or the ones this device already held were kept. */
  cross_signing: 'created' | 'kept';
  backup_version: string;
}

export interface SetupOptions {
  reset: boolean;
  /** Asked for only when the server wants it (UIA). */
  password: () => Promise<string>;
  /**
   * Puts the new recovery key where the user keeps it (a file), before the account's secret
   * storage changes: a key that could not be kept (a full disk) then leaves the account as it
   * was, instead of locked with a key nobody has.
   */
  keepRecoveryKey?: KeepRecoveryKey;
}

/**
 * Sets up cross-signing, secret storage and a key backup for an account that has none (or,
 * with `reset`, replaces them).
 */
export async function setup(session: CryptoSession, options: SetupOptions): Promise<SetupResult> {
  const { client, ref } = session;
  const [storage, backup, own] = await Promise.all([
    defaultStorageKey(client, ref.userId),
    currentBackup(client),
    session.use(async (engine) => {
      const { machine, sdk } = engine;
      await queryKeysNow(engine, [ref.userId]);
      const status = await machine.crossSigningStatus();
      const identity = await machine.getIdentity(new sdk.UserId(ref.userId));
      // Keys of this device's own making, still the account's: a setup that stopped half-way resumes.
      const ours = identity !== undefined && identity.isVerified() && status.hasMaster && status.hasSelfSigning && status.hasUserSigning;
      identity?.free();
      return { exists: identity !== undefined, ours };
    }),
  ]);
  if (!options.reset) {
    const what = (own.exists && !own.ours && 'cross-signing keys') || (storage && 'secret storage (a recovery key)') || (backup && `a key backup (version ${backup.version})`);
    if (what) {
      throw new MxError(
        `this account already has ${what}, set up by another client: use mx crypto recover with its recovery key. ` +
          'mx crypto setup --reset replaces them: the old recovery key then stops working, and other users see this account\'s identity change',
        ExitCode.conflict,
      );
    }
  }
  const crossSigning = own.ours && !options.reset ? 'kept' : 'created';
  if (crossSigning === 'created') await bootstrapCrossSigning(session, options.password);

  // Secret storage: a new key, the cross-signing keys and (below) the backup key under it.
  const key = new Uint8Array(nodeCrypto().randomBytes(32));
  const newStorage: StorageKey = { keyId: randomKeyId(), description: describeKey(key) };
  await options.keepRecoveryKey?.({ recoveryKey: encodeRecoveryKey(key), keyId: newStorage.keyId });
  await setAccountData(client, ref.userId, keyDescriptionType(newStorage.keyId), newStorage.description as unknown as Record<string, unknown>);
  const exported = await session.use(async ({ machine }) => {
    const keys = await machine.exportCrossSigningKeys();
    const values = { master: keys?.masterKey, selfSigning: keys?.self_signing_key, userSigning: keys?.userSigningKey };
    keys?.free();
    return values;
  });
  if (!exported.master || !exported.selfSigning || !exported.userSigning) throw new Error('Bug: the engine holds no cross-signing keys after setting them up');
  for (const [name, value] of [[SECRET_NAMES.master, exported.master], [SECRET_NAMES.selfSigning, exported.selfSigning], [SECRET_NAMES.userSigning, exported.userSigning]] as const) {
    await storeSecret(client, ref.userId, name, newStorage, key, value);
  }
  const { version, decryptionKey } = await createSignedBackup(session);
  await storeSecret(client, ref.userId, SECRET_NAMES.backup, newStorage, key, decryptionKey);
  // Last: only now does the new storage become the one clients use.
  await setAccountData(client, ref.userId, DEFAULT_KEY_TYPE, { key: newStorage.keyId });
  return { user_id: ref.userId, device_id: ref.deviceId, recovery_key: encodeRecoveryKey(key), cross_signing: crossSigning, backup_version: version };
}

/** New cross-signing keys, uploaded (with the password when the server asks), this device signed with them. */
async function bootstrapCrossSigning(session: CryptoSession, password: () => Promise<string>): Promise<void> {
  const { client, ref } = session;
  await session.use(async (engine) => {
    const requests = await engine.machine.bootstrapCrossSigning(true);
    if (requests.uploadKeysRequest) await sendRequest(engine, requests.uploadKeysRequest);
    const keys = JSON.parse(requests.uploadSigningKeysRequest.body) as Record<string, unknown>;
    // The new private keys are on disk before their public halves are on the server.
    await engine.durable();
    await withUserInteractiveAuth(
      (auth) => uploadSigningKeys(client, auth ? { ...keys, auth } : keys),
      passwordStage(ref.userId, password),
      explainMissingStages('uploading cross-signing keys'),
    );
    await sendRequest(engine, requests.uploadSignaturesRequest);
    // The engine learns of the signatures it made from the server, like anyone else.
    await queryKeysNow(engine, [ref.userId]);
  });
}

function uploadSigningKeys(client: MatrixClient, body: Record<string, unknown>): Promise<unknown> {
  return matrixRequest(client, {
    method: 'POST', path: '/_matrix/client/v3/keys/device_signing/upload', body, auth: true, idempotent: true, what: 'upload cross-signing keys',
  });
}

/** A new key backup, its auth data signed by this device and the master key; this device backs up to it from now on. */
async function createSignedBackup(session: CryptoSession): Promise<{ version: string; decryptionKey: string }> {
  const { decryptionKey, authData } = await session.use(async (engine) => {
    const { machine, sdk } = engine;
    const backupKey = sdk.BackupDecryptionKey.createRandomKey();
    const unsigned = { public_key: backupKey.megolmV1PublicKey.publicKeyBase64 };
    // Signed as canonical JSON: one key, so JSON.stringify is canonical.
    const signatures = JSON.parse((await machine.sign(JSON.stringify(unsigned))).asJSON()) as Record<string, unknown>;
    return { decryptionKey: backupKey.toBase64(), authData: { ...unsigned, signatures } };
  });
  const version = await createBackup(session.client, authData);
  await session.startBackup(decryptionKey, { version, publicKey: authData.public_key });
  return { version, decryptionKey };
}

function randomKeyId(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return [...nodeCrypto().randomBytes(32)].map((b) => alphabet[b % alphabet.length]).join('');
}
