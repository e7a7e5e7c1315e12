/**
 * Who a command acts as, decided in one place: which profile, which homeserver, which token,
 * and so which user and device. The answer is a Session of one of two kinds:
 *
 * - a profile's own login (`kind: 'profile'`): the token is the profile's, so its user and
 *   device are the profile's, and its stream positions and crypto store are this session's;
 * - a bare token (`kind: 'token'`, from MX_ACCESS_TOKEN) that is not a stored profile's login:
 *   no profile at all. Its user is whoever the server says it is; it has no positions to move
 *   and no crypto store.
 *
 * A stored profile is reachable only through the first kind, so no command can take a
 * profile's user, positions or keys for a token that belongs to someone else.
 */
import { ExitCode, MxError, UsageError } from './errors.js';
import { getTokenOwner } from './matrix/account.js';
import { discoverHomeserver } from './matrix/discovery.js';
import { normalizeHomeserverUrl } from './matrix/homeserver-url.js';
import type { MatrixClient } from './matrix/http.js';
import { parseUserId } from './matrix/identifiers.js';
import { isTokenText } from './profiles/check.js';
import type { MxConfig } from './profiles/config.js';
import { profileIn, selectProfileName, type Profile, type ProfileStore, type StoreData } from './profiles/store.js';
import { ProfileTokens } from './profiles/tokens.js';

/** The user and device a token belongs to. */
export interface Identity {
  userId: string;
  deviceId: string | undefined;
}

interface SessionBase {
  /** The homeserver and the token in use. */
  readonly client: MatrixClient & { accessToken: string };
  /** Who the token is: the profile says for its own login, else the server is asked (once). */
  whoAmI(): Promise<Identity>;
}

/** A profile's own login: its token, its user and device, its stream positions and crypto store. */
export interface ProfileSession extends SessionBase {
  readonly kind: 'profile';
  readonly profileName: string;
  readonly profile: Profile & { accessToken: string };
}

/** A token from MX_ACCESS_TOKEN that is no stored profile's login: no profile, no positions, no keys. */
export interface TokenSession extends SessionBase {
  readonly kind: 'token';
}

export type Session = ProfileSession | TokenSession;

/** The profile whose positions and crypto store a session uses: only a profile's own login has one. */
export function ownProfile(session: Session): string | undefined {
  return session.kind === 'profile' ? session.profileName : undefined;
}

/** What the environment says: a token with a homeserver, which needs no files (CI), read no config and no store. */
export function needsNoFiles(flags: { homeserver?: string }, env: Record<string, string | undefined>): boolean {
  return Boolean(env.MX_ACCESS_TOKEN) && Boolean(flags.homeserver || env.MX_HOMESERVER);
}

export interface SessionSources {
  flags: { profile?: string; homeserver?: string };
  env: Record<string, string | undefined>;
  config: MxConfig;
  /** The profile store, and what it held when this command first read it. */
  store: () => ProfileStore;
  storeData: () => Promise<StoreData>;
  /** The HTTP plumbing of this process, for the session's client. */
  plumbing: () => Omit<MatrixClient, 'baseUrl'>;
  now: () => number;
  warn: (message: string) => void;
}

/** Decides, from flags, environment, config and the store, which profile and homeserver, and who. */
export class SessionResolver {
  constructor(private readonly sources: SessionSources) {}

  /** The profile named by --profile, MX_PROFILE or the config, checked; undefined when none is. */
  namedProfile(): string | undefined {
    const { flags, env, config } = this.sources;
    const named = flags.profile || env.MX_PROFILE || config.profile;
    return named === undefined ? undefined : selectProfileName({ flag: flags.profile, env, config });
  }

  /** The profile this command is about: the one named, else the store's default. */
  async profileName(): Promise<string> {
    const { flags, env, config } = this.sources;
    // The store is read only when nothing names the profile, to find the default one.
    const data = this.namedProfile() === undefined ? await this.sources.storeData() : undefined;
    return selectProfileName({ flag: flags.profile, env, config, data });
  }

  /** A homeserver URL named by --homeserver or MX_HOMESERVER, normalised. */
  explicitHomeserver(): string | undefined {
    const { flags, env } = this.sources;
    const [raw, source] = flags.homeserver ? [flags.homeserver, '--homeserver'] : [env.MX_HOMESERVER, 'MX_HOMESERVER'];
    return raw ? this.homeserverUrl(raw, source) : undefined;
  }

  configHomeserver(): string | undefined {
    const { homeserver } = this.sources.config;
    return homeserver ? this.homeserverUrl(homeserver, 'config "homeserver"') : undefined;
  }

