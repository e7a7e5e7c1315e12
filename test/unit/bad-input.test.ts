import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, tempDirMaker } from './fake-io.js';

/**
 * The bad-input corpus: inputs a user or script can get wrong, across all commands. Each must
 * end with its documented exit code and a one-line message, no stack trace, and no request
 * (checked on the MockAgent's log of what was dispatched).
 */
const USAGE = 2;
const NOT_FOUND = 5;
const LOCAL_STATE = 8;

const ROOM = '!room:localhost';
const BIG = 'x'.repeat(70_000);
/** YAML whose aliases expand to 9^10 strings ("billion laughs"), for `setting`. */
const LAUGHS = (setting: string) =>
  [...'abcdefghij'].map((name, i) => `${name}: &${name} [${i === 0 ? Array(9).fill('"x"') : Array(9).fill(`*${'abcdefghij'[i - 1]}`)}]`).join('\n') + `\n${setting}: *j\n`;
const DEEP = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
/** A store whose profile "default" has `fields` over a good login. */
const STORE = (fields: Record<string, unknown>) => JSON.stringify({
  version: 1,
  profiles: { default: { homeserver: 'https://hs.test', userId: '@me:hs.test', deviceId: 'DEV', accessToken: 'syt_tok', ...fields } },
});
const tempDir = tempDirMaker('mx-bad-input-');

/** A config dir holding `files` (name -> content). */
function dirWith(files: Record<string, string>): string {
  const dir = tempDir();
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content, { mode: 0o600 });
  return dir;
}

interface Case {
  argv: string[];
  code: number;
  message: RegExp;
  input?: string;
  /** Extra environment; by default the session comes from MX_HOMESERVER + MX_ACCESS_TOKEN. */
  env?: Record<string, string | undefined>;
  configDir?: () => string;
}

