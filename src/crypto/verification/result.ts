/**
 * After a verification is done in the fork: its result applied to the store's own engine, the
 * secrets a new device lacks asked of the device that verified it, and the outcome checked
 * against the server before mx says "verified".
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { processOutgoingRequests, queryKeysNow, sendRequest, type LockedEngine } from '../requests.js';
import { checkedBackup, restoreBackup, signOwnDevice } from '../recovery.js';
import { SECRET_NAMES } from '../secret-storage.js';
import type { CryptoSession } from '../session.js';
import { readOwnTrust } from '../status.js';
import type { EngineFork } from './fork.js';

/** The `done` step: what is now verified, as the server shows it. */
export interface DoneStep {
  step: 'done';
  flow_id: string;
  user_id: string;
  device_id: string;
  /** Their identity (cross-signing) is verified by this account: their events carry identity "verified". */
  identity_verified: boolean;
  /** The device that took part is verified. */
  device_verified: boolean;
  /** Self-verification: this device is now cross-signed by the account. */
  this_device_cross_signed?: boolean;
  /** Self-verification: the secrets received from the other device. */
  secrets?: { cross_signing: boolean; backup: boolean };
  backup?: { version: string; keys: number; imported: number; unreadable: number } | null;
}

/** How long a new device waits for the secrets it asked its other device for. */
const SECRETS_WAIT_MS = 30_000;

/**
 * Sends what the fork still queues (its `done`, its signatures), applies the result to the
 * store's engine, and for a self-verification gets the secrets (`pump` syncs meanwhile, so that
 * the answers, Olm-encrypted to-device messages, reach the store's engine).
 */
export async function settleVerification(
  session: CryptoSession,
  fork: EngineFork,
  request: Sdk.VerificationRequest,
  otherDeviceId: string,
  options: { pump: () => Promise<void>; now: () => number; onProgress: (line: string) => void },
): Promise<DoneStep> {
  await fork.send();
  const { sdk } = fork;
  const userId = request.otherUserId.toString();
  const self = userId === session.ref.userId;
  const forkDevice = await fork.machine.getDevice(new sdk.UserId(userId), new sdk.DeviceId(otherDeviceId));
  const forkIdentity = await fork.machine.getIdentity(new sdk.UserId(userId));
  const deviceTrusted = forkDevice?.isLocallyTrusted() ?? false;
  const identityVerified = forkIdentity?.isVerified() ?? false;
  await session.use(async (engine) => {
    await queryKeysNow(engine, [userId]);
    const { machine } = engine;
    const device = await machine.getDevice(new sdk.UserId(userId), new sdk.DeviceId(otherDeviceId));
    if (device && deviceTrusted && !device.isLocallyTrusted()) await device.setLocalTrust(sdk.LocalTrust.Verified);
    const identity = await machine.getIdentity(new sdk.UserId(userId));
    // The fork signed already (its uploads went out); this engine records it as its own.
    if (identity && identityVerified && !identity.isVerified()) await sendRequest(engine, await identity.verify());
    if (self) {
      await machine.requestMissingSecretsIfNeeded();
      await processOutgoingRequests(engine);
    }
  });
  const done: DoneStep = { step: 'done', flow_id: request.flowId, user_id: userId, device_id: otherDeviceId, identity_verified: false, device_verified: false };
  if (self) Object.assign(done, await receiveSecrets(session, options));
  return { ...done, ...(await checkOnServer(session, userId, otherDeviceId, self)) };
}

/** Waits for the cross-signing keys and the backup key, imports them, signs this device and restores the backup. */
async function receiveSecrets(session: CryptoSession, options: { pump: () => Promise<void>; now: () => number; onProgress: (line: string) => void }): Promise<Pick<DoneStep, 'secrets' | 'backup'>> {
  const deadline = options.now() + SECRETS_WAIT_MS;
  let held = await heldSecrets(session);
  while ((!held.crossSigning || !held.backupKey) && options.now() < deadline) {
    await options.pump();
    held = await heldSecrets(session);
  }
  const { ref } = session;
  if (held.selfSigning) {
    await session.use(async (engine) => {
      const trust = await readOwnTrust(engine, ref);
      if (!trust.deviceCrossSigned) await signOwnDevice(engine, ref.userId, ref.deviceId);
    });
  }
  let backup: DoneStep['backup'] = null;
  const target = held.backupKey ? await checkedBackup(session, held.backupKey).catch((error: unknown) => {
    options.onProgress(`the backup key received does not open the account's key backup: ${(error as Error).message}`);
    return undefined;
  }) : undefined;
  if (held.backupKey && target) {
    await session.startBackup(held.backupKey, target);
    options.onProgress(`downloading the key backup (version ${target.version})`);
    backup = { version: target.version, ...(await restoreBackup(session, held.backupKey, target.version)) };
    await session.use(({ machine }) => machine.deleteSecretsFromInbox(SECRET_NAMES.backup));
  }
  return { secrets: { cross_signing: held.crossSigning, backup: Boolean(held.backupKey) }, backup };
}

async function heldSecrets(session: CryptoSession): Promise<{ crossSigning: boolean; selfSigning: boolean; backupKey: string | undefined }> {
  return session.use(async ({ machine }) => {
    const status = await machine.crossSigningStatus();
    const [backupKey] = [...(await machine.getSecretsFromInbox(SECRET_NAMES.backup))];
    return { crossSigning: status.hasMaster && status.hasSelfSigning && status.hasUserSigning, selfSigning: status.hasSelfSigning, backupKey };
  });
}

/** What the server's keys (asked now) and this engine say is verified. */
async function checkOnServer(session: CryptoSession, userId: string, deviceId: string, self: boolean): Promise<Pick<DoneStep, 'identity_verified' | 'device_verified' | 'this_device_cross_signed'>> {
  return session.use(async (engine: LockedEngine) => {
    const { sdk, machine } = engine;
    await queryKeysNow(engine, [userId]);
    const identity = await machine.getIdentity(new sdk.UserId(userId));
    const device = await machine.getDevice(new sdk.UserId(userId), new sdk.DeviceId(deviceId));
    const checked = { identity_verified: identity?.isVerified() ?? false, device_verified: device?.isVerified() ?? false };
    return self ? { ...checked, this_device_cross_signed: (await readOwnTrust(engine, session.ref)).deviceCrossSigned } : checked;
  });
}
