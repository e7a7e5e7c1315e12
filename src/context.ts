/**
 * What every command gets: the io, the global flags, the output writer, the profile store
 * and config, and the rules that turn them into "which homeserver, as whom".
 */
import { restoreDeviceKeys } from './crypto/device-keys.js';
import { openProfileCrypto } from './crypto/open.js';
import type { CryptoSession } from './crypto/session.js';
import { deleteCryptoStore } from './crypto/store-ref.js';
import { ExitCode, MxError, UsageError } from './errors.js';
import type { Dispatcher } from 'undici';
import type { Io } from './io.js';
import type { NetworkSettings } from './network-settings.js';
import { getTokenOwner } from './matrix/account.js';
import { RoomSender, type Target } from './messages/deliver.js';
import { discoverHomeserver } from './matrix/discovery.js';
import { normalizeHomeserverUrl } from './matrix/homeserver-url.js';
import { currentToken, DEFAULT_RETRY_POLICY, type MatrixClient } from './matrix/http.js';
import { parseUserId } from './matrix/identifiers.js';
import { isTokenText } from './profiles/check.js';
import type { MxConfig } from './profiles/config.js';
import type { MxPaths } from './profiles/paths.js';
import { ProfileTokens } from './profiles/tokens.js';
import { ProfileStore, profileIn, selectProfileName, type Profile, type StoreData } from './profiles/store.js';
import type { OutputFormat } from './output/format.js';
import { Output } from './output/output.js';

/** Options every command accepts. */
export interface GlobalArgs {
  profile?: string;
  homeserver?: string;
  output?: OutputFormat;
  debug?: boolean;
  config?: string;
  /** Retries of one request after a rate limit or a transient failure (--retries / MX_RETRIES). */
  retries?: number;
  /** Seconds (network-settings.ts resolves these with their MX_ variables and the config). */
  maxTime?: number;
  connectTimeout?: number;
  cacert?: string;
}

export interface AuthedSession {
  client: MatrixClient & { accessToken: string };
  /** The profile acted as; undefined when the session comes from MX_HOMESERVER + MX_ACCESS_TOKEN alone. */
  profileName: string | undefined;
  profile: Profile | undefined;
  /**
   * The profile whose saved stream positions this session reads and moves: the profile's own
   * login only (an MX_ACCESS_TOKEN may be another user's or device's), else undefined.
   */
  positionProfile: string | undefined;
}

export class Context {
  readonly out: Output;
  private profileStore: ProfileStore | undefined;

  constructor(
    readonly io: Io,
    readonly global: GlobalArgs,
    readonly config: MxConfig,
    private readonly paths: MxPaths,
    private readonly transport: { dispatcher: Dispatcher; network: NetworkSettings },
  ) {
    this.out = new Output(io, global.output ?? config.output, global.debug);
  }

  /** Writes one debug line to stderr; undefined unless --debug. */
  get debug(): ((line: string) => void) | undefined {
    return this.out.debug;
  }

  /**
   * The profile store. The first use checks its folder: one that other users can read (an
   * MX_CONFIG_DIR made with a loose umask, say) gets a warning, as ssh gives for its keys.
   */
  get store(): ProfileStore {
    if (!this.profileStore) {
      this.profileStore = new ProfileStore(this.paths.storeFile, { onLockWait: (message) => this.out.notice(message) });
      const problem = this.profileStore.exposure();
      if (problem) this.warn(problem);
    }
    return this.profileStore;
  }

  private snapshot: Promise<StoreData> | undefined;

  /**
   * The profile store as this command first read it: one read per command, however many
   * lookups it makes. Updates go through store.update, which re-reads under its lock.
   */
  storeData(): Promise<StoreData> {
    return (this.snapshot ??= this.store.read());
  }

  warn(message: string): void {
    this.out.warn(message);
  }

  private cryptoSession: Promise<CryptoSession> | undefined;

  /**
   * The crypto store of the session's device, opened once per command (loading the engine);
   * exit code 9 when the session has none (MX_ACCESS_TOKEN alone). main() closes it.
   * `catchUp` (for the first opening): ask for the to-device messages since the store's position
   * while the engine loads; the first use of the store processes them (see session.ts).
   */
  crypto(session: AuthedSession, options: { catchUp?: boolean } = {}): Promise<CryptoSession> {
    return (this.cryptoSession ??= openProfileCrypto({
      client: session.client,
      profileName: session.positionProfile,
      profile: session.profile,
      store: this.store,
      stateDir: this.paths.stateDir,
      debug: this.debug,
      warn: (message) => this.warn(message),
      notice: (message) => this.out.notice(message),
    }, options));
  }

