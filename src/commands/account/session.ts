/** Shared by register and login: which homeserver to talk to, and saving the new session. */
import { serverNameOf, type Context } from '../../context.js';
import { ExitCode, MxError, UsageError } from '../../errors.js';
import type { Session } from '../../matrix/account.js';
import { discoverHomeserver } from '../../matrix/discovery.js';
import type { Profile } from '../../profiles/store.js';

/** Options register and login share. */
export const USER_POSITIONAL = { type: 'string', describe: 'localpart (alice) or full user ID (@alice:example.org)' } as const;
export const PASSWORD_STDIN_OPTION = { type: 'boolean', describe: 'read the password from stdin (else MX_PASSWORD, else a prompt)' } as const;
export const DEVICE_NAME_OPTION = { type: 'string', default: 'mx', describe: 'display name of the new device' } as const;

/**
 * --homeserver / MX_HOMESERVER, else the profile's own server (if it serves this user),
 * else discovery from the server name in a full user ID, else the config default.
 */
export async function homeserverForLogin(ctx: Context, profileName: string, user: string | undefined): Promise<string> {
  const explicit = ctx.explicitHomeserver();
  if (explicit) return explicit;
  const serverName = serverNameOf(user);
  const profile = (await ctx.storeData()).profiles[profileName];
  if (profile && (!serverName || serverNameOf(profile.userId) === serverName)) return profile.homeserver;
  if (serverName) return discoverHomeserver(serverName, ctx.plumbing());
  const fromConfig = ctx.configHomeserver();
  if (fromConfig) return fromConfig;
  throw new UsageError('no homeserver: pass --homeserver URL, set MX_HOMESERVER, or give a full user ID (@alice:example.org)');
}

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

/** Stores a fresh session in the profile; the first profile saved becomes the default. */
export async function saveSession(
  ctx: Context,
  profileName: string,
  homeserver: string,
  session: Session,
  extra: Partial<Profile> = {},
): Promise<void> {
  await ctx.store.update((data) => {
    const previous = data.profiles[profileName];
    assertProfileFree(previous, profileName, session.user_id);
    const sameUser = previous?.userId === session.user_id && previous.homeserver === homeserver;
    data.profiles[profileName] = {
      homeserver,
      userId: session.user_id,
      deviceId: session.device_id,
      accessToken: session.access_token,
      ...(session.refresh_token ? { refreshToken: session.refresh_token } : {}),
      ...extra,
      // Stream positions belong to the account: keep them for the same user only.
      ...(sameUser && previous.positions ? { positions: previous.positions } : {}),
    };
    data.defaultProfile ??= profileName;
  });
}

/** What register and login print: never the token. */
export function sessionSummary(profileName: string, homeserver: string, session: Session) {
  return { user_id: session.user_id, device_id: session.device_id, homeserver, profile: profileName };
}
