// A room member or a server cannot take over the reader's terminal: whatever names, bodies,
// IDs, error codes and error texts a server answers, mx's text and table output (stdout and
// stderr) hold no control or bidi character but mx's own colours; JSON output stays exact.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MockAgent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { progressText, withSpinner } from '../../src/output/spinner.js';
import { fakeIo, JSON_HEADERS } from './fake-io.js';

const HS = 'https://hs.test';
const ROOM = '!room:hs.test';
/** Clears the screen, sets the title, writes the clipboard, plants a link, reorders the line; breaks lines and columns. */
const HOSTILE = 'x\x1b]0;T\x07\x1b[2J\x1b]52;c;cHduZWQ=\x07\x1b]8;;https://evil.example/\x07link\x1b]8;;\x07\x9b2J\u202eevil\u2066\x7f\r\n\tnext';
const HOSTILE_ID = '@m\x1b[2J\u202e:hs.test';
/** What must not be in text for people (tabs and line breaks are layout; mx's own SGR is removed first). */
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]/;
const OWN_SGR = /\x1b\[(?:1|2|22|31|32|33|39)m/g;

function expectSafe(text: string, what: string): void {
  const withoutOwn = text.replace(OWN_SGR, '');
  const found = UNSAFE.exec(withoutOwn);
  expect(found ? `${what}: U+${found[0].charCodeAt(0).toString(16)} at ${JSON.stringify(withoutOwn.slice(Math.max(0, found.index - 20), found.index + 20))}` : undefined).toBeUndefined();
}

const tempDirs: string[] = [];
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function profileDir(positions?: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'mx-hostile-'));
  tempDirs.push(dir);
  const profile = { homeserver: HS, userId: '@me:hs.test', deviceId: 'DEV', accessToken: 'tok', ...(positions ? { positions } : {}) };
  writeFileSync(path.join(dir, 'profiles.json'), JSON.stringify({ version: 1, defaultProfile: 'default', profiles: { default: profile } }), { mode: 0o600 });
  return dir;
}

const message = (id: string, fields: Record<string, unknown> = {}) => ({
  event_id: `$${id}`, type: 'm.room.message', sender: HOSTILE_ID, origin_server_ts: 1_700_000_000_000, content: { msgtype: 'm.text', body: HOSTILE }, ...fields,
});
/** Events a hostile member or server sends: hostile strings, and fields of the wrong type. */
const HOSTILE_EVENTS = [
  message('body'),
  message('emote', { content: { msgtype: 'm.emote', body: HOSTILE } }),
  message('file', { content: { msgtype: 'm.file', body: HOSTILE } }),
  { event_id: '$name', type: 'm.room.name', state_key: '', sender: HOSTILE_ID, origin_server_ts: 1, content: { name: HOSTILE } },
  { event_id: '$topic', type: 'm.room.topic', state_key: '', sender: HOSTILE_ID, origin_server_ts: 1, content: { topic: HOSTILE } },
  { event_id: '$member', type: 'm.room.member', state_key: HOSTILE_ID, sender: HOSTILE_ID, origin_server_ts: 1, content: { membership: 'join', displayname: HOSTILE } },
  { event_id: '$invite', type: 'm.room.member', state_key: HOSTILE, sender: HOSTILE_ID, origin_server_ts: 1, content: { membership: HOSTILE } },
  { event_id: '$type', type: `m.x${HOSTILE}`, sender: HOSTILE_ID, origin_server_ts: 1, content: {} },
  message('huge-ts', { origin_server_ts: 9007199254740991 }),
  message('string-ts', { origin_server_ts: 'yesterday' }),
  message('object-sender', { sender: { toString: 1, valueOf: 1 } }),
  message('array-content', { content: [HOSTILE] }),
  message('null-content', { content: null }),
  message('number-body', { content: { msgtype: 'm.text', body: 5 } }),
  { event_id: '$object-key', type: 'm.room.member', state_key: { toString: 1 }, sender: HOSTILE_ID, origin_server_ts: 1, content: { membership: 'ban' } },
];

interface Run {
  code: number;
  out: string;
  err: string;
}

