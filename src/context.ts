/**
 * What every command gets: the io, the global flags, the output writer, the profile store and
 * config, who it acts as (session.ts), and the crypto store on demand. Actions that serve one
 * or two commands live beside those commands.
 */
import { openProfileCrypto } from './crypto/open.js';
import type { CryptoSession } from './crypto/session.js';
import type { Dispatcher } from 'undici';
import type { Io } from './io.js';
import type { NetworkSettings } from './network-settings.js';
import { DEFAULT_RETRY_POLICY, type MatrixClient } from './matrix/http.js';
import type { MxConfig } from './profiles/config.js';
import type { MxPaths } from './profiles/paths.js';
import { ProfileStore, type StoreData } from './profiles/store.js';
import type { OutputFormat } from './output/format.js';
import { Output } from './output/output.js';
import { SessionResolver, type Session } from './session.js';

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

export class Context {
  readonly out: Output;
  /** Which profile, homeserver and login a command acts as. */
  readonly sessions: SessionResolver;
  private profileStore: ProfileStore | undefined;
  private snapshot: Promise<StoreData> | undefined;
  private cryptoSession: Promise<CryptoSession> | undefined;

  constructor(
    readonly io: Io,
    readonly global: GlobalArgs,
    readonly config: MxConfig,
    readonly paths: MxPaths,
    private readonly transport: { dispatcher: Dispatcher; network: NetworkSettings },
  ) {
    this.out = new Output(io, global.output ?? config.output, global.debug);
    this.sessions = new SessionResolver({
      flags: global,
      env: io.env,
      config,
      store: () => this.store,
      storeData: () => this.storeData(),
      plumbing: () => this.plumbing(),
      now: io.now,
      warn: (message) => this.warn(message),
    });
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

  /**
   * The profile store as this command first read it: one read per command, however many
   * lookups it makes. Updates go through store.update, which re-reads under its lock.
   */
  storeData(): Promise<StoreData> {
    return (this.snapshot ??= this.store.read());
  }

  /** Reads the store again (after this command changed it), for the lookups that follow. */
  rereadStore(): Promise<StoreData> {
    return (this.snapshot = this.store.read());
  }

  /** Who the command acts as (session.ts): asked anew at each call, from the store as last read. */
  session(): Promise<Session> {
    return this.sessions.session();
  }

  warn(message: string): void {
    this.out.warn(message);
  }

  /**
   * The crypto store of the session's device, opened once per command (loading the engine);
   * exit code 9 when the session has none (MX_ACCESS_TOKEN alone). main() closes it.
   * `catchUp` (for the first opening): ask for the to-device messages since the store's position
   * while the engine loads; the first use of the store processes them (see session.ts).
   */
  crypto(session: Session, options: { catchUp?: boolean } = {}): Promise<CryptoSession> {
    return (this.cryptoSession ??= openProfileCrypto({
      session,
      store: this.store,
      stateDir: this.paths.stateDir,
      debug: this.debug,
      warn: (message) => this.warn(message),
      notice: (message) => this.out.notice(message),
    }, options));
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
}
