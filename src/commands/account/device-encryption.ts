/** A new login's (or registration's) device gets its encryption: used by login and register. */
import type { Context } from '../../context.js';
import { restoreDeviceKeys } from '../../crypto/device-keys.js';
import { deleteCryptoStore } from '../../crypto/store-ref.js';
import { ExitCode, MxError } from '../../errors.js';
import type { Profile } from '../../profiles/store.js';

/**
 * After a login or registration saved `profileName`: retires the crypto store of the device the
 * profile used before (when the device changed: that one is not this profile's any more) and
 * sets up the new device's, which uploads its keys. A failure here does not undo the login
 * (warned): the keys then go up at the device's first encrypted use. Whether it was set up.
 */
export async function startDeviceEncryption(ctx: Context, profileName: string, previous: Profile | undefined): Promise<boolean> {
  const data = await ctx.rereadStore();
  const profile = data.profiles[profileName];
  const sameDevice = previous?.userId === profile?.userId && previous?.deviceId === profile?.deviceId;
  if (previous?.userId && previous.deviceId && !sameDevice) {
    deleteCryptoStore(ctx.paths.stateDir, previous.userId, previous.deviceId);
  }
  try {
    const crypto = await ctx.crypto(await ctx.session(), { catchUp: true });
    await crypto.catchUp();
    // The same device again (--device-id) after it was deleted on the server: its keys go back up.
    if (sameDevice && (await restoreDeviceKeys(crypto))) {
      ctx.debug?.(`crypto: device ${profile?.deviceId} had no keys on the server; uploaded its keys again`);
    }
    return true;
  } catch (error) {
    if (!(error instanceof MxError) || error.exitCode === ExitCode.localState) throw error;
    ctx.warn(`could not set up encryption for this device yet (${error.message}); mx will at its first encrypted use`);
    return false;
  }
}