/** Runs mx on a terminal (colours forced on) against a server whose answers `answer` gives by path. */
async function run(argv: string[], answer: (path: string, method: string) => { status?: number; body: unknown } | undefined, positions?: Record<string, string>): Promise<Run> {
  const io = fakeIo({ env: { MX_CONFIG_DIR: profileDir(positions), FORCE_COLOR: '1' }, stdoutIsTTY: true, stderrIsTTY: true });
  (io.dispatcher as MockAgent).get(HS).intercept({ path: () => true, method: () => true }).reply((request) => {
    const got = answer(request.path, request.method);
    if (!got) return { statusCode: 404, data: { errcode: 'M_NOT_FOUND', error: 'nothing here' }, responseOptions: JSON_HEADERS };
    return { statusCode: got.status ?? 200, data: JSON.stringify(got.body), responseOptions: JSON_HEADERS };
  }).persist();
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err() };
}

const syncAnswer = {
  next_batch: 's1',
  rooms: {
    join: {
      [ROOM]: { state: { events: [] }, timeline: { events: HOSTILE_EVENTS }, unread_notifications: { notification_count: HOSTILE } },
      [`!x${HOSTILE}:hs.test`]: { summary: { 'm.heroes': [HOSTILE_ID] }, timeline: { events: [message('other')] } },
      '!looked-up:hs.test': { timeline: { events: [message('third')] } },
    },
    invite: { [`!i${HOSTILE}:hs.test`]: { invite_state: { events: [{ type: 'm.room.member', state_key: '@me:hs.test', sender: HOSTILE_ID, content: { membership: 'invite' } }] } } },
  },
};

/** The lookups of room names answer a hostile alias. */
const hostileAlias = (p: string) => (p.includes('/state/m.room.canonical_alias') ? { body: { alias: `#a${HOSTILE}:hs.test` } } : undefined);

