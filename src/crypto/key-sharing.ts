/**
 * Sharing a room's key as --share-keys-with says (share-keys-with.ts), and telling which of the
 * members' devices have not got it, and why.
 *
 * `cross-signed` is the engine's identity-based strategy: the key goes to the devices their
 * owners cross-signed; every other device gets an m.room_key.withheld with m.unverified instead
 * (a user with no cross-signing: all their devices). The engine allows it only from a device
 * whose own identity it trusts (this device cross-signed, the account's keys held or verified),
 * and fails it for a user that was verified and changed identity. mx checks both before
 * anything is claimed or sent, to say what to do; and it stops for any member whose identity
 * changed since mx first saw it, verified or not (mx verifies no one interactively, so the
 * engine's own check would never fire for others): new cross-signing keys are how whoever runs
 * a member's server could sign a device of their own and have it trusted.
 *
 * `all` is the engine's all-devices strategy: every device of the members (one marked
 * blacklisted would get m.blacklisted; mx marks none).
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { ExitCode, MxError } from '../errors.js';
import type { ShareKeysWith } from '../share-keys-with.js';
import { sendRequest, type LockedEngine } from './requests.js';
import { identityTrust } from './sender-trust.js';
import { NO_OLM, shareOutcome, type ShareOutcome, type WithheldDevice } from './withheld.js';

/** A device that has not got the room key of a message: the spec's withheld code, and why in words. */
export interface WithheldFrom extends WithheldDevice {
  reason: string;
}

export interface RoomKeyShare {
  roomId: string;
  /** The members whose devices get the key (the user's own among them). */
  members: string[];
  ownUserId: string;
  shareWith: ShareKeysWith;
  /** The engine's settings for the room (rotation, history visibility, collectStrategy's strategy). */
  settings: Sdk.EncryptionSettings;
}

/** The engine's strategy for the setting. */
export function collectStrategy(sdk: typeof Sdk, shareWith: ShareKeysWith): Sdk.CollectStrategy {
  return shareWith === 'all' ? sdk.CollectStrategy.allDevices() : sdk.CollectStrategy.identityBasedStrategy();
}

/**
 * Claims one-time keys for the members' devices mx has no Olm channel with, and shares the
 * room's current key (a new one when the engine rotates it) with the devices the setting allows.
 * Refuses (exit code 9, nothing claimed or sent) where `cross-signed` cannot be kept.
 */
export async function shareRoomKey(engine: LockedEngine, share: RoomKeyShare): Promise<ShareOutcome> {
  const { sdk, machine } = engine;
  const { roomId, members, settings } = share;
  if (share.shareWith === 'cross-signed') await checkCrossSigned(engine, share);
  const users = () => members.map((id) => new sdk.UserId(id));
  const claim = await machine.getMissingSessions(users());
  if (claim) await sendRequest(engine, claim);
  const requests = await machine.shareRoomKey(new sdk.RoomId(roomId), users(), settings);
  for (const request of requests) await sendRequest(engine, request);
  return shareOutcome(requests);
}

/** How a refusal of `cross-signed` ends: the way round it. */
const OTHERWISE = 'or give --share-keys-with all (or MX_SHARE_KEYS_WITH=all) to share with every device of the members: nothing was sent';

/** What `cross-signed` needs: this device trusted by its own account, and no member's identity changed. */
async function checkCrossSigned(engine: LockedEngine, { roomId, members, ownUserId }: RoomKeyShare): Promise<void> {
  const { sdk, machine } = engine;
  await checkOwnDeviceShares(engine, roomId, ownUserId);
  const changed: string[] = [];
  for (const user of members) if (user !== ownUserId && (await identityTrust(sdk, machine, user)) === 'changed') changed.push(user);
  if (changed.length > 0) {
    const whose = changed.join(', ');
    const accept = changed.length === 1 ? `mx crypto trust ${changed[0]}` : 'mx crypto trust USER for each';
    throw new MxError(
      `${roomId}: the identity (cross-signing keys) of ${whose} changed since mx first saw it, so the devices it signs may not be theirs, ` +
        `and by default (--share-keys-with cross-signed) mx shares room keys only with devices of identities it knows: ` +
        `check with them, then accept it with ${accept}, ${OTHERWISE}`,
      ExitCode.encryption,
      { users: changed },
    );
  }
}

/**
 * The half of `cross-signed` that needs no members: this device trusted by its own account (the
 * engine shares by identity only from such a device). Also asked before a file's upload, so that
 * nothing is uploaded for a send that would be refused.
 */
export async function checkOwnDeviceShares(engine: LockedEngine, roomId: string, ownUserId: string): Promise<void> {
  const { sdk, machine } = engine;
  const own = await machine.getIdentity(new sdk.UserId(ownUserId));
  const ownTrusted = own?.isVerified() ?? false;
  own?.free();
  const byDefault = 'by default (--share-keys-with cross-signed) mx shares room keys as Element does, which refuses messages from devices their owners did not cross-sign';
  if (!own) {
    throw new MxError(`${roomId}: this account has no cross-signing, and ${byDefault}: set it up with mx crypto setup, ${OTHERWISE}`, ExitCode.encryption);
  }
  if (!ownTrusted) {
    throw new MxError(`${roomId}: this device is not cross-signed by its owner, and ${byDefault}: verify it with mx crypto recover (the account's recovery key), ${OTHERWISE}`, ExitCode.encryption);
  }
}

/**
 * The devices of `devices` that are still devices of members, each with its reason in words.
 * (A device withheld from a session and deleted since, or of a member who left, is not one.)
 */
export async function currentWithheld(engine: LockedEngine, devices: WithheldDevice[], members: string[]): Promise<WithheldFrom[]> {
  const { sdk, machine } = engine;
  const inRoom = new Set(members);
  const out: WithheldFrom[] = [];
  for (const [user, ofUser] of groupByUser(devices.filter((d) => inRoom.has(d.user_id)))) {
    const userId = () => new sdk.UserId(user);
    const known = await machine.getUserDevices(userId());
    const identity = await machine.getIdentity(userId());
    for (const d of ofUser) {
      const device = known.get(new sdk.DeviceId(d.device_id));
      if (device && !device.isDeleted()) out.push({ ...d, reason: reasonWords(d.code, identity !== undefined) });
      device?.free();
    }
    identity?.free();
    known.free();
  }
  return out;
}

/** The same, without the engine (a re-run's ciphertext, encrypted earlier): members' devices as recorded. */
export function recordedWithheldFrom(devices: WithheldDevice[], members: string[]): WithheldFrom[] {
  const inRoom = new Set(members);
  return devices.filter((d) => inRoom.has(d.user_id)).map((d) => ({ ...d, reason: reasonWords(d.code) }));
}

function groupByUser(devices: WithheldDevice[]): Map<string, WithheldDevice[]> {
  const groups = new Map<string, WithheldDevice[]>();
  for (const d of devices) groups.set(d.user_id, [...(groups.get(d.user_id) ?? []), d]);
  return groups;
}

/** Why a device has no key, in words; `ownerCrossSigns` tells the two cases of m.unverified apart when known. */
function reasonWords(code: string, ownerCrossSigns?: boolean): string {
  switch (code) {
    case 'm.unverified':
      return ownerCrossSigns === false ? 'its owner has no cross-signing' : 'not cross-signed by its owner';
    case NO_OLM:
      return 'no encrypted channel to it: it has no one-time keys on the server';
    case 'm.blacklisted':
      return 'blocked on this device';
    case 'm.unauthorised':
      return 'not authorised to have it';
    case 'm.unavailable':
      return 'the key is not available';
    default:
      return `withheld (${code})`;
  }
}
