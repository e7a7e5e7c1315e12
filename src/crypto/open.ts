/**
 * Opening the crypto store of the profile a command acts as. Only a profile's own login has
 * one: a session from MX_ACCESS_TOKEN alone has no keys (it is some device mx knows nothing
 * about), so it can neither encrypt nor decrypt.
 */
import { loadCryptoBuiltins } from '../builtins.js';
import { ExitCode, MxError } from '../errors.js';
import type { Profile, ProfileStore } from '../profiles/store.js';
import type { Session } from '../session.js';
import { withNodeDefaultFlags } from '../v8-flags.js';
import { CryptoSession } from './session.js';
import { trustConsequence } from './status.js';
import { cryptoStoreFolder, decodeCryptoStoreKey, newCryptoStoreKey } from './store-ref.js';

export interface CryptoOwner {
  session: Session;
  store: ProfileStore;
  stateDir: string;
  debug?: (line: string) => void;
  warn: (message: string) => void;
  /** Progress worth a line on stderr (a wait for the store's lock). */
  notice?: (message: string) => void;
}

/**
 * Opens the store (loading the engine). With `catchUp`, the session also catches up with the
 * to-device messages since the store's own position (what a send needs first) in its first
 * lock period: that sync is asked for while the engine loads, not after.
 */
export async function openProfileCrypto(owner: CryptoOwner, options: { catchUp?: boolean } = {}): Promise<CryptoSession> {
  const { session, store, stateDir } = owner;
  if (session.kind !== 'profile') {
    throw new MxError('a session from MX_ACCESS_TOKEN has no encryption keys; use a profile (mx login) for encrypted rooms', ExitCode.encryption);
  }
  const { profileName, profile, client } = session;
  const { userId, deviceId } = profile;
  if (!userId || !deviceId) throw new MxError(`profile "${profileName}" has no device ID; log in again (mx login -p ${profileName})`, ExitCode.encryption);
  // The store's and the glue's built-ins, from Node's own code cache (see v8-flags.ts).
  withNodeDefaultFlags(loadCryptoBuiltins);
  const folder = cryptoStoreFolder(stateDir, userId, deviceId);
  // A profile saved before mx had encryption has no key yet: it gets one now. (Whether the
  // device's keys on the server are this store's is checked when its machine is made: identity.ts.)
  const key = profile.cryptoKey ?? (await saveNewKey(store, profileName, profile));
  const unverifiedDevice = () => owner.warn(trustConsequence({ accountHasCrossSigning: true, deviceCrossSigned: false }, profileName));
  const log = { debug: owner.debug, warn: owner.warn, notice: owner.notice, unverifiedDevice };
  return CryptoSession.open(client, { userId, deviceId, folder, key: decodeCryptoStoreKey(key) }, log, options);
}

async function saveNewKey(store: ProfileStore, profileName: string, profile: Profile): Promise<string> {
  return store.update((data) => {
    const stored = data.profiles[profileName];
    if (!stored || stored.deviceId !== profile.deviceId || stored.userId !== profile.userId) {
      throw new MxError(`profile "${profileName}" changed while mx was using it; run the command again`, ExitCode.temporary);
    }
    return (stored.cryptoKey ??= newCryptoStoreKey());
  });
}
