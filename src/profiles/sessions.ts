/** Saving a new login (register, login) in a profile, without ever losing another user's token. */
import { ExitCode, MxError } from '../errors.js';
import { logout, type Session } from '../matrix/account.js';
import type { MatrixClient } from '../matrix/http.js';
import { printable } from '../matrix/identifiers.js';
import { newCryptoStoreKey } from '../crypto/store-ref.js';
import { profileProblem } from './check.js';
import { profileIn, type Profile, type ProfileStore, type StoreData } from './store.js';

/**
 * Refuses to replace a profile that holds a live token for another user: that token would
 * be lost. Checked before the request and again under the store lock when saving.
 */
export function assertProfileFree(profile: Profile | undefined, profileName: string, userId: string | undefined): void {
  if (profile?.accessToken && profile.userId && userId !== profile.userId) {
    throw new MxError(
      `profile "${profileName}" is logged in as ${profile.userId}; use -p NAME for another profile, or mx logout -p ${profileName} first`,
      ExitCode.conflict,
    );
  }
}

/** A device another profile has: a login that met it must not log it out (that would end the other profile's session). */
class DeviceInUseError extends MxError {}

/**
 * One device, one profile. A device's crypto store (its identity and room keys) is opened with
 * the key of the profile that logged the device in; a second profile on the same device (a
 * token copied from one with `login --with-token`, or `--device-id` of another profile's
 * device) could not open it, and a logout of either would end the device for both. Refused,
 * naming the profile that has the device.
 */
export function assertDeviceFree(data: StoreData, profileName: string, homeserver: string, userId: string, deviceId: string): void {
  for (const [name, other] of Object.entries(data.profiles)) {
    if (name !== profileName && other.homeserver === homeserver && other.userId === userId && other.deviceId === deviceId) {
      throw new DeviceInUseError(
        `device ${deviceId} of ${userId} is already profile "${name}"'s: use -p ${name}, or log in for a new device ` +
          '(two profiles cannot share a device: its encryption keys belong to one)',
        ExitCode.conflict,
      );
    }
  }
}

/**
 * Stores a fresh session in the profile; the first profile saved becomes the default. Returns
 * the profile as it was before (undefined if new), so that the caller can retire what belonged
 * to a device the profile no longer uses (its crypto store).
 */
export async function saveSession(
  store: ProfileStore,
  profileName: string,
  homeserver: string,
  session: Session,
  now: number,
  extra: Partial<Profile> = {},
): Promise<Profile | undefined> {
  return store.update((data) => {
    const previous = profileIn(data, profileName);
    assertProfileFree(previous, profileName, session.user_id);
    assertDeviceFree(data, profileName, homeserver, session.user_id, session.device_id);
    const sameUser = previous?.userId === session.user_id && previous.homeserver === homeserver;
    const sameDevice = sameUser && previous.deviceId === session.device_id;
    const profile: Profile = {
      homeserver,
      userId: session.user_id,
      // A token adopted with --with-token from a server that names no device has none.
      ...(session.device_id ? { deviceId: session.device_id } : {}),
      accessToken: session.access_token,
      ...tokenLifetime(session, now),
      // The same device (a login with --device-id) keeps its crypto store and so its identity.
      cryptoKey: sameDevice && previous.cryptoKey ? previous.cryptoKey : newCryptoStoreKey(),
      ...extra,
      // Stream positions belong to the account: keep them for the same user only.
      ...(sameUser && previous.positions ? { positions: previous.positions } : {}),
    };
    // What the server answered is checked as a profile read back would be.
    const problem = profileProblem(profileName, profile);
    if (problem) throw new MxError(`the homeserver's answer cannot be saved as profile "${profileName}": ${problem}`, ExitCode.failure);
    data.profiles[profileName] = profile;
    data.defaultProfile ??= profileName;
    return previous && { ...previous };
  });
}

/**
 * saveSession for a login the server has just made (login, register; the caller checked the
 * store with assertWritable first). When saving fails all the same, the new device is logged
 * out again, so that no device that no profile knows is left on the server, and the error says
 * whether that worked.
 */
export async function saveNewSession(
  client: MatrixClient,
  store: ProfileStore,
  profileName: string,
  session: Session,
  now: number,
  extra: Partial<Profile> = {},
): Promise<Profile | undefined> {
  try {
    return await saveSession(store, profileName, client.baseUrl, session, now, extra);
  } catch (error) {
    if (error instanceof DeviceInUseError) throw error;
    const undone = await logout({ ...client, accessToken: session.access_token }, false).then(() => true, () => false);
    if (!(error instanceof MxError)) throw error;
    // The server's own words, which may be anything: shown short and on one line.
    const [deviceId, userId] = [printable(session.device_id), printable(session.user_id)];
    const device = `the new login (device ${deviceId} of ${userId})`;
    const outcome = undone
      ? `${device} was logged out again`
      : `${device} could not be logged out again: delete it with mx device delete ${deviceId} from another login`;
    throw new MxError(`${error.message}; ${outcome}`, error.exitCode, error.details, { cause: error });
  }
}

/** What register and login print: never the token. */
export function sessionSummary(profileName: string, homeserver: string, session: Session) {
  return { user_id: session.user_id, device_id: session.device_id, homeserver, profile: profileName };
}

/** The refresh token and the access token's expiry of a login, register or refresh answer (none for a token that does not expire). */
export function tokenLifetime(answer: { refresh_token?: string; expires_in_ms?: number }, now: number): Pick<Profile, 'refreshToken' | 'accessTokenExpiresAt'> {
  return {
    ...(typeof answer.refresh_token === 'string' ? { refreshToken: answer.refresh_token } : {}),
    ...(typeof answer.expires_in_ms === 'number' && answer.expires_in_ms > 0 ? { accessTokenExpiresAt: now + answer.expires_in_ms } : {}),
  };
}
