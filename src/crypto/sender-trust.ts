/**
 * What mx can say of who sent a decrypted event: whether the sending device is cross-signed by
 * its owner, and whether mx trusts the owner's identity (their cross-signing master key):
 *
 * - `verified`: this user verified it (signed it with their user-signing key; for the user's own
 *   identity: mx holds its private keys or verified it);
 * - `unverified`: known, not verified, and unchanged since mx first saw it;
 * - `changed`: it is not the one mx saw first (new cross-signing keys, or a verified identity
 *   replaced): the sender may be someone else. Reported once per user on stderr, and kept
 *   `changed` until the user accepts it (`mx crypto trust USER`);
 * - `none`: the sender has no cross-signing identity.
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { queryKeysNow } from './requests.js';
import type { CryptoSession } from './session.js';

export type IdentityTrust = 'verified' | 'unverified' | 'changed' | 'none';

export class SenderTrust {
  /** Per `user|device`, per machine: the check verifies signatures, too slow to repeat per event. */
  private readonly devices = new Map<string, boolean>();
  private readonly identities = new Map<string, IdentityTrust>();
  /** Users whose changed identity was reported: once per process, whatever the machine. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly sdk: typeof Sdk,
    private readonly warn: (message: string) => void,
  ) {}

  async deviceVerified(machine: Sdk.OlmMachine, userId: string, deviceId: string): Promise<boolean> {
    const key = `${userId}|${deviceId}`;
    let verified = this.devices.get(key);
    if (verified === undefined) {
      const device = await machine.getDevice(new this.sdk.UserId(userId), new this.sdk.DeviceId(deviceId));
      verified = device?.isCrossSignedByOwner() ?? false;
      device?.free();
      this.devices.set(key, verified);
    }
    return verified;
  }

  async identity(machine: Sdk.OlmMachine, userId: string): Promise<IdentityTrust> {
    let trust = this.identities.get(userId);
    if (trust === undefined) {
      trust = await identityTrust(this.sdk, machine, userId);
      this.identities.set(userId, trust);
      if (trust === 'changed' && !this.reported.has(userId)) {
        this.reported.add(userId);
        this.warn(
          `${userId}'s identity (cross-signing keys) changed since mx first saw it: their events are marked "identity":"changed"; ` +
            `if you know why (a new login that reset their keys), accept it with mx crypto trust ${userId}`,
        );
      }
    }
    return trust;
  }

  /** A new machine: what the old one said may be out of date. */
  reset(): void {
    this.devices.clear();
    this.identities.clear();
  }
}

/** The engine's view of a user's identity, as one of IdentityTrust. */
export async function identityTrust(sdk: typeof Sdk, machine: Sdk.OlmMachine, userId: string): Promise<IdentityTrust> {
  const identity = await machine.getIdentity(new sdk.UserId(userId));
  if (!identity) return 'none';
  try {
    if (identity instanceof sdk.OtherUserIdentity && (identity.identityNeedsUserApproval() || identity.hasVerificationViolation())) return 'changed';
    if (identity instanceof sdk.OwnUserIdentity && identity.hasVerificationViolation()) return 'changed';
    return identity.isVerified() ? 'verified' : 'unverified';
  } finally {
    identity.free();
  }
}

/**
 * Accepts a user's current identity (`mx crypto trust USER`): a changed one becomes the one mx
 * knows (and a verification of the old one is withdrawn). Returns what it was before.
 */
export async function acceptIdentity(session: CryptoSession, userId: string): Promise<IdentityTrust> {
  return session.use(async (engine) => {
    const { machine, sdk } = engine;
    await queryKeysNow(engine, [userId]);
    const before = await identityTrust(sdk, machine, userId);
    const identity = await machine.getIdentity(new sdk.UserId(userId));
    if (identity) {
      if (identity.hasVerificationViolation()) await identity.withdrawVerification();
      if (identity instanceof sdk.OtherUserIdentity && identity.identityNeedsUserApproval()) await identity.pinCurrentMasterKey();
      identity.free();
    }
    return before;
  });
}