const cases: Case[] = [
  // The command line itself
  { argv: [], code: USAGE, message: /give a command/ },
  { argv: ['frobnicate'], code: USAGE, message: /Unknown command: frobnicate/ },
  { argv: ['whoami', '--frobnicate'], code: USAGE, message: /Unknown argument: frobnicate/ },
  { argv: ['room'], code: USAGE, message: /give a room command/ },
  { argv: ['room', 'explode'], code: USAGE, message: /Unknown command: explode/ },
  { argv: ['profile', 'use'], code: USAGE, message: /Not enough non-option arguments/ },
  { argv: ['whoami', '-o', 'xml'], code: USAGE, message: /Invalid values/ },
  { argv: ['whoami'], env: { MX_OUTPUT: 'yaml' }, code: USAGE, message: /MX_OUTPUT must be one of/ },
  { argv: ['whoami', '--retries', '-1'], code: USAGE, message: /--retries must be a whole number/ },
  { argv: ['whoami', '--retries', 'many'], code: USAGE, message: /--retries must be a whole number/ },
  { argv: ['whoami', '--max-time', '-1'], code: USAGE, message: /--max-time must be a number of seconds from 0/ },
  { argv: ['whoami', '--max-time', '5000000'], code: USAGE, message: /--max-time must be a number of seconds from 0 to 1000000/ },
  { argv: ['whoami'], env: { MX_MAX_TIME: '10s' }, code: USAGE, message: /MX_MAX_TIME must be a number of seconds, not "10s"/ },
  { argv: ['whoami', '--connect-timeout', '-1'], code: USAGE, message: /--connect-timeout must be a number of seconds/ },
  { argv: ['whoami'], env: { MX_CONNECT_TIMEOUT: 'x' }, code: USAGE, message: /MX_CONNECT_TIMEOUT must be a number of seconds/ },
  { argv: ['whoami', '--cacert', '/nonexistent/ca.pem'], code: USAGE, message: /--cacert \/nonexistent\/ca.pem: cannot read it \(no such file\)/ },
  { argv: ['whoami', '--cacert', '/'], code: USAGE, message: /--cacert \/: cannot read it \(it is a folder\)/ },
  { argv: ['whoami'], env: { MX_CACERT: '/etc/hostname' }, code: USAGE, message: /MX_CACERT \/etc\/hostname: no PEM certificate in it/ },
  { argv: ['whoami'], env: { MX_HOMESERVER: undefined, MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.json': '{"max_time":"soon"}' }), code: LOCAL_STATE, message: /"max_time" must be a number of seconds/ },
  { argv: ['whoami'], env: { MX_HOMESERVER: undefined, MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.json': '{"cacert":5}' }), code: LOCAL_STATE, message: /"cacert" must be the path of a PEM file/ },
  // Profiles and config
  { argv: ['whoami', '-p', '../../etc/passwd'], code: USAGE, message: /profile name/i },
  { argv: ['whoami', '-p', 'a b'], code: USAGE, message: /profile name/i },
  { argv: ['whoami'], env: { MX_PROFILE: 'x\u0007y' }, code: USAGE, message: /profile name/i },
  { argv: ['whoami', '-p', 'nobody'], env: { MX_ACCESS_TOKEN: undefined }, code: NOT_FOUND, message: /no profile named "nobody"/ },
  { argv: ['profile', 'show', 'nobody'], code: NOT_FOUND, message: /no profile named "nobody"/ },
  { argv: ['profile', 'use', 'nobody'], code: NOT_FOUND, message: /no profile named "nobody"/ },
  { argv: ['profile', 'rm', 'nobody'], code: NOT_FOUND, message: /no profile named "nobody"/ },
  { argv: ['profile', 'list'], configDir: () => dirWith({ 'profiles.json': '{"version":1,"profiles":' }), code: LOCAL_STATE, message: /is corrupt/ },
  { argv: ['profile', 'list'], configDir: () => dirWith({ 'profiles.json': '\u0000\u0001garbage' }), code: LOCAL_STATE, message: /is corrupt/ },
  { argv: ['profile', 'list'], configDir: () => dirWith({ 'profiles.json': '[]' }), code: LOCAL_STATE, message: /is corrupt/ },
  { argv: ['profile', 'list'], configDir: () => dirWith({ 'profiles.json': DEEP(100_000) }), code: LOCAL_STATE, message: /is corrupt: it nests more than 32 levels deep/ },
  { argv: ['profile', 'list'], configDir: () => dirWith({ 'profiles.json': `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}` }), code: LOCAL_STATE, message: /is corrupt: it nests more than/ },
  { argv: ['profile', 'list'], configDir: () => dirWith({ 'profiles.json': `{"version":1,"profiles":{},"x":"${'x'.repeat(9 << 20)}"}` }), code: LOCAL_STATE, message: /is corrupt: it is 9 MiB, far larger than mx writes one/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined, MX_HOMESERVER: undefined }, configDir: () => dirWith({ 'profiles.json': STORE({ homeserver: 'file:///etc/passwd' }) }), code: LOCAL_STATE, message: /profile "default" .* is damaged: "homeserver" is not an http/ },
  { argv: ['tail', '--until-idle'], env: { MX_ACCESS_TOKEN: undefined, MX_HOMESERVER: undefined }, configDir: () => dirWith({ 'profiles.json': STORE({ homeserver: 'javascript:alert(1)' }) }), code: LOCAL_STATE, message: /profile "default" .* is damaged: "homeserver"/ },
  { argv: ['send', ROOM, 'hi'], env: { MX_ACCESS_TOKEN: undefined, MX_HOMESERVER: undefined }, configDir: () => dirWith({ 'profiles.json': STORE({ homeserver: 'https://hs.test\r\n' }) }), code: LOCAL_STATE, message: /profile "default" .* is damaged: "homeserver"/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined, MX_HOMESERVER: undefined }, configDir: () => dirWith({ 'profiles.json': STORE({ userId: 'me' }) }), code: LOCAL_STATE, message: /profile "default" .* is damaged: "userId" is not a user ID/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined, MX_HOMESERVER: undefined }, configDir: () => dirWith({ 'profiles.json': STORE({ deviceId: '' }) }), code: LOCAL_STATE, message: /profile "default" .* is damaged: "deviceId" is empty/ },
  { argv: ['tail', '--until-idle'], env: { MX_ACCESS_TOKEN: undefined, MX_HOMESERVER: undefined }, configDir: () => dirWith({ 'profiles.json': STORE({ accessToken: 'a\r\nb' }) }), code: LOCAL_STATE, message: /profile "default" .* is damaged: "accessToken" is empty or holds/ },
  { argv: ['send', ROOM, 'hi'], env: { MX_ACCESS_TOKEN: undefined, MX_HOMESERVER: undefined }, configDir: () => dirWith({ 'profiles.json': STORE({ cryptoKey: 'AAAA' }) }), code: LOCAL_STATE, message: /profile "default" .* is damaged: "cryptoKey" is not the base64 of 32 bytes/ },
  { argv: ['tail', '--until-idle'], env: { MX_ACCESS_TOKEN: undefined, MX_HOMESERVER: undefined }, configDir: () => dirWith({ 'profiles.json': STORE({ positions: { tail: 7 } }) }), code: LOCAL_STATE, message: /profile "default" .* is damaged: "positions"/ },
  { argv: ['whoami', '--config', 'mx.config.js'], code: USAGE, message: /never code/ },
  { argv: ['whoami', '--config', '/nonexistent/mx.yaml'], code: USAGE, message: /nonexistent/ },
  // (A session from MX_HOMESERVER + MX_ACCESS_TOKEN reads no config file: these use a profile.)
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.json': '{"output":"xml"}' }), code: LOCAL_STATE, message: /"output" must be one of/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.yaml': 'homeserver: [1, 2' }), code: LOCAL_STATE, message: /config/i },
  { argv: ['profile', 'list'], env: { MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.yaml': LAUGHS('profile') }), code: LOCAL_STATE, message: /holds more than 1000 values/ },
  { argv: ['profile', 'list'], env: { MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.yaml': LAUGHS('output') }), code: LOCAL_STATE, message: /holds more than 1000 values/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.yaml': 'max_time: &a [*a]\n' }), code: LOCAL_STATE, message: /holds more than 1000 values/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.json': `{"output": ${DEEP(100_000)}}` }), code: LOCAL_STATE, message: /holds more than 1000 values/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.json': DEEP(100_000) }), code: LOCAL_STATE, message: /holds more than 1000 values/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.json': `{"output": "${BIG}"}` }), code: LOCAL_STATE, message: /"output" must be one of json, table, text, not "x{80}\.\.\. \(70000 characters\)"/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: undefined }, configDir: () => dirWith({ 'config.json': `{"x": "${'x'.repeat(2 << 20)}"}` }), code: LOCAL_STATE, message: /it is 2 MiB, and a config file holds a handful of settings/ },
  // Homeserver URLs
  { argv: ['whoami', '--homeserver', 'ftp://example.org'], code: USAGE, message: /https:\/\/ or http:\/\// },
  { argv: ['whoami', '--homeserver', 'http://exa mple.org'], code: USAGE, message: /is not a URL/ },
  { argv: ['whoami', '--homeserver', 'https://user:pw@example.org'], code: USAGE, message: /no credentials/ },
  { argv: ['whoami'], env: { MX_HOMESERVER: 'http://[::1' }, code: USAGE, message: /is not a URL/ },
  { argv: ['whoami'], env: { MX_HOMESERVER: 'https://hs.test\r\n' }, code: USAGE, message: /"https:\/\/hs.test\\r\\n" is not a URL \(it holds a space or a control character\)/ },
  { argv: ["whoami"], env: { MX_HOMESERVER: `http://[${BIG}` }, code: USAGE, message: /^MX_HOMESERVER: "http:\/\/\[x{72}\.\.\. \(70008 characters\)" is not a URL/ },
  { argv: ['whoami'], env: { MX_ACCESS_TOKEN: 'syt_a\r\nX-Injected: 1' }, code: USAGE, message: /^MX_ACCESS_TOKEN holds spaces or control characters/ },
  { argv: ['tail', '--until-idle'], env: { MX_ACCESS_TOKEN: 'syt_a b' }, code: USAGE, message: /^MX_ACCESS_TOKEN holds spaces or control characters/ },
  { argv: ['login', '--with-token'], input: 'syt_a\r\nX: 1\n', code: USAGE, message: /^the access token on stdin holds spaces or control characters/ },
  { argv: ['whoami'], env: { MX_OUTPUT: BIG }, code: USAGE, message: /^MX_OUTPUT must be one of json, table, text, not "x{80}\.\.\. \(70000 characters\)"$/ },
  { argv: ['whoami'], env: { MX_MAX_TIME: `1\n${BIG}` }, code: USAGE, message: /^MX_MAX_TIME must be a number of seconds, not "1\\nx{78}\.\.\. \(70002 characters\)"$/ },
  { argv: ['whoami', '-p', BIG], code: USAGE, message: /^Invalid profile name "x{80}\.\.\. \(70000 characters\)" \(from --profile\)/ },
  // Any value an error message shows is cut short.
  { argv: ['profile', 'show', BIG], code: NOT_FOUND, message: /^no profile named "x{80}\.\.\. \(70000 characters\)"/ },
  { argv: ['tail', '--cursor', `${BIG}\n`], code: USAGE, message: /^invalid cursor name "x{80}\.\.\. \(70001 characters\)"/ },
  { argv: ['tail', '--include', BIG], code: USAGE, message: /not "x{80}\.\.\. \(70000 characters\)"$/ },
  { argv: ['api', BIG, '/v3/x'], code: USAGE, message: /not "x{80}\.\.\. \(70000 characters\)"$/ },
  { argv: ['api', 'GET', BIG], code: USAGE, message: /not "x{80}\.\.\. \(70000 characters\)"$/ },
  { argv: ['api', 'POST', '/v3/x', '-f', BIG], code: USAGE, message: /not "x{80}\.\.\. \(70000 characters\)"$/ },
  { argv: ['room', 'directory', '--server', BIG], code: USAGE, message: /^invalid --server "x{80}\.\.\. \(70000 characters\)"/ },
  { argv: ['room', 'power', ROOM, '@a:hs.test', BIG], code: USAGE, message: /^power level "x{80}\.\.\. \(70000 characters\)" is out of range/ },
  { argv: ['login', 'alice'], env: { MX_HOMESERVER: undefined, MX_ACCESS_TOKEN: undefined }, code: USAGE, message: /no homeserver/ },
  // Users
  { argv: ['login', '@alice'], code: USAGE, message: /invalid user ID "@alice"/ },
  { argv: ['login', '@:example.org'], code: USAGE, message: /empty localpart/ },
  { argv: ['login', '@al ice:example.org'], code: USAGE, message: /printable ASCII/ },
  { argv: ['login', '@alice:exa_mple.org'], code: USAGE, message: /not a valid server name/ },
  { argv: ['register', 'al ice'], code: USAGE, message: /invalid user "al ice"/ },
  { argv: ['register'], code: USAGE, message: /needs a user name/ },
  { argv: ['register', 'alice', '--guest'], code: USAGE, message: /mutually exclusive/ },
  { argv: ['login', '--token', '--with-token'], code: USAGE, message: /mutually exclusive/ },
  { argv: ['invite', ROOM, 'bob'], code: USAGE, message: /invalid user ID "bob"/ },
  { argv: ['invite', ROOM, '@bob:bad host'], code: USAGE, message: /not a valid server name/ },
  { argv: ['tail', '--sender', 'bob'], code: USAGE, message: /invalid user ID "bob"/ },
  // Rooms and aliases
  { argv: ['send', 'room', 'hi'], code: USAGE, message: /invalid room "room"/ },
  { argv: ['send', '!', 'hi'], code: USAGE, message: /invalid room ID/ },
  { argv: ['send', '!a b:localhost', 'hi'], code: USAGE, message: /invalid room ID/ },
  { argv: ['join', '#nodomain'], code: USAGE, message: /missing ":server.name"/ },
  { argv: ['join', '#:localhost'], code: USAGE, message: /empty alias name/ },
  { argv: ['join', '#a\u0001b:localhost'], code: USAGE, message: /control characters/ },
  { argv: ['join', ROOM, '--via', 'bad host'], code: USAGE, message: /--via/ },
  { argv: ['room', 'members', 'lobby'], code: USAGE, message: /invalid room "lobby"/ },
  { argv: ['room', 'messages', ROOM, '--limit', '0'], code: USAGE, message: /--limit must be/ },
  { argv: ['room', 'messages', ROOM, '--dir', 'sideways'], code: USAGE, message: /Invalid values/ },
  { argv: ['room', 'create', '--alias', 'a:b'], code: USAGE, message: /invalid alias name/ },
  { argv: ['room', 'create', '--invite', 'bob'], code: USAGE, message: /invalid user ID "bob"/ },
  { argv: ['room', 'create', '--state', '{"type":"m.room.topic"}'], code: USAGE, message: /--state needs a JSON object/ },
  { argv: ['room', 'create', '--state', 'nope'], code: USAGE, message: /--state is not valid JSON/ },
  { argv: ['room', 'create', '--public', '--preset', 'private'], code: USAGE, message: /mutually exclusive/ },
  { argv: ['room', 'alias', 'add', 'alias', ROOM], code: USAGE, message: /invalid room alias/ },
  // Events and content
  { argv: ['send', ROOM, ''], code: USAGE, message: /empty message/ },
  { argv: ['send', ROOM, '-'], input: '', code: USAGE, message: /empty/ },
  { argv: ['send', ROOM, BIG], code: USAGE, message: /too large|65,?536/i },
  { argv: ['send', ROOM, '--json', '[1,2]'], code: USAGE, message: /must be a JSON object/ },
  { argv: ['send', ROOM, '--json', '"text"'], code: USAGE, message: /must be a JSON object/ },
  { argv: ['send', ROOM, '--json', '{nope'], code: USAGE, message: /not valid JSON/ },
  { argv: ['send', ROOM, '--json', '@/nonexistent.json'], code: USAGE, message: /cannot read --json file/ },
  { argv: ['send', ROOM, 'hi', '--type', 'has space'], code: USAGE, message: /invalid event type/ },
  { argv: ['send', ROOM, 'hi', '--notice', '--emote'], code: USAGE, message: /mutually exclusive/ },
  { argv: ['send', ROOM, 'hi', '--html', '<b>x</b>', '--markdown'], code: USAGE, message: /mutually exclusive/ },
  { argv: ['send', ROOM, '--state-key', 'k', '--json', '{}'], code: USAGE, message: /^Implications failed: state-key -> type \(see --help\)$/ },
  { argv: ['send', ROOM, 'hi', '--txn-id', 'a/b'], code: USAGE, message: /invalid --txn-id/ },
  { argv: ['send', ROOM, 'hi', '--txn-id', 'x'.repeat(300)], code: USAGE, message: /invalid --txn-id/ },
  { argv: ['send', ROOM, '--file', '/nonexistent/cat.png'], code: USAGE, message: /cannot read --file/ },
  { argv: ['send', ROOM, '--location', 'geo:999,0'], code: USAGE, message: /latitude 999/ },
  { argv: ['send', ROOM, '--location', 'paris'], code: USAGE, message: /invalid --location/ },
  { argv: ['tail', '--type', 'a b'], code: USAGE, message: /invalid event type/ },
  // Streams
  { argv: ['tail', '--include', 'bogus'], code: USAGE, message: /--include takes/ },
  { argv: ['tail', '--count', '0'], code: USAGE, message: /--count must be/ },
  { argv: ['tail', '--timeout', '-5'], code: USAGE, message: /--timeout must be/ },
  { argv: ['tail', '--cursor', 'a b'], code: USAGE, message: /invalid cursor name/ },
  { argv: ['tail', '--from', '{bad'], code: USAGE, message: /--from is not a sync token/ },
  { argv: ['sync', '--limit', '-1'], code: USAGE, message: /--limit must be/ },
  { argv: ['sync', '--filter', '{bad'], code: USAGE, message: /--filter is not valid JSON/ },
  // Relations, reactions, redactions, direct messages
  { argv: ['send', ROOM, 'x', '--reply-to', 'abc'], code: USAGE, message: /invalid event ID "abc" for --reply-to/ },
  { argv: ['send', ROOM, 'x', '--thread', '$'], code: USAGE, message: /invalid event ID/ },
  { argv: ['send', ROOM, 'x', '--edit', '$a', '--reply-to', '$b'], code: USAGE, message: /mutually exclusive/ },
  { argv: ['send', ROOM, '--lines', '--edit', '$a'], code: USAGE, message: /mutually exclusive/ },
  { argv: ['send', ROOM, 'x', '--mention', 'bob'], code: USAGE, message: /user ID/ },
  { argv: ['send', '@bob', 'x'], code: USAGE, message: /user ID/ },
  { argv: ['send', '@bob:hs.test', '--type', 'm.room.topic', '--state-key', '', '--json', '{}'], code: USAGE, message: /not to a user/ },
  { argv: ['react', ROOM, 'nope', '👍'], code: USAGE, message: /invalid event ID/ },
  { argv: ['react', ROOM, '$a', ' '], code: USAGE, message: /give the reaction KEY/ },
  { argv: ['redact', ROOM, 'x'], code: USAGE, message: /invalid event ID/ },
  { argv: ['redact', '#bad alias', '$a'], code: USAGE, message: /alias/ },
  // Room state, markers, moderation
  { argv: ['room', 'state', ROOM, 'not a type'], code: USAGE, message: /invalid event type/ },
  { argv: ['read', ROOM, 'nope'], code: USAGE, message: /invalid event ID/ },
  { argv: ['typing', ROOM, '--timeout', '0'], code: USAGE, message: /--timeout must be/ },
  { argv: ['typing', ROOM, '--timeout', '5', '--stop'], code: USAGE, message: /mutually exclusive/ },
  { argv: ['room', 'ban', ROOM], code: USAGE, message: /needs a user/ },
  { argv: ['room', 'kick', ROOM, '@bad'], code: USAGE, message: /user ID/ },
  { argv: ['room', 'ban', 'notaroom', '@a:hs.test'], code: USAGE, message: /room/ },
  { argv: ['room', 'power', ROOM, '@a:hs.test', '101.5'], code: USAGE, message: /out of range/ },
  { argv: ['room', 'power', ROOM, '@a:hs.test', '-9007199254740992'], code: USAGE, message: /out of range/ },
  // Profile, directories, spaces, mx api fields
  { argv: ['account', 'displayname', ' '], code: USAGE, message: /not empty/ },
  { argv: ['room', 'directory', '--server', 'bad server'], code: USAGE, message: /invalid --server/ },
  { argv: ['room', 'directory', '--limit', '0'], code: USAGE, message: /--limit must be/ },
  // Whole numbers and durations, said one way wherever they come from
  { argv: ['tail', '--key-wait', '1.5'], code: USAGE, message: /^--key-wait must be a whole number of at least 0$/ },
  { argv: ['sync', '--timeout', '2.5'], code: USAGE, message: /^--timeout must be a whole number of milliseconds of at least 0$/ },
  { argv: ['typing', ROOM, '--timeout', '600001'], code: USAGE, message: /^--timeout must be a whole number of milliseconds from 1 to 600000$/ },
  { argv: ['user', 'search', 'x', '--limit', '-3'], code: USAGE, message: /^--limit must be a whole number of at least 1$/ },
  { argv: ['whoami'], env: { MX_RETRIES: '2.5' }, code: USAGE, message: /^MX_RETRIES must be a whole number from 0 to 100$/ },
  { argv: ['login', '--sso', '--sso-timeout', '-1'], code: USAGE, message: /^--sso-timeout must be a number of seconds above 0, not -1$/ },
  { argv: ['user', 'search', ' '], code: USAGE, message: /give a search term/ },
  { argv: ['room', 'create', '--space', '--encrypted'], code: USAGE, message: /a space is neither/ },
  { argv: ['space', 'add', ROOM, 'nope'], code: USAGE, message: /room/ },
  { argv: ['api', 'POST', '/v3/createRoom', '-f', 'novalue'], code: USAGE, message: /-f takes key=value/ },
  { argv: ['api', 'GET', '/v3/sync', '--paginate'], code: USAGE, message: /never ends/ },
  { argv: ['api', 'GET', '/v3/x', '--data', '{}'], code: USAGE, message: /GET sends no body/ },
  // Media
  { argv: ['download'], code: USAGE, message: /give an mxc:\/\/ URI, or --event/ },
  { argv: ['download', 'mxc://hs.test/a/../b'], code: USAGE, message: /invalid mxc/ },
  { argv: ['download', 'mxc://hs.test/x', '--event', ROOM, '$a'], code: USAGE, message: /give an mxc/ },
  { argv: ['download', '--event', ROOM, 'nope'], code: USAGE, message: /invalid event ID/ },
  { argv: ['download', 'mxc://hs.test/x', '--out', '-', '--force'], code: USAGE, message: /--force is for a file/ },
  { argv: ['tail', '--download', ''], code: USAGE, message: /--download needs a folder/ },
  // Encryption: trust, recovery, key files, devices
  { argv: ['crypto'], code: USAGE, message: /give a crypto command/ },
  { argv: ['crypto', 'trust', 'bob'], code: USAGE, message: /user ID/ },
  { argv: ['crypto', 'import', '-', '--passphrase-stdin'], code: USAGE, message: /cannot both come from stdin/ },
  { argv: ['crypto', 'export', ''], code: USAGE, message: /needs a file name/ },
  { argv: ['crypto', 'export', '-', '--force'], code: USAGE, message: /--force is for a file/ },
  { argv: ['crypto', 'setup', '--recovery-key-file', ''], code: USAGE, message: /needs a file name/ },
  { argv: ['crypto', 'import', 'no-such-file.txt'], code: USAGE, message: /cannot read no-such-file.txt/ },
  { argv: ['device', 'rename', '', 'name'], code: USAGE, message: /needs a device ID/ },
  { argv: ['device', 'delete'], code: USAGE, message: /Not enough non-option arguments/ },
  // Raw API calls
  { argv: ['api', 'FETCH', '/v3/x'], code: USAGE, message: /method must be one of/ },
  { argv: ['api', 'GET', 'v3/x'], code: USAGE, message: /path must start with \// },
  { argv: ['api', 'POST', '/v3/createRoom', '--data', '{nope'], code: USAGE, message: /--data is not valid JSON/ },
  { argv: ['api', 'POST', '/v3/createRoom', '--data', '@/nonexistent.json'], code: USAGE, message: /cannot read --data file/ },
  { argv: ['api', 'POST', '/v3/createRoom', '--data', '-'], input: '', code: USAGE, message: /stdin is not valid JSON/ },
];

describe('bad-input corpus', () => {
  it.each(cases.map((c) => [c.argv.join(' ').slice(0, 60), c] as const))('mx %s', async (_name, c) => {
    const io = fakeIo({
      env: { MX_CONFIG_DIR: c.configDir?.() ?? tempDir(), MX_HOMESERVER: 'https://hs.test', MX_ACCESS_TOKEN: 'tok', ...c.env },
      ...(c.input === undefined ? {} : { input: c.input }),
    });
    for (const [key, value] of Object.entries(io.env)) if (value === undefined) delete io.env[key];
    const code = await main(c.argv, io);
    const lines = io.err().trim().split('\n');
    expect(lines, io.err()).toHaveLength(1);
    const error = JSON.parse(lines[0]!).error;
    expect({ code, message: error.message }).toEqual({ code: c.code, message: expect.stringMatching(c.message) });
    expect(error.exit_code).toBe(c.code);
    expect(io.err()).not.toMatch(/\n\s+at /);
    expect(error.message.length, 'a message of bounded length').toBeLessThan(500);
    expect(io.out()).toBe('');
    expect(io.requests()).toEqual([]);
  });
});
