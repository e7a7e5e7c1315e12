// Types for synapse.mjs (plain JavaScript so the demo can import it without a build step).

export interface StartSynapseOptions {
  /** The sid tree; default $MX_SYNAPSE_TREE or ~/.cache/mx/synapse-sid (built if missing). */
  tree?: string;
  /** Default "localhost". */
  serverName?: string;
  /**
   * Merged over the harness's config (mappings merge recursively; lists and scalars replace),
   * e.g. `{ rc_message: { per_second: 0.1, burst_count: 2 } }` for rate-limit tests.
   */
  extraConfig?: Record<string, unknown> | ((server: { url: string; port: number }) => Record<string, unknown>);
  /** How long to wait for /_matrix/client/versions; default 60 000. */
  startTimeoutMs?: number;
  /** Keep the data dir after stop() (for debugging); default false. */
  keepDataDir?: boolean;
  /** Progress lines (provisioning, "ready in 4.8 s"); default: stderr with a "synapse:" prefix. */
  log?: (message: string) => void;
}

export interface SynapseServer {
  /** e.g. "http://127.0.0.1:41531" (no trailing slash). */
  url: string;
  serverName: string;
  port: number;
  /** Synapse's pid, also its process group id (a new one after restart()). */
  readonly pid: number;
  tree: string;
  /** Host path of the data dir, e.g. ~/.cache/mx/synapse-sid/srv/mx-AbC123. */
  dataDir: string;
  /** The same dir as Synapse sees it inside the chroot, e.g. /srv/mx-AbC123. */
  chrootDataDir: string;
  /** Host path of Synapse's log. Start-up errors before logging is set up go to console.log next to it. */
  logFile: string;
  configFile: string;
  /** For /_synapse/admin/v1/register (see registerWithSharedSecret). */
  registrationSharedSecret: string;
  /**
   * SIGTERM, then SIGKILL after 10 s; removes the data dir. Idempotent. With `keepData: true`
   * the data dir stays, so that restart() can bring the same server back.
   */
  stop(options?: { keepData?: boolean }): Promise<void>;
  /**
   * Stops the server if it runs (keeping its data) and starts it again on the same port with
   * the same data (users, rooms, tokens survive); resolves when it answers again. `pid` changes.
   */
  restart(): Promise<void>;
}

export interface TestHomeserver {
  url: string;
  /** For an external server: $MX_TEST_SERVER_NAME, else the URL's host name. */
  serverName: string;
  /** For an external server: $MX_TEST_REGISTRATION_SHARED_SECRET or null. */
  registrationSharedSecret: string | null;
  /** True when it came from MX_TEST_HOMESERVER. */
  external: boolean;
  /** Stops the local Synapse; a no-op for an external server. */
  stop(): Promise<void>;
  synapse?: SynapseServer;
}

export interface VersionsResponse {
  versions: string[];
  unstable_features?: Record<string, boolean>;
}

export function startSynapse(options?: StartSynapseOptions): Promise<SynapseServer>;

/**
 * MX_TEST_HOMESERVER (checked with /versions) if set in env, else a fresh local Synapse.
 * Throws with the reason (and the MX_TEST_HOMESERVER hint) when neither is possible.
 */
export function getTestHomeserver(env?: NodeJS.ProcessEnv, options?: StartSynapseOptions): Promise<TestHomeserver>;

/** Builds or reuses the sid tree; returns its path. Throws if not root / not Linux / build fails. */
export function provisionSynapse(options?: { tree?: string; log?: (message: string) => void }): Promise<string>;

export function waitForVersions(
  url: string,
  opts?: { timeoutMs?: number; isDead?: () => string | null },
): Promise<VersionsResponse>;

export function freePort(): Promise<number>;

export function registerWithSharedSecret(
  url: string,
  sharedSecret: string,
  user: { username: string; password: string; admin?: boolean; displayname?: string },
): Promise<{ user_id: string; access_token: string; device_id: string; home_server?: string }>;
