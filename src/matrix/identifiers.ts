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

/** What is wrong with a user ID, or undefined when it is one. */
export function userIdProblem(value: string): string | undefined {
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

// Room ID opaque parts: printable ASCII without ':' (v12's are unpadded URL-safe base64).
const ROOM_OPAQUE = /^[\x21-\x39\x3B-\x7E]+$/;
// Alias localparts: any characters but ':' and NUL (and mx refuses other control characters).
const ALIAS_LOCALPART = /^[^:\x00-\x1F\x7F]+$/;
// Event types: namespaced identifiers such as m.room.message or com.example.thing.
const EVENT_TYPE = /^[\x21-\x7E]+$/;

/** What is wrong with a room ID (`!opaque:server.name`, or the domain-less `!opaque` of room version 12). */
function roomIdProblem(value: string): string | undefined {
  if (!value.startsWith('!')) return 'a room ID starts with !';
  if (Buffer.byteLength(value) > MAX_ID_LENGTH) return `longer than ${MAX_ID_LENGTH} bytes`;
  const colon = value.indexOf(':');
  const opaque = colon < 0 ? value.slice(1) : value.slice(1, colon);
  if (!opaque || !ROOM_OPAQUE.test(opaque)) return 'the part after ! may hold only printable ASCII characters other than ":"';
  if (colon >= 0 && !isServerName(value.slice(colon + 1))) return `"${printable(value.slice(colon + 1))}" is not a valid server name`;
  return undefined;
}

function aliasProblem(value: string): string | undefined {
  if (!value.startsWith('#')) return 'a room alias starts with # (like #room:example.org)';
  if (Buffer.byteLength(value) > MAX_ID_LENGTH) return `longer than ${MAX_ID_LENGTH} bytes`;
  const colon = value.indexOf(':');
  if (colon < 0) return 'missing ":server.name" after the alias name';
  const localpart = value.slice(1, colon);
  if (!localpart) return 'empty alias name';
  if (!ALIAS_LOCALPART.test(localpart)) return 'the alias name may not hold ":" or control characters';
  if (!isServerName(value.slice(colon + 1))) return `"${printable(value.slice(colon + 1))}" is not a valid server name`;
  return undefined;
}

export function parseRoomAlias(value: string): string {
  const problem = aliasProblem(value);
  if (problem) throw new UsageError(`invalid room alias "${printable(value)}": ${problem}`);
  return value;
}

/** A room as the user names it: a room ID or an alias, checked against the grammar. */
export type RoomRef = { kind: 'id'; roomId: string } | { kind: 'alias'; alias: string };

export function parseRoomRef(value: string): RoomRef {
  if (value.startsWith('!')) {
    const problem = roomIdProblem(value);
    if (problem) throw new UsageError(`invalid room ID "${printable(value)}": ${problem}`);
    return { kind: 'id', roomId: value };
  }
  if (value.startsWith('#')) return { kind: 'alias', alias: parseRoomAlias(value) };
  throw new UsageError(
    `invalid room "${printable(value)}": give a room ID (!abc:example.org) or an alias (#room:example.org); quote # in the shell`,
  );
}

/** An alias localpart for `room create --alias` (the part between # and :). */
export function parseAliasLocalpart(value: string): string {
  if (!value || !ALIAS_LOCALPART.test(value)) {
    throw new UsageError(`invalid alias name "${printable(value)}": give the part between # and : (no ":" or control characters)`);
  }
  return value;
}

export function parseEventType(value: string): string {
  if (!value || Buffer.byteLength(value) > MAX_ID_LENGTH || !EVENT_TYPE.test(value)) {
    throw new UsageError(`invalid event type "${printable(value)}": use a namespaced name like m.room.message or com.example.thing`);
  }
  return value;
}

/**
 * An event ID: `$` and an opaque ID (room versions 3+ use unpadded base64 of a hash; version 1
 * and 2 IDs carry a `:server`). `flag` names where it came from, for the message.
 */
export function parseEventId(value: string, flag: string): string {
  if (!/^\$[\x21-\x7E]{1,254}$/.test(value)) {
    throw new UsageError(`invalid event ID "${printable(value)}" for ${flag}: it starts with $ (quote it in the shell: '$abc...')`);
  }
  return value;
}

/** The most characters of a value an error message shows. */
const MAX_SHOWN = 80;

/**
 * A value as an error message shows it: control characters escaped, so that it stays one
 * readable line, and cut after MAX_SHOWN characters, so that a huge argument, variable or
 * file value cannot make a huge message.
 */
export function printable(value: string): string {
  if (value.length <= MAX_SHOWN) return JSON.stringify(value).slice(1, -1);
  return `${JSON.stringify(value.slice(0, MAX_SHOWN)).slice(1, -1)}... (${value.length} characters)`;
}
