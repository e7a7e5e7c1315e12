/**
 * A device that is gone on the server (logged out, deleted) is forgotten here: its token and
 * key leave the profile and its crypto store is deleted. Used by logout, device delete and
 * profile rm.
 */
import type { Context } from '../../context.js';
import { deleteCryptoStore } from '../../crypto/store-ref.js';
import { MxError } from '../../errors.js';
import { currentToken } from '../../matrix/http.js';
import type { Profile } from '../../profiles/store.js';
import type { Session } from '../../session.js';

/** Deletes the crypto store of a device that is gone (logged out, or its profile removed). */
export function retireDevice(ctx: Context, profile: Profile | undefined): void {
  if (profile?.userId && profile.deviceId) deleteCryptoStore(ctx.paths.stateDir, profile.userId, profile.deviceId);
}

/**
 * Before the session's device goes on the server (a logout, its deletion): fails, and nothing
 * is done there, when forgetDevice could not save the profile then (a read-only store), which
 * would leave it holding a dead token.
 */
export async function assertDeviceForgettable(ctx: Context, session: Session): Promise<void> {
  // A bare token (MX_ACCESS_TOKEN): there is no profile to forget it in.
  if (session.kind === 'profile') await ctx.store.assertWritable('nothing was done on the server');
}

/**
 * The session's device is gone on the server: its token, device and crypto store key leave the
 * profile, and the crypto store is deleted. The profile keeps its homeserver and user, so
 * `mx login -p NAME` logs in again. Nothing happens for a bare token.
 */
export async function forgetDevice(ctx: Context, session: Session): Promise<void> {
  if (session.kind !== 'profile') return;
  const { profileName, profile, client } = session;
  await ctx.store.update((data) => {
    const stored = data.profiles[profileName];
    // Only the login that went (its token may have been refreshed since the command started):
    // another mx may have logged in again meanwhile.
    if (stored?.accessToken === currentToken(client) || stored?.accessToken === client.accessToken) {
      delete stored.accessToken;
      delete stored.refreshToken;
      delete stored.accessTokenExpiresAt;
      delete stored.deviceId;
      delete stored.cryptoKey;
    }
  }).catch((error: unknown) => {
    // Checked writable before (assertDeviceForgettable), and failed since: say what is where.
    if (!(error instanceof MxError)) throw error;
    throw new MxError(
      `the server has logged device ${profile.deviceId ?? '(unknown)'} out, but profile "${profileName}" could not be saved (${error.message}): ` +
        `it still holds the dead token; once the store can be written, run mx logout -p ${profileName} to clear it`,
      error.exitCode, error.details, { cause: error },
    );
  });
  retireDevice(ctx, profile);
}
