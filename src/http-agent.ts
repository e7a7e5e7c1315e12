/**
 * The process's connection pool: undici's Agent (taken without undici's index: patches/undici.ts).
 */
import type { Dispatcher } from 'undici';
import { nodeTls } from './builtins.js';
import { UsageError } from './errors.js';
import { Agent, loadEnvHttpProxyAgent } from './patches/undici.js';

// cli.ts sets the V8 flag for undici's HTTP parser (WebAssembly), after start-up: v8-flags.ts.

// maxHeaderSize is Node's default (16 KiB), given so that undici need not load node:http to ask
// for it (src/patches/bundle.mjs).
const POOL = { keepAliveTimeout: 30_000, connections: 16, maxHeaderSize: 16 * 1024 };

/** How connections are made: network-settings.ts resolves these from flags, variables and config. */
export interface TransportOptions {
  connectTimeoutMs: number;
  /** PEM CA certificates to trust besides Node's own list (--cacert). */
  ca?: string;
}

/**
 * An Agent, or, when the environment names a proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY, or their
 * lower-case forms, which win as in curl), undici's agent that routes each request by those
 * variables. The proxy code is loaded only then.
 */
export async function createDispatcher(env: Record<string, string | undefined>, options: TransportOptions): Promise<Dispatcher> {
  const connect = connectOptions(options);
  const setting = (name: string) => env[name.toLowerCase()] || env[name] || undefined;
  const httpProxy = setting('HTTP_PROXY');
  const httpsProxy = setting('HTTPS_PROXY');
  if (!httpProxy && !httpsProxy) return new Agent({ ...POOL, connect });
  for (const [name, value] of [['HTTP_PROXY', httpProxy], ['HTTPS_PROXY', httpsProxy]] as const) {
    if (value && !URL.canParse(value)) throw new UsageError(`${name} is not a URL (expected like http://proxy.example.org:3128)`);
  }
  const EnvHttpProxyAgent = await loadEnvHttpProxyAgent();
  // Passed explicitly: undici would otherwise read process.env itself.
  // requestTls: the TLS to the homeserver inside a proxy's tunnel.
  return new EnvHttpProxyAgent({ ...POOL, connect, requestTls: connect, httpProxy, httpsProxy, noProxy: setting('NO_PROXY') ?? '' });
}

/**
 * Certificates are always verified: rejectUnauthorized is given, so that not even
 * NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment turns verification off. A --cacert adds to
 * Node's list (which `ca` would otherwise replace), so public servers keep working.
 */
function connectOptions({ connectTimeoutMs, ca }: TransportOptions) {
  return {
    timeout: connectTimeoutMs,
    rejectUnauthorized: true,
    ...(ca ? { ca: [...nodeTls().rootCertificates, ca] } : {}),
  };
}
