// Types for identity-provider.mjs.

export interface IdentityProvider {
  /** e.g. "http://127.0.0.1:40123". */
  issuer: string;
  /**
   * Config for startSynapse's extraConfig: the homeserver at `homeserverUrl` offers single sign-on
   * through this provider, as identity provider "oidc-test". Call it once, before Synapse starts.
   */
  synapseConfig(homeserverUrl: string): Record<string, unknown>;
  stop(): Promise<void>;
}

export function startIdentityProvider(): Promise<IdentityProvider>;