  /**
   * After a login or registration saved `profileName`: retires the crypto store of the device the
   * profile used before (when the device changed: that one is not this profile's any more) and
   * sets up the new device's, which uploads its keys. A failure here does not undo the login
   * (warned): the keys then go up at the device's first encrypted use.
   */
  async startEncryption(profileName: string, previous: Profile | undefined): Promise<void> {
    const data = await this.store.read();
    const profile = data.profiles[profileName];
    const sameDevice = previous?.userId === profile?.userId && previous?.deviceId === profile?.deviceId;
    if (previous?.userId && previous.deviceId && !sameDevice) {
      deleteCryptoStore(this.paths.stateDir, previous.userId, previous.deviceId);
    }
    this.snapshot = Promise.resolve(data);
    try {
      const crypto = await this.crypto(await this.session(), { catchUp: true });
      await crypto.catchUp();
      // The same device again (--device-id) after it was deleted on the server: its keys go back up.
      if (sameDevice && (await restoreDeviceKeys(crypto))) {
        this.debug?.(`crypto: device ${profile?.deviceId} had no keys on the server; uploaded its keys again`);
      }
    } catch (error) {
      if (!(error instanceof MxError) || error.exitCode === ExitCode.localState) throw error;
      this.warn(`could not set up encryption for this device yet (${error.message}); mx will at its first encrypted use`);
    }
  }

  /**
   * Who and which device the session's token is: the profile's own login says, else (a token
   * from MX_ACCESS_TOKEN) the server is asked, once per command.
   */
  whoAmI(session: AuthedSession): Promise<{ userId: string; deviceId: string | undefined }> {
    const { profile, client } = session;
    if (profile?.userId && profile.deviceId && profile.accessToken === client.accessToken) {
      return Promise.resolve({ userId: profile.userId, deviceId: profile.deviceId });
    }
    return (this.tokenOwner ??= getTokenOwner(client).then((owner) => ({ userId: owner.user_id, deviceId: owner.device_id })));
  }

  private tokenOwner: Promise<{ userId: string; deviceId: string | undefined }> | undefined;

  /** Sends events to a room as this session, encrypting with its crypto store where the room is encrypted. */
  roomSender(session: AuthedSession, target: Target): RoomSender {
    return new RoomSender(session.client, target, () => this.crypto(session, { catchUp: true }), this.io.now);
  }

  /** Deletes the crypto store of a device that is gone (logged out, or its profile removed). */
  retireDevice(profile: Profile | undefined): void {
    if (profile?.userId && profile.deviceId) deleteCryptoStore(this.paths.stateDir, profile.userId, profile.deviceId);
  }

  /**
   * Before the session's device goes on the server (a logout, its deletion): fails, and nothing
   * is done there, when forgetDevice could not save the profile then (a read-only store), which
   * would leave it holding a dead token.
   */
  async assertDeviceForgettable(session: AuthedSession): Promise<void> {
    // Not the profile's own login (MX_ACCESS_TOKEN): there is nothing to forget.
    if (session.positionProfile) await this.store.assertWritable('nothing was done on the server');
  }

