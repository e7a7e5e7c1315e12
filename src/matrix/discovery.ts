/** Finding the homeserver: explicit URLs, and server discovery via .well-known (spec: "Server Discovery"). */
import { ExitCode, MxError, UsageError } from '../errors.js';
import { MatrixError } from './errors.js';
import { matrixRequest, type MatrixClient } from './http.js';
import { printable } from './identifiers.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface HomeserverUrl {
  url: string;
  /** Set when the URL sends tokens in clear text over a network. */
  warning?: string;
}

/**
 * Normalises a homeserver URL from a flag, env var, config or profile: a bare host gets
 * https://, the trailing slash goes. Anything but http(s) is a usage error; plain http to
 * a host that is not loopback is allowed (test setups) but warned about.
 */
export function normalizeHomeserverUrl(input: string, source: string): HomeserverUrl {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `https://${input}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`${source}: "${printable(input)}" is not a URL (expected like https://matrix.example.org)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UsageError(`${source}: homeserver URL must use https:// or http://, not ${url.protocol}//`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new UsageError(`${source}: a homeserver URL holds no credentials, query or fragment`);
  }
  const normalized = url.toString().replace(/\/+$/, '');
  const loopback = LOOPBACK_HOSTS.has(url.hostname) || url.hostname.startsWith('127.');
  return url.protocol === 'http:' && !loopback
    ? { url: normalized, warning: `${normalized} is plain http: passwords and tokens cross the network unencrypted` }
    : { url: normalized };
}

/** GET /_matrix/client/versions: the spec versions the server speaks. */
export async function getVersions(client: MatrixClient): Promise<{ versions: string[] }> {
  const answer = await matrixRequest<{ versions?: unknown }>(client, {
    method: 'GET', path: '/_matrix/client/versions', auth: false, idempotent: true, timeoutMs: 10_000,
    what: `check homeserver ${client.baseUrl}`,
  });
  if (!Array.isArray(answer.versions)) {
    throw new MxError(`${client.baseUrl} does not look like a Matrix homeserver (no "versions" in /_matrix/client/versions)`, ExitCode.failure);
  }
  return { versions: answer.versions as string[] };
}

/**
 * Finds the client API base URL for a server name (the part after ':' in a user ID):
 * `https://NAME/.well-known/matrix/client`, falling back to `https://NAME` when there is
 * none, then checks the result really is a homeserver.
 */
export async function discoverHomeserver(serverName: string, plumbing: Omit<MatrixClient, 'baseUrl'>): Promise<string> {
  let baseUrl = `https://${serverName}`;
  try {
    const wellKnown = await matrixRequest<{ 'm.homeserver'?: { base_url?: unknown } }>(
      { ...plumbing, baseUrl },
      { method: 'GET', path: '/.well-known/matrix/client', auth: false, idempotent: true, timeoutMs: 10_000, what: `discover ${serverName}` },
    );
    const advertised = wellKnown['m.homeserver']?.base_url;
    if (typeof advertised !== 'string') {
      throw new MxError(`${serverName}'s .well-known/matrix/client has no m.homeserver.base_url; pass --homeserver URL`, ExitCode.failure);
    }
    baseUrl = normalizeHomeserverUrl(advertised, `${serverName}'s .well-known`).url;
  } catch (error) {
    // No well-known document is normal: the server name then is the homeserver's host.
    if (!(error instanceof MatrixError && error.status === 404)) throw withHint(error, serverName);
  }
  try {
    await getVersions({ ...plumbing, baseUrl });
  } catch (error) {
    throw withHint(error, serverName);
  }
  return baseUrl;
}

function withHint(error: unknown, serverName: string): unknown {
  if (!(error instanceof MxError)) return error;
  return new MxError(`could not find the homeserver for ${serverName}: ${error.message}; pass --homeserver URL`, error.exitCode, error.details);
}
