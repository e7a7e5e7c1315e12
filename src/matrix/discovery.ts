/** Finding the homeserver: explicit URLs, and server discovery via .well-known (spec: "Server Discovery"). */
import { ExitCode, MxError } from '../errors.js';
import { MatrixError } from './errors.js';
import { normalizeHomeserverUrl } from './homeserver-url.js';
import { matrixRequest, type MatrixClient } from './http.js';

/** GET /_matrix/client/versions: the spec versions the server speaks. */
async function getVersions(client: MatrixClient): Promise<{ versions: string[] }> {
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
