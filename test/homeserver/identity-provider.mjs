// An OpenID Connect identity provider for the single sign-on tests: oidc-provider with its
// development sign-in pages (any login name and password sign in, as that name), and the
// Synapse config that sends users to it. Plain JavaScript, next to synapse.mjs.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

/** Starts the identity provider on a loopback port; point a Synapse at it with synapseConfig. */
export async function startIdentityProvider() {
  // The listener comes first, so that the port is taken before Synapse picks its own; the
  // provider itself needs Synapse's URL (its callback), known only when Synapse is configured.
  let handle = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => handle(req, res));
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const issuer = `http://127.0.0.1:${server.address().port}`;
  return {
    issuer,
    synapseConfig(homeserverUrl) {
      const provider = new Provider(issuer, {
        clients: [{
          client_id: 'synapse',
          client_secret: 'synapse-secret',
          redirect_uris: [`${homeserverUrl}/_synapse/client/oidc/callback`],
          grant_types: ['authorization_code'],
          response_types: ['code'],
        }],
        findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id, preferred_username: id, name: `SSO ${id}` }) }),
        claims: { openid: ['sub'], profile: ['preferred_username', 'name'] },
        cookies: { keys: ['mx-test-cookie-key'] },
        // Lifetimes of its own (an hour), so that it does not warn about its defaults.
        ttl: Object.fromEntries(['AccessToken', 'AuthorizationCode', 'Grant', 'IdToken', 'Interaction', 'Session'].map((kind) => [kind, 3600])),
      });
      handle = provider.callback();
      return {
        public_baseurl: `${homeserverUrl}/`,
        oidc_providers: [{
          idp_id: 'test',
          idp_name: 'Test sign-in',
          issuer,
          client_id: 'synapse',
          client_secret: 'synapse-secret',
          scopes: ['openid', 'profile'],
          // Plain http on loopback: Synapse would otherwise insist on https discovery.
          skip_verification: true,
          user_profile_method: 'userinfo_endpoint',
          user_mapping_provider: { config: { localpart_template: '{{ user.preferred_username }}', display_name_template: '{{ user.name }}' } },
        }],
      };
    },
    stop() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