describe('text for people from a hostile server', () => {
  it('room messages -o text: bodies, names, IDs shown, not run; fields of the wrong type shown; JSON exact', async () => {
    const answer = (p: string) => (p.includes('/messages') ? { body: { chunk: HOSTILE_EVENTS, start: 'a', end: `b${HOSTILE}` } } : undefined);
    const text = await run(['room', 'messages', ROOM, '-o', 'text'], answer);
    expect(text.code).toBe(0);
    expectSafe(text.out, 'stdout');
    expectSafe(text.err, 'stderr');
    expect(text.out.trimEnd().split('\n')).toHaveLength(HOSTILE_EVENTS.length);
    expect(text.out).toContain('x^[]0;T^G^[[2J^[]52;c;cHduZWQ=^G');
    expect(text.out).toContain('<U+202E>evil<U+2066>^? next');
    expect(text.out).toContain('????-??-?? ??:??:??');
    expect(text.err).toContain('more: --from bx^[]0;T^G');

    const json = await run(['room', 'messages', ROOM, '-o', 'json', '--limit', '50'], answer);
    // On a terminal JSON too holds nothing a terminal acts on: \u escapes, the same JSON value.
    expectSafe(json.out, 'json stdout');
    expectSafe(json.err, 'json stderr');
    const events = json.out.trimEnd().split('\n').map((line) => JSON.parse(line) as { content: unknown; sender: unknown });
    expect(events.map((e) => [e.sender, e.content])).toEqual([...HOSTILE_EVENTS].reverse().map((e) => [e.sender, e.content]));
  });

  it('tail -o text: its lines, room labels learnt from the stream or looked up, and notices', async () => {
    let syncs = 0;
    const answer = (p: string) => {
      if (!p.includes('/sync')) return hostileAlias(p);
      syncs++;
      // First a failure worth retrying, whose error text the reconnect notice quotes.
      if (syncs === 1) return { status: 502, body: { errcode: `M_UNKNOWN${HOSTILE}`, error: HOSTILE } };
      return { body: syncs === 2 ? syncAnswer : { next_batch: 's2' } };
    };
    const { code, out, err } = await run(['tail', '--until-idle', '-o', 'text'], answer, { 'tail:default': 's0' });
    expect(code).toBe(0);
    expect(err).toMatch(/^mx: tail: .*x\^\[\]0;T\^G.*; retrying in 0\.5 s\nmx: tail: reconnected\n$/);
    expectSafe(err, 'stderr');
    expectSafe(out, 'stdout');
    // A line per event, each on its own line: the invite, the hostile corpus, one each in the other rooms.
    expect(out.trimEnd().split('\n')).toHaveLength(1 + HOSTILE_EVENTS.length + 2);
    expect(out).toContain('#ax^[]0;T^G');
  });

  it('tail and room messages pass over what in an answer is no event (null, a number, a room that is no object) and go on', async () => {
    const junk = [null, 5, 'text', [message('in-an-array')]];
    const mixed = {
      next_batch: 's1',
      rooms: {
        join: { [ROOM]: { timeline: { events: [...junk, message('real')] } }, '!null:hs.test': null, '!list:hs.test': { timeline: { events: { not: 'a list' } }, state: 5 } },
        invite: { '!i:hs.test': null, '!j:hs.test': { invite_state: { events: [null, 'x'] } } },
        leave: 'nothing',
      },
    };
    for (const format of ['text', 'json']) {
      let syncs = 0;
      const { code, out, err } = await run(['tail', '--until-idle', '-o', format], (p) => (p.includes('/sync') ? { body: ++syncs === 1 ? mixed : { next_batch: 's2' } } : undefined), { 'tail:default': 's0' });
      expect([format, code, err]).toEqual([format, 0, '']);
      // The one real message, and the invite whose stripped state held nothing usable.
      expect(out.trimEnd().split('\n'), out).toHaveLength(2);
      expectSafe(out, `tail -o ${format}`);
    }
    const history = await run(['room', 'messages', ROOM, '-o', 'text'], (p) => (p.includes('/messages') ? { body: { chunk: [...junk, message('real')], start: 'a' } } : undefined));
    expect([history.code, history.err]).toEqual([0, '']);
    expect(history.out.trimEnd().split('\n')).toHaveLength(1);
  });

  it('sync -o table and -o text: room names, IDs, heroes, the latest event', async () => {
    const answer = (p: string) => (p.includes('/sync') ? { body: syncAnswer } : hostileAlias(p));
    for (const format of ['table', 'text']) {
      const { code, out, err } = await run(['sync', '-o', format, '--no-save'], answer);
      expect(err).toBe('');
      expect(code).toBe(0);
      expectSafe(out, `sync -o ${format}`);
      expect(out).toContain('#ax^[]0;T^G');
    }
  });

  it('room state -o table, members -o table, user search -o table, directory -o text, space tree -o text', async () => {
    const state = [...HOSTILE_EVENTS, null, 5, { type: HOSTILE }];
    const answer = (p: string, method: string) => {
      if (p.includes('/hierarchy')) {
        return { body: { rooms: [{ room_id: ROOM, name: HOSTILE, room_type: 'm.space', children_state: [{ state_key: `!c${HOSTILE}` }, { state_key: { toString: 1 } }, null] }, null] } };
      }
      if (p.endsWith('/state')) return { body: state };
      if (p.includes('/members')) return { body: { chunk: [...HOSTILE_EVENTS, { content: null }] } };
      if (p.includes('/user_directory/search') && method === 'POST') return { body: { results: [{ user_id: HOSTILE_ID, display_name: HOSTILE }], limited: false } };
      if (p.includes('/publicRooms')) return { body: { chunk: [{ room_id: ROOM, name: HOSTILE, topic: HOSTILE, num_joined_members: { toString: 1 }, canonical_alias: `#${HOSTILE}` }, null] } };
      return undefined;
    };
    for (const argv of [
      ['room', 'state', ROOM, '-o', 'table'],
      ['room', 'members', ROOM, '-o', 'table'],
      ['user', 'search', 'x', '-o', 'table'],
      ['room', 'directory', '-o', 'text'],
      ['space', 'tree', ROOM, '-o', 'text'],
    ]) {
      const { code, out, err } = await run(argv, answer);
      expect([argv.join(' '), err, code]).toEqual([argv.join(' '), '', 0]);
      expectSafe(out, argv.join(' '));
    }
  });

  it('a table piped is tab-separated with every row in its columns, whatever tabs and line breaks its cells hold', async () => {
    const io = fakeIo({ env: { MX_CONFIG_DIR: profileDir() } });
    (io.dispatcher as MockAgent).get(HS).intercept({ path: '/_matrix/client/v3/user_directory/search', method: 'POST' })
      .reply(200, { results: [{ user_id: '@a\tb:hs.test', display_name: 'one\ttwo\nthree' }, { user_id: '@c:hs.test', display_name: HOSTILE }], limited: false }, JSON_HEADERS);
    expect(await main(['user', 'search', 'x', '-o', 'table'], io)).toBe(0);
    const lines = io.out().trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    for (const line of lines) expect(line.split('\t')).toHaveLength(2);
    expect(lines[1]).toBe('@a b:hs.test\tone two three');
    expectSafe(io.out(), 'tsv');
  });

  it('mx api on a terminal: a JSON answer escaped, a text answer and -i headers shown; piped, the bytes as received', async () => {
    const text = `plain ${HOSTILE}\r\nline two\n`;
    const serve = (tty: boolean, what: 'json' | 'text') => {
      const io = fakeIo({ stdoutIsTTY: tty, stderrIsTTY: tty, env: { MX_CONFIG_DIR: profileDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: HS } });
      const pool = (io.dispatcher as MockAgent).get(HS);
      if (what === 'json') pool.intercept({ path: '/_matrix/client/v3/json', method: 'GET' }).reply(200, JSON.stringify({ body: HOSTILE }), JSON_HEADERS);
      else pool.intercept({ path: '/_matrix/client/v3/text', method: 'GET' }).reply(200, text, { headers: { 'content-type': 'text/plain', 'x-note': 'a\x9bb' } });
      return io;
    };
    const tty = serve(true, 'json');
    expect(await main(['api', 'GET', '/v3/json'], tty)).toBe(0);
    expect(JSON.parse(tty.out())).toEqual({ body: HOSTILE });
    expectSafe(tty.out(), 'api json');
    const ttyText = serve(true, 'text');
    expect(await main(['api', 'GET', '/v3/text', '-i'], ttyText)).toBe(0);
    expectSafe(ttyText.out(), 'api text');
    expect(ttyText.out()).toContain('plain x^[]0;T^G^[[2J');
    expect(ttyText.out()).toContain('line two\n');

    const piped = serve(false, 'text');
    expect(await main(['api', 'GET', '/v3/text'], piped)).toBe(0);
    expect(piped.out()).toBe(text);
  });

  it('spinner and progress text on a terminal show what they are given, never run it', async () => {
    const io = fakeIo({ stderrIsTTY: true });
    await withSpinner(io, true, `Downloading ${HOSTILE}`, async (setText) => {
      setText(progressText(`Downloading ${HOSTILE}`, 5, 10));
      await new Promise((resolve) => setTimeout(resolve, 150));
    });
    // ora draws with escape sequences of its own (cursor, line clearing); none of the text's goes out.
    expect(io.err()).toContain('x^[]0;T^G^[[2J');
    for (const sequence of ['\x1b]0;T', '\x1b[2J', '\x1b]52', '\x1b]8', '\x9b', '\u202e', '\x07']) expect(io.err()).not.toContain(sequence);
  });

  it('error codes, error texts and --debug lines on stderr are shown, not run', async () => {
    const answer = () => ({ status: 403, body: { errcode: `M_FORBIDDEN${HOSTILE}`, error: HOSTILE } });
    for (const argv of [['room', 'members', ROOM, '-o', 'table'], ['room', 'members', ROOM, '-o', 'text', '--debug']]) {
      const { code, out, err } = await run(argv, answer);
      expect(code).not.toBe(0);
      expectSafe(out + err, argv.join(' '));
      expect(err).toContain('x^[]0;T^G');
      // One line of error (and one per debug line): a line break in the text cannot forge another.
      expect(err.split('\n').filter((line) => line.startsWith('mx: '))).toHaveLength(1);
    }
    const json = await run(['room', 'members', ROOM, '-o', 'json'], answer);
    expect(JSON.parse(json.err.trim().split('\n')[0]!).error.errcode).toBe(`M_FORBIDDEN${HOSTILE}`);
  });
});
