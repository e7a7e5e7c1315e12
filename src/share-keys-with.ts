/**
 * Whose devices get the room key of a message mx encrypts (`mx send`, `mx react`), from
 * --share-keys-with, else MX_SHARE_KEYS_WITH, else the config's `share_keys_with`, else
 * `cross-signed`:
 *
 * - `cross-signed`: the devices their owners cross-signed, and only from a device its owner
 *   cross-signed, as Element does (MSC4153, "exclude insecure devices"). A device someone else
 *   added to a member's account (a server admin can) gets no key, and a member whose identity
 *   changed stops the send until it is accepted (mx crypto trust).
 * - `all`: every device of the members, for rooms with clients that have no cross-signing.
 *
 * The engine's side of it is crypto/key-sharing.ts; this module is the setting alone, light
 * enough for the config loader.
 */
import { UsageError } from './errors.js';
import { printable } from './matrix/identifiers.js';

export const SHARE_KEYS_WITH = ['cross-signed', 'all'] as const;
export type ShareKeysWith = (typeof SHARE_KEYS_WITH)[number];
export const DEFAULT_SHARE_KEYS_WITH: ShareKeysWith = 'cross-signed';

export function isShareKeysWith(value: unknown): value is ShareKeysWith {
  return (SHARE_KEYS_WITH as readonly unknown[]).includes(value);
}

/** The setting: the flag, else the environment, else the config (checked when it was loaded), else the default. */
export function shareKeysWith(
  flag: string | undefined,
  env: Record<string, string | undefined>,
  config: { share_keys_with?: ShareKeysWith },
): ShareKeysWith {
  if (flag !== undefined) return checked(flag, '--share-keys-with');
  if (env.MX_SHARE_KEYS_WITH) return checked(env.MX_SHARE_KEYS_WITH, 'MX_SHARE_KEYS_WITH');
  return config.share_keys_with ?? DEFAULT_SHARE_KEYS_WITH;
}

function checked(value: string, source: string): ShareKeysWith {
  if (!isShareKeysWith(value)) throw new UsageError(`${source} must be ${SHARE_KEYS_WITH.join(' or ')}, not "${printable(value)}"`);
  return value;
}
