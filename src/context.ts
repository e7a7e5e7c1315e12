/**
 * What every command gets: the io, the global flags, the output writer, the profile store
 * and config, and the rules that turn them into "which homeserver, as whom".
 */
import { ExitCode, MxError, UsageError } from './errors.js';
import type { Io } from './io.js';
import { normalizeHomeserverUrl } from './matrix/discovery.js';
import { DEFAULT_RETRY_POLICY, type MatrixClient } from './matrix/http.js';
import { parseUserId } from './matrix/identifiers.js';
import type { MxConfig } from './profiles/config.js';
import type { MxPaths } from './profiles/paths.js';
import { ProfileStore, selectProfileName, type Profile, type StoreData } from './profiles/store.js';
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
}

export interface AuthedSession {
  client: MatrixClient & { accessToken: string };
  profileName: string;
  /** Undefined when the session comes from MX_HOMESERVER + MX_ACCESS_TOKEN alone. */
  profile: Profile | undefined;
}

export class Context {
  readonly out: Output;
  readonly store: ProfileStore;
  readonly debug: ((line: string) => void) | undefined;

  constructor(
    readonly io: Io,
    readonly global: GlobalArgs,
    readonly config: MxConfig,
    paths: MxPaths,
  ) {
    this.out = new Output(io, global.output ?? config.output);
    this.store = new ProfileStore(paths.storeFile);
    this.debug = global.debug ? (line) => io.stderr.write(`[debug] ${line}\n`) : undefined;
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
    this.io.stderr.write(`mx: warning: ${message}\n`);
  }

  /** The HTTP plumbing of this process, for building a MatrixClient. */
  plumbing(): Omit<MatrixClient, 'baseUrl'> {
    const { retries } = this.global;
    return {
      dispatcher: this.io.dispatcher,
      sleep: this.io.sleep,
      signal: this.io.signal,
      debug: this.debug,
      ...(retries === undefined ? {} : { retry: { ...DEFAULT_RETRY_POLICY, rateLimitRetries: retries, transientRetries: retries } }),
    };
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
    const profileName = await this.profileName();
    const explicitUrl = this.explicitHomeserver();
    const envToken = this.io.env.MX_ACCESS_TOKEN;
    const profile = envToken && explicitUrl ? undefined : (await this.storeData()).profiles[profileName];

    if (envToken) {
      const baseUrl = explicitUrl ?? profile?.homeserver ?? this.configHomeserver();
      if (!baseUrl) throw new UsageError('MX_ACCESS_TOKEN is set but no homeserver is: set MX_HOMESERVER or pass --homeserver');
      return { client: { ...this.plumbing(), baseUrl, accessToken: envToken }, profileName, profile };
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
    return { client: { ...this.plumbing(), baseUrl: profile.homeserver, accessToken: profile.accessToken }, profileName, profile };
  }

  configHomeserver(): string | undefined {
    return this.config.homeserver ? this.homeserverUrl(this.config.homeserver, 'config "homeserver"') : undefined;
  }
}

/** The server name of a user ID, or undefined for a bare localpart. */
export function serverNameOf(userId: string | undefined): string | undefined {
  return userId?.startsWith('@') ? parseUserId(userId).serverName : undefined;
}
