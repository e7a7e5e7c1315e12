/**
 * undici without its index. The index also loads fetch, WebSocket, caches and the mocks, which
 * mx never uses and which cost more start-up time than all of mx; so only the Agent and the
 * request API are imported, wired up the way undici's own index does it. The build checks that
 * the index still does it this way and that these modules still export what is used here
 * (check.mjs), so an undici upgrade that moves them fails the build, not a user's command.
 */
import type { EnvHttpProxyAgent as EnvHttpProxyAgentType } from 'undici';
import Agent from 'undici/lib/dispatcher/agent.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';

Object.assign(Dispatcher.prototype, api);

export { Agent };

/** undici's proxy-routing agent, loaded only when the environment names a proxy. */
export async function loadEnvHttpProxyAgent(): Promise<typeof EnvHttpProxyAgentType> {
  return (await import('undici/lib/dispatcher/env-http-proxy-agent.js')).default;
}
