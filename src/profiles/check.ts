/**
 * What a profile store must hold for mx to use it: the file's shape, and each profile's
 * values. A profile store is edited by hand, copied between machines and written by other
 * versions of mx; a bad value in it must be an error naming the profile and the field (exit 8),
 * never a request to a `file:` URL, a token with a line break in a header, or a crash.
 * Messages never show a value that may be a secret (tokens, keys).
 */
import { normalizeHomeserverUrl } from '../matrix/homeserver-url.js';
import { userIdProblem } from '../matrix/identifiers.js';
import { isValidProfileName } from './select.js';
import { describeValue, isObject } from './util.js';

/** What is wrong with the parsed file as a whole, or undefined (its profiles: profileProblem). */
export function storeProblem(value: unknown): string | undefined {
  if (!isObject(value)) return 'it does not hold a JSON object';
  if (value.version !== 1) return `"version" is ${value.version === undefined ? 'missing' : describeValue(value.version)}, expected 1`;
  if (value.defaultProfile !== undefined && typeof value.defaultProfile !== 'string') {
    return '"defaultProfile" is not a string';
  }
  if (!isObject(value.profiles)) return '"profiles" is not an object';
  return undefined;
}

// Tokens go into an HTTP header: printable ASCII without spaces, as every server makes them.
const TOKEN = /^[\x21-\x7E]+$/;

/** Whether a token can go into a request: one with a line break or a space never can. */
export function isTokenText(value: string): boolean {
  return TOKEN.test(value);
}
// Device IDs are opaque, but go into URLs and messages: no control characters.
const DEVICE_ID = /^[^\x00-\x1F\x7F]+$/;
// A crypto store key: base64 of 32 bytes (crypto/store-ref.ts).
const CRYPTO_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** What is wrong with one profile (its name, or a field), or undefined when mx can use it. */
export function profileProblem(name: string, p: unknown): string | undefined {
  if (!isValidProfileName(name)) return 'its name is not a profile name (1-64 letters, digits, \'.\', \'_\' or \'-\', not starting with \'.\')';
  if (!isObject(p)) return 'it is not an object';
  if (typeof p.homeserver !== 'string') return '"homeserver" is missing or not a string';
  const homeserver = homeserverProblem(p.homeserver);
  if (homeserver) return `"homeserver" ${homeserver}`;
  for (const key of ['userId', 'deviceId', 'accessToken', 'refreshToken', 'cryptoKey'] as const) {
    if (p[key] !== undefined && typeof p[key] !== 'string') return `"${key}" is not a string`;
  }
  if (p.userId !== undefined) {
    const problem = userIdProblem(p.userId as string);
    if (problem) return `"userId" is not a user ID (${problem})`;
  }
  if (p.deviceId !== undefined && !DEVICE_ID.test(p.deviceId as string)) return '"deviceId" is empty or holds control characters';
  for (const key of ['accessToken', 'refreshToken'] as const) {
    if (p[key] !== undefined && !isTokenText(p[key] as string)) return `"${key}" is empty or holds spaces or control characters`;
  }
  if (p.cryptoKey !== undefined && !CRYPTO_KEY.test(p.cryptoKey as string)) return '"cryptoKey" is not the base64 of 32 bytes';
  if (p.accessTokenExpiresAt !== undefined && !Number.isFinite(p.accessTokenExpiresAt)) return '"accessTokenExpiresAt" is not a number';
  if (p.isGuest !== undefined && typeof p.isGuest !== 'boolean') return '"isGuest" is not a boolean';
  if (p.positions !== undefined) {
    if (!isObject(p.positions) || Object.values(p.positions).some((v) => typeof v !== 'string')) {
      return '"positions" is not an object of strings';
    }
  }
  return undefined;
}

/**
 * A homeserver URL exactly as mx writes one (normalizeHomeserverUrl's form: http or https, no
 * trailing slash, no credentials, query or fragment), or what is wrong with it. The value is
 * not shown: a URL with credentials in it holds a password.
 */
function homeserverProblem(value: string): string | undefined {
  if (value === '') return 'is empty';
  if (!/^https?:\/\//i.test(value)) return 'is not an http:// or https:// URL';
  let normal: string;
  try {
    normal = normalizeHomeserverUrl(value, 'homeserver').url;
  } catch {
    return 'is not a homeserver URL (like https://matrix.example.org: no spaces, line breaks, credentials, query or fragment)';
  }
  return normal === value ? undefined : `is not written as mx writes it: write it as ${normal}`;
}
