/**
 * `mx crypto status`: this device's keys, whether its owner has cross-signed it, and what the
 * account has of cross-signing, secret storage and key backup, with the room keys held here.
 */
import { getAccountData } from '../matrix/account-data.js';
import { currentBackup, readBackupTarget } from './backup.js';
import { queryKeysNow, type LockedEngine } from './requests.js';
import { DEFAULT_KEY_TYPE } from './secret-storage.js';
import type { CryptoSession } from './session.js';

export interface CryptoStatus {
  user_id: string;
  device_id: string;
  /** This device's Ed25519 (signing) and Curve25519 (key agreement) public keys. */
  ed25519: string;
  curve25519: string;
  /** Signed by the account's self-signing key: other users and clients see it as verified by its owner. */
  cross_signed: boolean;
  cross_signing: {
    /** The account has cross-signing keys (a master key on the server). */
    on_account: boolean;
    /** Which of the private keys this device holds (after setup or recover). */
    master: boolean;
    self_signing: boolean;
    user_signing: boolean;
  };
  secret_storage: { on_account: boolean; default_key: string | null };
  backup: {
    /** The account's current backup version, or null when it has none. */
    version: string | null;
    /** The backup version this device uploads new room keys to, or null. */
    backing_up_to: string | null;
  };
  room_keys: { stored: number; backed_up: number };
}

export async function cryptoStatus(session: CryptoSession): Promise<CryptoStatus> {
  const { client, ref } = session;
  const [defaultKey, backup, local] = await Promise.all([
    getAccountData(client, ref.userId, DEFAULT_KEY_TYPE),
    currentBackup(client),
    session.use(async (engine) => {
      const { machine } = engine;
      await queryKeysNow(engine, [ref.userId]);
      const keys = machine.identityKeys;
      const status = await machine.crossSigningStatus();
      const trust = await readOwnTrust(engine, ref);
      const counts = await machine.roomKeyCounts();
      return {
        ed25519: keys.ed25519.toBase64(),
        curve25519: keys.curve25519.toBase64(),
        crossSigned: trust.deviceCrossSigned,
        onAccount: trust.accountHasCrossSigning,
        status: { master: status.hasMaster, self_signing: status.hasSelfSigning, user_signing: status.hasUserSigning },
        counts: { stored: counts.total, backed_up: counts.backedUp },
      };
    }),
  ]);
  const defaultKeyId = typeof defaultKey?.key === 'string' ? defaultKey.key : null;
  return {
    user_id: ref.userId,
    device_id: ref.deviceId,
    ed25519: local.ed25519,
    curve25519: local.curve25519,
    cross_signed: local.crossSigned,
    cross_signing: { on_account: local.onAccount, ...local.status },
    secret_storage: { on_account: defaultKeyId !== null, default_key: defaultKeyId },
    backup: { version: backup?.version ?? null, backing_up_to: readBackupTarget(ref.folder)?.version ?? null },
    room_keys: local.counts,
  };
}

/** Which of the user's devices are cross-signed by the user (device ID -> signed), as the server has them now. */
export async function ownDevicesCrossSigned(session: CryptoSession): Promise<Map<string, boolean>> {
  const { ref } = session;
  return session.use(async (engine) => {
    const { machine, sdk } = engine;
    await queryKeysNow(engine, [ref.userId]);
    const devices = await machine.getUserDevices(new sdk.UserId(ref.userId));
    const signed = new Map<string, boolean>();
    for (const device of devices.devices()) {
      signed.set(device.deviceId.toString(), device.isCrossSignedByOwner());
      device.free();
    }
    devices.free();
    return signed;
  });
}

/** Whether the account has cross-signing, and whether its owner cross-signed this device. */
export interface OwnTrust {
  accountHasCrossSigning: boolean;
  deviceCrossSigned: boolean;
}

/** This device's standing with other users' clients, with the account's keys asked of the server now (after a login, say). */
export async function ownTrust(session: CryptoSession): Promise<OwnTrust> {
  return session.use(async (engine) => {
    await queryKeysNow(engine, [session.ref.userId]);
    return readOwnTrust(engine, session.ref);
  });
}

/** ownTrust inside a lock period that holds the engine already. */
export async function readOwnTrust({ sdk, machine }: LockedEngine, ref: { userId: string; deviceId: string }): Promise<OwnTrust> {
  const identity = await machine.getIdentity(new sdk.UserId(ref.userId));
  const device = await machine.getDevice(new sdk.UserId(ref.userId), new sdk.DeviceId(ref.deviceId));
  const trust = { accountHasCrossSigning: identity !== undefined, deviceCrossSigned: device?.isCrossSignedByOwner() ?? false };
  identity?.free();
  device?.free();
  return trust;
}

/** What this device's standing means for the people it talks to, in words, with the command that changes it. */
export function trustConsequence(trust: OwnTrust, profileName: string | undefined): string {
  const p = profileName ? ` -p ${profileName}` : '';
  if (trust.deviceCrossSigned) {
    return "this device is cross-signed by its owner: other users' clients (Element) share room keys with it and show its messages as verified";
  }
  const effect = "Element users' clients will not share room keys with it (it cannot read their messages) and will not show them its messages";
  return trust.accountHasCrossSigning
    ? `this device is not verified: its owner has not cross-signed it, so ${effect}. To verify it: mx crypto recover${p} (with the account's recovery key)`
    : `this account has no cross-signing, so no device of it is verified: ${effect}. To set it up: mx crypto setup${p}`;
}
