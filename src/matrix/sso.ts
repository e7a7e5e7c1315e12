/**
 * Single sign-on (spec: "Client login via SSO"): the user signs in at the homeserver's identity
 * provider in a browser; the homeserver then sends the browser to a redirect URL of the client's
 * with a `loginToken`, which the client trades for an access token with `m.login.token`.
 *
 * mx listens on a loopback port for that redirect (only 127.0.0.1, one path, with a random
 * `state` of its own in the URL that the answer must carry back), so the token never passes
 * through anything but the user's browser and mx.
 */
import type { AddressInfo } from 'node:net';
import { childEnv } from '../child-env.js';
import { ExitCode, MxError } from '../errors.js';
import { nodeChildProcess, nodeCrypto, nodeHttp } from '../builtins.js';

export interface SsoProvider {
  id: string;
  name: string;
}

/** The identity providers a login flow of type m.login.sso names (none: the server shows its own choice). */
export function ssoProviders(flows: { type: string; identity_providers?: unknown }[]): SsoProvider[] | undefined {
  const flow = flows.find((f) => f.type === 'm.login.sso');
  if (!flow) return undefined;
  const providers = Array.isArray(flow.identity_providers) ? flow.identity_providers : [];
  return providers
    .filter((p): p is { id: string; name?: unknown } => typeof p === 'object' && p !== null && typeof (p as { id?: unknown }).id === 'string')
    .map((p) => ({ id: p.id, name: typeof p.name === 'string' ? p.name : p.id }));
}

export interface SsoCallback {
  /** Where the user's browser must go to sign in. */
  url: string;
  /** Resolves with the login token the homeserver sent back; rejects on timeout, a wrong state, an abort. */
  loginToken: Promise<string>;
  close(): void;
}

/** Starts the loopback listener and makes the SSO URL for `homeserver` (and `idp`, if given). */
export async function startSsoCallback(homeserver: string, idp: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<SsoCallback> {
  const { createServer } = nodeHttp();
  const { randomBytes, timingSafeEqual } = nodeCrypto();
  const state = randomBytes(18).toString('base64url');
  let settle: { resolve: (token: string) => void; reject: (error: Error) => void };
  const answered = new Promise<string>((resolve, reject) => (settle = { resolve, reject }));
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    const given = Buffer.from(url.searchParams.get('state') ?? '');
    const token = url.searchParams.get('loginToken');
    const page = (status: number, text: string) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
      res.end(`<!doctype html><title>mx</title><p>${text}</p>`);
    };
    if (given.length !== state.length || !timingSafeEqual(given, Buffer.from(state))) {
      page(400, 'This sign-in did not come from the mx login that is waiting: it was ignored.');
      settle.reject(new MxError('single sign-on: the browser came back with a state that is not the one mx sent (another login, or a forged link); nothing was logged in', ExitCode.auth));
      return;
    }
    if (!token) {
      page(400, 'The homeserver sent no login token.');
      settle.reject(new MxError('single sign-on: the homeserver sent the browser back without a login token', ExitCode.auth));
      return;
    }
    page(200, 'Signed in: mx has it from here. You can close this window.');
    settle.resolve(token);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const redirect = `http://127.0.0.1:${port}/callback?state=${state}`;
  const path = `/_matrix/client/v3/login/sso/redirect${idp === undefined ? '' : `/${encodeURIComponent(idp)}`}`;
  const timer = setTimeout(
    () => settle.reject(new MxError(`single sign-on: no sign-in came back within ${Math.round(timeoutMs / 1000)} s (was the browser closed?); run mx login --sso again`, ExitCode.auth)),
    timeoutMs,
  );
  const onAbort = () => settle.reject(signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason)));
  signal.addEventListener('abort', onAbort, { once: true });
  const close = () => {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    server.closeAllConnections();
    server.close();
  };
  const loginToken = answered.finally(close);
  loginToken.catch(() => {}); // the caller awaits it; a failure before it does is not unhandled
  return { url: `${homeserver}${path}?redirectUrl=${encodeURIComponent(redirect)}`, loginToken, close };
}

/** Opens `url` in the desktop's browser, when there is a desktop; says whether it tried. */
export function openBrowser(url: string, env: Record<string, string | undefined>): boolean {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? undefined : env.DISPLAY || env.WAYLAND_DISPLAY ? 'xdg-open' : undefined;
  if (!opener) return false;
  try {
    const { spawn } = nodeChildProcess();
    const child = spawn(opener, [url], { detached: true, stdio: 'ignore', env: childEnv(env) });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}