  /**
   * The homeserver for register and login: --homeserver / MX_HOMESERVER, else the profile's own
   * server (if it serves this user), else discovery from the server name in a full user ID,
   * else the config default.
   */
  async loginHomeserver(profileName: string, user: string | undefined): Promise<string> {
    const explicit = this.explicitHomeserver();
    if (explicit) return explicit;
    const serverName = serverNameOf(user);
    const profile = profileIn(await this.sources.storeData(), profileName);
    if (profile && (!serverName || serverNameOf(profile.userId) === serverName)) return profile.homeserver;
    if (serverName) return discoverHomeserver(serverName, this.sources.plumbing());
    const fromConfig = this.configHomeserver();
    if (fromConfig) return fromConfig;
    throw new UsageError('no homeserver: pass --homeserver URL, set MX_HOMESERVER, or give a full user ID (@alice:example.org)');
  }

  /**
   * Who a command that acts as a user acts as. MX_ACCESS_TOKEN (with MX_HOMESERVER or
   * --homeserver) needs no files at all, for CI; otherwise the profile, or the profile's
   * homeserver for a token of the environment.
   */
  async session(): Promise<Session> {
    const { env } = this.sources;
    const explicitUrl = this.explicitHomeserver();
    const envToken = env.MX_ACCESS_TOKEN;
    // Else refused in the request as a network error, which is retried.
    if (envToken && !isTokenText(envToken)) throw new UsageError('MX_ACCESS_TOKEN holds spaces or control characters (a line break?): set it to the token alone');
    if (needsNoFiles(this.sources.flags, env)) {
      // No file is read (main.ts), but a profile named anyway must still be a valid name.
      this.namedProfile();
      return this.tokenSession(explicitUrl!, envToken!);
    }
    const profileName = await this.profileName();
    const profile = profileIn(await this.sources.storeData(), profileName);
    if (envToken) {
      // The profile's own token given again is its login; any other is a bare token.
      if (profile?.accessToken === envToken) return this.profileSession(profileName, { ...profile, accessToken: envToken }, { refresh: false });
      const baseUrl = profile?.homeserver ?? this.configHomeserver();
      if (!baseUrl) throw new UsageError('MX_ACCESS_TOKEN is set but no homeserver is: set MX_HOMESERVER or pass --homeserver');
      return this.tokenSession(baseUrl, envToken);
    }
    if (!profile) {
      if (this.sources.flags.profile || env.MX_PROFILE) throw new MxError(`no profile named "${profileName}" (mx profile list shows them)`, ExitCode.notFound);
      throw new MxError('not logged in: run mx login or mx register first', ExitCode.auth);
    }
    if (!profile.accessToken) {
      throw new MxError(`profile "${profileName}" is logged out: run mx login -p ${profileName}`, ExitCode.auth);
    }
    // A stored token belongs to its homeserver: never send it anywhere else.
    if (explicitUrl && explicitUrl !== profile.homeserver) {
      throw new UsageError(
        `profile "${profileName}" belongs to ${profile.homeserver}, not ${explicitUrl}; mx will not send its token elsewhere (use another --profile)`,
      );
    }
    return this.profileSession(profileName, { ...profile, accessToken: profile.accessToken }, { refresh: true });
  }

  /** `refresh`: keep an expiring login alive with its refresh token (never for a token given as MX_ACCESS_TOKEN). */
  private profileSession(profileName: string, profile: Profile & { accessToken: string }, { refresh }: { refresh: boolean }): ProfileSession {
    const { store, plumbing, now } = this.sources;
    const client: ProfileSession['client'] = {
      ...plumbing(), baseUrl: profile.homeserver, accessToken: profile.accessToken, reloginHint: `run mx login -p ${profileName}`,
    };
    // A login whose token expires is kept alive with its refresh token (profiles/tokens.ts).
    if (refresh && (profile.refreshToken || profile.accessTokenExpiresAt !== undefined)) {
      client.tokens = new ProfileTokens(store(), profileName, profile, { ...plumbing(), baseUrl: profile.homeserver }, now);
    }
    const { userId, deviceId } = profile;
    const known = userId && deviceId ? Promise.resolve({ userId, deviceId }) : undefined;
    return { kind: 'profile', profileName, profile, client, whoAmI: memoized(() => known ?? askServer(client)) };
  }

  private tokenSession(baseUrl: string, accessToken: string): TokenSession {
    const client = { ...this.sources.plumbing(), baseUrl, accessToken };
    return { kind: 'token', client, whoAmI: memoized(() => askServer(client)) };
  }

  private homeserverUrl(raw: string, source: string): string {
    const { url, warning } = normalizeHomeserverUrl(raw, source);
    if (warning) this.sources.warn(warning);
    return url;
  }
}

async function askServer(client: MatrixClient): Promise<Identity> {
  const owner = await getTokenOwner(client);
  return { userId: owner.user_id, deviceId: owner.device_id };
}

function memoized<T>(fn: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | undefined;
  return () => (value ??= fn());
}

/** The server name of a user ID, or undefined for a bare localpart. */
function serverNameOf(userId: string | undefined): string | undefined {
  return userId?.startsWith('@') ? parseUserId(userId).serverName : undefined;
}
