/** Homeserver URLs as mx takes them from a flag, a variable, the config or a profile. */
import { UsageError } from '../errors.js';
import { printable } from './identifiers.js';

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export interface HomeserverUrl {
  url: string;
  /** Set when the URL sends tokens in clear text over a network. */
  warning?: string;
}

/**
 * Normalises a homeserver URL from a flag, env var, config or profile: a bare host gets
 * https://, the trailing slash goes. Anything but http(s), and any space or control character,
 * is a usage error; plain http to a host that is not loopback is allowed (test setups) but
 * warned about.
 */
export function normalizeHomeserverUrl(input: string, source: string): HomeserverUrl {
  // The URL parser drops tabs and line breaks and trims spaces: "https://a\r\n.org" would
  // silently become another URL than the one given.
  if (/[\x00-\x20\x7F]/.test(input)) {
    throw new UsageError(`${source}: "${printable(input)}" is not a URL (it holds a space or a control character)`);
  }
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
