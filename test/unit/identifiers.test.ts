import { describe, expect, it } from 'vitest';
import { parseAliasLocalpart, parseEventType, parseRoomAlias, parseRoomRef, parseUserArgument, parseUserId } from '../../src/matrix/identifiers.js';

describe('identifier grammar', () => {
  it('accepts user IDs, including historical localparts', () => {
    expect(parseUserId('@alice:example.org')).toEqual({ localpart: 'alice', serverName: 'example.org' });
    expect(parseUserId('@Alice_1!:[::1]:8448')).toEqual({ localpart: 'Alice_1!', serverName: '[::1]:8448' });
    expect(parseUserArgument('bob')).toEqual({ localpart: 'bob' });
  });

  it.each([
    ['alice:example.org', /starts with @/],
    ['@alice', /missing ":server.name"/],
    ['@:example.org', /empty localpart/],
    ['@al ice:example.org', /printable ASCII/],
    ['@alice:exa_mple.org', /not a valid server name/],
    [`@${'a'.repeat(300)}:example.org`, /longer than 255/],
  ])('rejects the user ID %j', (value, message) => {
    expect(() => parseUserId(value)).toThrow(message);
  });

  it('accepts room IDs with and without a domain (room version 12) and aliases', () => {
    expect(parseRoomRef('!abc:example.org')).toEqual({ kind: 'id', roomId: '!abc:example.org' });
    expect(parseRoomRef('!31hneApxJ_1o-63DmFrpeqnkFfWppnzWso1JvH3ogLM')).toMatchObject({ kind: 'id' });
    expect(parseRoomRef('#tutorial:localhost')).toEqual({ kind: 'alias', alias: '#tutorial:localhost' });
    expect(parseRoomAlias('#café ☕:example.org')).toBe('#café ☕:example.org');
  });

  it.each([
    ['room', /give a room ID .* or an alias/],
    ['!', /the part after !/],
    ['!a b:example.org', /the part after !/],
    ['!abc:bad_host', /not a valid server name/],
    ['#nodomain', /missing ":server.name"/],
    ['#:example.org', /empty alias name/],
    ['#a\u0007b:example.org', /control characters/],
  ])('rejects the room %j with a usage error saying why', (value, message) => {
    expect(() => parseRoomRef(value)).toThrow(message);
  });

  it('checks alias names and event types', () => {
    expect(parseAliasLocalpart('tutorial')).toBe('tutorial');
    expect(() => parseAliasLocalpart('a:b')).toThrow(/invalid alias name/);
    expect(() => parseAliasLocalpart('')).toThrow(/invalid alias name/);
    expect(parseEventType('com.example.thing')).toBe('com.example.thing');
    expect(() => parseEventType('has space')).toThrow(/invalid event type/);
    expect(() => parseEventType('')).toThrow(/invalid event type/);
  });
});
