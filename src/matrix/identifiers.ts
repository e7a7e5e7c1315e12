/** Matrix identifier grammar (spec: Appendices, "Identifier Grammar"). Checked before any request. */
import { UsageError } from '../errors.js';

// server_name = hostname [ ":" port ]; hostname = IPv4 / "[" IPv6 "]" / DNS name.
const SERVER_NAME = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9.-]{1,255})(?::\d{1,5})?$/;
// Historical user ID localparts allow any printable ASCII except ':'; new ones are [a-z0-9._=\-/+].
const USER_LOCALPART = /^[\x21-\x39\x3B-\x7E]+$/;
const MAX_ID_LENGTH = 255;

export interface UserId {
  localpart: string;
  serverName: string;
}

export function isServerName(value: string): boolean {
  return SERVER_NAME.test(value);
}

/** Parses `@localpart:server.name`; a malformed ID is a UsageError saying what is wrong. */
export function parseUserId(value: string): UserId {
  const problem = userIdProblem(value);
  if (problem) throw new UsageError(`invalid user ID "${printable(value)}": ${problem}`);
  const colon = value.indexOf(':');
  return { localpart: value.slice(1, colon), serverName: value.slice(colon + 1) };
}

function userIdProblem(value: string): string | undefined {
  if (!value.startsWith('@')) return 'a user ID starts with @ (like @alice:example.org)';
  if (value.length > MAX_ID_LENGTH) return `longer than ${MAX_ID_LENGTH} bytes`;
  const colon = value.indexOf(':');
  if (colon < 0) return 'missing ":server.name" after the localpart';
  const localpart = value.slice(1, colon);
  if (!localpart) return 'empty localpart';
  if (!USER_LOCALPART.test(localpart)) return 'the localpart may hold only printable ASCII characters other than ":"';
  if (!isServerName(value.slice(colon + 1))) return `"${printable(value.slice(colon + 1))}" is not a valid server name`;
  return undefined;
}

/** A user given as a full ID or a bare localpart (for login and register). */
export function parseUserArgument(value: string): { localpart: string; serverName?: string } {
  if (value.startsWith('@')) return parseUserId(value);
  if (!value || !USER_LOCALPART.test(value)) {
    throw new UsageError(`invalid user "${printable(value)}": give a localpart (alice) or a full user ID (@alice:example.org)`);
  }
  return { localpart: value };
}

/** Shows control characters escaped so an error message stays one readable line. */
export function printable(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}