  /**
   * The session's device is gone on the server (logged out, or deleted): its token, device and
   * crypto store key leave the profile, and the crypto store is deleted. The profile keeps its
   * homeserver and user, so `mx login -p NAME` logs in again. Nothing happens for a session
   * that is not the profile's own login (MX_ACCESS_TOKEN).
   */
  async forgetDevice(session: AuthedSession): Promise<void> {
    const { profileName, profile, client } = session;
    if (!profileName || !profile || client.accessToken !== profile.accessToken) return;
    await this.store.update((data) => {
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
    this.retireDevice(profile);
  }

  /** Closes what the command opened (its crypto store). */
  async close(): Promise<void> {
    const crypto = this.cryptoSession;
    this.cryptoSession = undefined;
    if (crypto) await (await crypto.catch(() => undefined))?.close();
  }

  /** The HTTP plumbing of this process, for building a MatrixClient. */
  plumbing(): Omit<MatrixClient, 'baseUrl'> {
    const { retries } = this.global;
    const { maxTime } = this.transport.network;
    return {
      dispatcher: this.transport.dispatcher,
      // --max-time in a stream (tail): how long a long poll may stay silent past its timeout.
      ...(maxTime ? { longPollMarginMs: maxTime.ms } : {}),
      sleep: this.io.sleep,
      signal: this.io.signal,
      debug: this.debug,
      ...(retries === undefined ? {} : { retry: { ...DEFAULT_RETRY_POLICY, rateLimitRetries: retries, transientRetries: retries } }),
    };
  }

  /** The profile named by --profile, MX_PROFILE or the config, checked; undefined when none is. */
  namedProfile(): string | undefined {
    const { profile } = this.global;
    const named = profile || this.io.env.MX_PROFILE || this.config.profile;
    return named === undefined ? undefined : selectProfileName({ flag: profile, env: this.io.env, config: this.config });
  }

  async profileName(): Promise<string> {
    const explicit = this.global.profile || this.io.env.MX_PROFILE || this.config.profile;
    // The store is read only when nothing names the profile, to find the default one.
    const data = explicit === undefined ? await this.storeData() : undefined;
    return selectProfileName({ flag: this.global.profile, env: this.io.env, config: this.config, data });
  }

  /** A homeserver URL named by --homeserver or MX_HOMESERVER, normalised. */
  explicitHomeserver(): string | undefined {
    const [raw, source] = this.global.homeserver
      ? [this.global.homeserver, '--homeserver']
      : [this.io.env.MX_HOMESERVER, 'MX_HOMESERVER'];
    return raw ? this.homeserverUrl(raw, source) : undefined;
  }

  /** Normalises a homeserver URL and warns when it is plain http to another host. */
  homeserverUrl(raw: string, source: string): string {
    const { url, warning } = normalizeHomeserverUrl(raw, source);
    if (warning) this.warn(warning);
    return url;
  }

  /**
   * The homeserver and access token for commands that act as a user. MX_ACCESS_TOKEN (with
   * MX_HOMESERVER or --homeserver) needs no files at all, for CI; otherwise the profile.
   */
  async session(): Promise<AuthedSession> {
    const explicitUrl = this.explicitHomeserver();
    const envToken = this.io.env.MX_ACCESS_TOKEN;
    // Else refused in the request as a network error, which is retried.
    if (envToken && !isTokenText(envToken)) throw new UsageError('MX_ACCESS_TOKEN holds spaces or control characters (a line break?): set it to the token alone');
    // Token and homeserver from the environment: no profile, and no file is read (main.ts).
    if (envToken && explicitUrl) {
      // A profile named anyway must still be a valid name (nothing is looked up).
      this.namedProfile();
      return {
        client: { ...this.plumbing(), baseUrl: explicitUrl, accessToken: envToken },
        profileName: undefined,
        profile: undefined,
        positionProfile: undefined,
      };
    }
    const profileName = await this.profileName();
    const profile = profileIn(await this.storeData(), profileName);

    if (envToken) {
      const baseUrl = profile?.homeserver ?? this.configHomeserver();
      if (!baseUrl) throw new UsageError('MX_ACCESS_TOKEN is set but no homeserver is: set MX_HOMESERVER or pass --homeserver');
      const positionProfile = profile?.accessToken === envToken ? profileName : undefined;
      return { client: { ...this.plumbing(), baseUrl, accessToken: envToken }, profileName, profile, positionProfile };
    }
    if (!profile) {
      const named = this.global.profile || this.io.env.MX_PROFILE;
      if (named) throw new MxError(`no profile named "${profileName}" (mx profile list shows them)`, ExitCode.notFound);
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
    const client: AuthedSession['client'] = {
      ...this.plumbing(), baseUrl: profile.homeserver, accessToken: profile.accessToken, reloginHint: `run mx login -p ${profileName}`,
    };
    // A login whose token expires is kept alive with its refresh token (profiles/tokens.ts).
    if (profile.refreshToken || profile.accessTokenExpiresAt !== undefined) {
      client.tokens = new ProfileTokens(this.store, profileName, { ...profile, accessToken: profile.accessToken }, { ...this.plumbing(), baseUrl: profile.homeserver }, this.io.now);
    }
    return { client, profileName, profile, positionProfile: profileName };
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
    const profile = profileIn(await this.storeData(), profileName);
    if (profile && (!serverName || serverNameOf(profile.userId) === serverName)) return profile.homeserver;
    if (serverName) return discoverHomeserver(serverName, this.plumbing());
    const fromConfig = this.configHomeserver();
    if (fromConfig) return fromConfig;
    throw new UsageError('no homeserver: pass --homeserver URL, set MX_HOMESERVER, or give a full user ID (@alice:example.org)');
  }

  configHomeserver(): string | undefined {
    return this.config.homeserver ? this.homeserverUrl(this.config.homeserver, 'config "homeserver"') : undefined;
  }
}

/** The server name of a user ID, or undefined for a bare localpart. */
export function serverNameOf(userId: string | undefined): string | undefined {
  return userId?.startsWith('@') ? parseUserId(userId).serverName : undefined;
}
