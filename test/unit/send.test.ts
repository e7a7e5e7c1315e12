import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, JSON_HEADERS, tempDirMaker, type TestMockAgent } from './fake-io.js';

const HS = 'https://hs.test';
const ROOM = '!room:hs.test';
const SEND_PREFIX = '/_matrix/client/v3/rooms/!room%3Ahs.test/send/';

const tempDir = tempDirMaker('mx-send-');

interface Seen {
  method: string;
  path: string;
  body: any;
  headers: Record<string, string>;
}

/** An in-process mx with a token in the environment and a MockAgent that records each request. */
function setup(options: Parameters<typeof fakeIo>[0] = {}) {
  const io = fakeIo({ ...options, env: { MX_CONFIG_DIR: tempDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: HS, ...options.env } });
  const agent = io.dispatcher as TestMockAgent;
  const hs = agent.get(HS);
  const seen: Seen[] = [];
  const record = (request: { method: string; path: string; body?: unknown; headers?: unknown }) => {
    const body = typeof request.body === 'string' ? JSON.parse(request.body) : request.body;
    seen.push({ method: request.method, path: request.path, body, headers: (request.headers ?? {}) as Record<string, string> });
  };
  /** Says that no room is encrypted (mx asks before sending a message). */
  const plainRoom = () =>
    hs.intercept({ path: (p) => p.endsWith('/state/m.room.encryption/'), method: 'GET' })
      .reply(404, { errcode: 'M_NOT_FOUND', error: 'Event not found.' }, JSON_HEADERS)
      .persist();
  /** Answers every send (to any room, any type) with $ev<n>, n counting from 1; no room is encrypted. */
  const acceptSends = () => {
    plainRoom();
    return hs
      .intercept({ path: (p) => /^\/_matrix\/client\/v3\/rooms\/[^/]+\/(send|state)\//.test(p), method: 'PUT' })
      .reply((request) => {
        record(request);
        return { statusCode: 200, data: { event_id: `$ev${seen.length}` }, responseOptions: JSON_HEADERS };
      })
      .persist();
  };
  const run = async (argv: string[]) => {
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  };
  return { io, agent, hs, seen, record, plainRoom, acceptSends, run };
}

const sends = (seen: Seen[]) => seen.filter((s) => s.method === 'PUT');
const txnOf = (p: string) => decodeURIComponent(p.split('/').pop()!);

describe('mx send into an encrypted room', () => {
  it.each([
    ['text', ['hello']],
    ['notice', ['hi', '--notice']],
    ['emote', ['waves', '--emote']],
    ['html', ['--html', '<b>x</b>']],
    ['markdown', ['**x**', '--markdown']],
    ['json', ['--json', '{"msgtype":"m.text","body":"j"}']],
    ['custom type', ['--type', 'com.example.event', '--json', '{"a":1}']],
    ['location', ['--location', 'geo:1,2']],
  ])('refuses %s with exit code 9 and sends nothing', async (_kind, args) => {
    const t = setup();
    t.hs.intercept({ path: '/_matrix/client/v3/rooms/!room%3Ahs.test/state/m.room.encryption/', method: 'GET' })
      .reply(200, { algorithm: 'm.megolm.v1.aes-sha2' }, JSON_HEADERS);
    const { code, err } = await t.run(['send', ROOM, ...args]);
    expect(code).toBe(9);
    expect(JSON.parse(err).error.message).toMatch(/is an encrypted room .*nothing was sent/);
    expect(t.seen).toEqual([]);
  });

  it('refuses a file before uploading it', async () => {
    const t = setup();
    const file = path.join(tempDir(), 'secret.txt');
    writeFileSync(file, 'secret');
    t.hs.intercept({ path: '/_matrix/client/v3/rooms/!room%3Ahs.test/state/m.room.encryption/', method: 'GET' })
      .reply(200, { algorithm: 'm.megolm.v1.aes-sha2' }, JSON_HEADERS);
    const { code } = await t.run(['send', ROOM, '--file', file]);
    expect(code).toBe(9);
    // No upload interceptor exists: an upload would have failed the run with another code.
    expect(t.seen).toEqual([]);
  });

  it('still sends state events, which are never encrypted (and asks nothing about encryption for them)', async () => {
    const t = setup();
    t.hs.intercept({ path: '/_matrix/client/v3/rooms/!room%3Ahs.test/state/m.room.topic/', method: 'PUT' }).reply((request) => {
      t.record(request);
      return { statusCode: 200, data: { event_id: '$topic' }, responseOptions: JSON_HEADERS };
    });
    const { code, out } = await t.run(['send', ROOM, '--type', 'm.room.topic', '--state-key', '', '--json', '{"topic":"T"}']);
    expect(code).toBe(0);
    expect(JSON.parse(out).event_id).toBe('$topic');
    expect(t.seen.map((r) => r.body)).toEqual([{ topic: 'T' }]);
  });
});

describe('mx send', () => {
  it('sends m.text with a fresh transaction ID and prints event, room and txn IDs', async () => {
    const t = setup();
    t.acceptSends();
    const { code, out, err } = await t.run(['send', ROOM, 'hello world']);
    expect(err).toBe('');
    expect(code).toBe(0);
    const [put] = sends(t.seen);
    expect(put!.path).toMatch(new RegExp(`^${SEND_PREFIX.replace(/[.!]/g, '\\$&')}m\\.room\\.message/mx[A-Za-z0-9_-]+$`));
    expect(put!.body).toEqual({ msgtype: 'm.text', body: 'hello world' });
    expect(JSON.parse(out)).toEqual({ event_id: '$ev1', room_id: ROOM, txn_id: txnOf(put!.path) });
  });

  it('prints only the event ID as text', async () => {
    const t = setup();
    t.acceptSends();
    expect((await t.run(['send', ROOM, 'hi', '-o', 'text'])).out).toBe('$ev1\n');
  });

  it('reuses the transaction ID when it retries after a 503 and after a 429', async () => {
    const t = setup();
    const fail = (status: number, data: object) =>
      t.hs.intercept({ path: (p) => p.startsWith(SEND_PREFIX), method: 'PUT' }).reply<object>((request) => {
        t.record(request);
        return { statusCode: status, data, responseOptions: JSON_HEADERS };
      });
    fail(503, { errcode: 'M_UNKNOWN', error: 'busy' });
    fail(429, { errcode: 'M_LIMIT_EXCEEDED', error: 'slow down', retry_after_ms: 1500 });
    t.acceptSends();
    const { code, out } = await t.run(['send', ROOM, 'once']);
    expect(code).toBe(0);
    const paths = sends(t.seen).map((s) => s.path);
    expect(paths).toHaveLength(3);
    expect(new Set(paths).size).toBe(1);
    expect(t.io.sleeps).toHaveLength(2);
    expect(t.io.sleeps[1]).toBe(1500);
    expect(JSON.parse(out).txn_id).toBe(txnOf(paths[0]!));
  });

  it('uses --txn-id as given, so a re-run is recognised by the server', async () => {
    const t = setup();
    t.acceptSends();
    await t.run(['send', ROOM, 'x', '--txn-id', 'nightly-7']);
    expect(sends(t.seen)[0]!.path).toBe(`${SEND_PREFIX}m.room.message/nightly-7`);
  });

  it('builds each message variant from the flags', async () => {
    const t = setup();
    t.acceptSends();
    const dir = tempDir();
    writeFileSync(path.join(dir, 'content.json'), '{"msgtype":"m.text","body":"from file","x":1}');
    const variants: [string[], object][] = [
      [['--notice', 'n'], { msgtype: 'm.notice', body: 'n' }],
      [['--emote', 'waves'], { msgtype: 'm.emote', body: 'waves' }],
      [['--msgtype', 'com.example.t', 'c'], { msgtype: 'com.example.t', body: 'c' }],
      [['--html', '<b>B</b>'], { msgtype: 'm.text', body: 'B', format: 'org.matrix.custom.html', formatted_body: '<b>B</b>' }],
      [['--notice', '--html', '<b>B</b>', 'plain'], { msgtype: 'm.notice', body: 'plain', format: 'org.matrix.custom.html', formatted_body: '<b>B</b>' }],
      [['--markdown', '*em*'], { msgtype: 'm.text', body: '*em*', format: 'org.matrix.custom.html', formatted_body: '<p><em>em</em></p>' }],
      [['--json', '{"msgtype":"m.text","body":"raw","extra":true}'], { msgtype: 'm.text', body: 'raw', extra: true }],
      [['--json', `@${path.join(dir, 'content.json')}`], { msgtype: 'm.text', body: 'from file', x: 1 }],
      [['--location', 'geo:1.5,2.25;u=10'], { msgtype: 'm.location', body: 'Location geo:1.5,2.25;u=10', geo_uri: 'geo:1.5,2.25;u=10' }],
      [['--location', 'geo:1.5,2.25', 'the office'], { msgtype: 'm.location', body: 'the office', geo_uri: 'geo:1.5,2.25' }],
    ];
    for (const [flags, content] of variants) {
      const { code, err } = await t.run(['send', ROOM, ...flags]);
      expect(code, `${flags.join(' ')}: ${err}`).toBe(0);
      expect(sends(t.seen).at(-1)!.body, flags.join(' ')).toEqual(content);
    }
  });

  it('reads one message from stdin with -, without the final line break', async () => {
    const t = setup({ input: 'line one\nline two\n' });
    t.acceptSends();
    expect((await t.run(['send', ROOM, '-'])).code).toBe(0);
    expect(sends(t.seen)[0]!.body).toEqual({ msgtype: 'm.text', body: 'line one\nline two' });
  });

  it('takes --json from stdin', async () => {
    const t = setup({ input: '{"body":"in","msgtype":"m.notice"}' });
    t.acceptSends();
    expect((await t.run(['send', ROOM, '--json', '-'])).code).toBe(0);
    expect(sends(t.seen)[0]!.body).toEqual({ body: 'in', msgtype: 'm.notice' });
  });

  it('sends a custom event type and a state event', async () => {
    const t = setup();
    t.acceptSends();
    expect((await t.run(['send', ROOM, 'ping', '--type', 'com.example.ping', '--txn-id', 't1'])).code).toBe(0);
    expect(sends(t.seen)[0]!.path).toBe(`${SEND_PREFIX}com.example.ping/t1`);
    const state = await t.run(['send', ROOM, '--type', 'm.room.topic', '--state-key', '', '--json', '{"topic":"T"}']);
    expect(state.code).toBe(0);
    expect(sends(t.seen)[1]).toMatchObject({ path: '/_matrix/client/v3/rooms/!room%3Ahs.test/state/m.room.topic/', body: { topic: 'T' } });
    expect(JSON.parse(state.out.trim().split('\n').at(-1)!)).toEqual({ event_id: '$ev2', room_id: ROOM });
  });

  it('resolves an alias first', async () => {
    const t = setup();
    t.hs.intercept({ path: '/_matrix/client/v3/directory/room/%23ops%3Ahs.test' }).reply(200, { room_id: ROOM, servers: ['hs.test'] }, JSON_HEADERS);
    t.acceptSends();
    const { code, out } = await t.run(['send', '#ops:hs.test', 'hi']);
    expect(code).toBe(0);
    expect(sends(t.seen)[0]!.path.startsWith(SEND_PREFIX)).toBe(true);
    expect(JSON.parse(out).room_id).toBe(ROOM);
  });

  it('uploads --file and sends it with its info, the file name as body', async () => {
    const t = setup();
    const dir = tempDir();
    writeFileSync(path.join(dir, 'report.pdf'), '%PDF-1.4 tiny');
    let upload: { path: string; headers: Record<string, string>; body: string } | undefined;
    t.hs.intercept({ path: (p) => p.startsWith('/_matrix/media/v3/upload'), method: 'POST' }).reply((request) => {
      upload = { path: request.path, headers: request.headers as Record<string, string>, body: String(request.body) };
      return { statusCode: 200, data: { content_uri: 'mxc://hs.test/abc' }, responseOptions: JSON_HEADERS };
    });
    t.acceptSends();
    const { code, out } = await t.run(['send', ROOM, '--file', path.join(dir, 'report.pdf')]);
    expect(code).toBe(0);
    expect(upload!.path).toBe('/_matrix/media/v3/upload?filename=report.pdf');
    expect(upload!.headers['content-type']).toBe('application/pdf');
    expect(upload!.body).toBe('%PDF-1.4 tiny');
    expect(sends(t.seen)[0]!.body).toEqual({
      msgtype: 'm.file', body: 'report.pdf', url: 'mxc://hs.test/abc', info: { mimetype: 'application/pdf', size: 13 },
    });
    expect(JSON.parse(out)).toMatchObject({ event_id: '$ev1', content_uri: 'mxc://hs.test/abc' });
  });

  it('says the upload limit when the server refuses a file as too large', async () => {
    const t = setup();
    t.plainRoom();
    const file = path.join(tempDir(), 'big.bin');
    writeFileSync(file, 'x'.repeat(100));
    t.hs.intercept({ path: (p) => p.startsWith('/_matrix/media/v3/upload'), method: 'POST' })
      .reply(413, { errcode: 'M_TOO_LARGE', error: 'File size limit exceeded' }, JSON_HEADERS);
    t.hs.intercept({ path: '/_matrix/client/v1/media/config' }).reply(200, { 'm.upload.size': 50 }, JSON_HEADERS);
    const { code, err } = await t.run(['send', ROOM, '--file', file]);
    expect(code).toBe(2);
    expect(JSON.parse(err).error).toMatchObject({
      message: 'big.bin is 100 bytes, more than the server accepts (its upload limit is 50 bytes) (M_TOO_LARGE)', errcode: 'M_TOO_LARGE',
    });
  });

  it('maps 403 (not in the room) to exit code 4', async () => {
    const t = setup();
    t.plainRoom();
    t.hs.intercept({ path: (p) => p.startsWith(SEND_PREFIX), method: 'PUT' })
      .reply(403, { errcode: 'M_FORBIDDEN', error: 'User @me:hs.test not in room !room:hs.test' }, JSON_HEADERS);
    const { code, err } = await t.run(['send', ROOM, 'hi']);
    expect(code).toBe(4);
    expect(JSON.parse(err).error.message).toBe(`send to ${ROOM}: User @me:hs.test not in room !room:hs.test (M_FORBIDDEN)`);
  });

  it("explains the server's M_TOO_LARGE as a usage error", async () => {
    const t = setup();
    t.plainRoom();
    t.hs.intercept({ path: (p) => p.startsWith(SEND_PREFIX), method: 'PUT' })
      .reply(413, { errcode: 'M_TOO_LARGE', error: 'event too large' }, JSON_HEADERS);
    const { code, err } = await t.run(['send', ROOM, 'x'.repeat(65_400)]);
    expect(code).toBe(2);
    expect(JSON.parse(err).error.message).toMatch(/refused the event as too large \(M_TOO_LARGE\).*at most 65536 bytes/);
  });

  it.each([
    [['send', ROOM, ''], /empty message/],
    [['send', ROOM, '  '], /empty message/],
    [['send', ROOM], /give the TEXT to send/],
    [['send', ROOM, 'x'.repeat(65_600)], /too large: its content is \d+ bytes/],
    [['send', ROOM, '--json', '{nope'], /--json is not valid JSON/],
    [['send', ROOM, '--json', '[1,2]'], /--json must be a JSON object \(event content\), not an array/],
    [['send', ROOM, '--json', '{}', 'text'], /give no TEXT/],
    [['send', ROOM, '--json', '@/no/such/file.json'], /cannot read --json file \/no\/such\/file.json: ENOENT/],
    [['send', ROOM, '--file', '/no/such/file.png'], /cannot read --file \/no\/such\/file.png: no such file/],
    [['send', ROOM, 'x', '--notice', '--emote'], /notice and emote are mutually exclusive/],
    [['send', ROOM, '--json', '{}', '--html', '<b>x</b>'], /mutually exclusive/],
    [['send', ROOM, '--state-key', 'k', '--json', '{}'], /Implications failed:\s+state-key -> type/],
    [['send', ROOM, '--state-key', 'k', '--type', 'm.room.topic'], /state-key -> json/],
    [['send', ROOM, '--type', 'x.y', '--state-key', 'k', '--json', '{}', '--txn-id', 'a'], /mutually exclusive/],
    [['send', ROOM, 'text', '--lines'], /--lines reads the messages from stdin/],
    [['send', ROOM, '--lines', '--file', 'x'], /mutually exclusive/],
    [['send', ROOM, 'x', '--txn-id', 'no spaces'], /invalid --txn-id/],
    [['send', ROOM, '--location', 'geo:95,0'], /latitude 95 is not between -90 and 90/],
    [['send', ROOM, 'x', '--type', 'bad type'], /invalid event type/],
    [['send', 'room-without-sigil', 'x'], /invalid room/],
    [['send', ROOM, 'x', '--msgtype', ''], /invalid --msgtype/],
    [['send', ROOM, '--file', 'package.json', '--msgtype', 'bad type'], /invalid --msgtype/],
    [['send', ROOM, '--file', 'package.json', ' '], /empty caption/],
    [['send', ROOM, '--file', 'package.json', 'c'.repeat(66_000)], /too large/],
  ])('mx %j is a usage error (exit 2), before any request', async (argv, message) => {
    const t = setup();
    const { code, err } = await t.run(argv);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(err).error.message).toMatch(message);
    expect(code).toBe(2);
    expect(t.io.requests()).toEqual([]);
  });

  it('refuses an oversized stdin message before any request', async () => {
    const t = setup({ input: 'y'.repeat(70_000) });
    const { code, err } = await t.run(['send', ROOM, '-']);
    expect(code).toBe(2);
    expect(JSON.parse(err).error.message).toMatch(/too large/);
    expect(t.io.requests()).toEqual([]);
  });

  it('never syncs and never writes the profile store', async () => {
    const dir = tempDir();
    const store = { version: 1, defaultProfile: 'me', profiles: { me: { homeserver: HS, userId: '@me:hs.test', accessToken: 'tok', positions: { tail: 's1_2_3' } } } };
    writeFileSync(path.join(dir, 'profiles.json'), JSON.stringify(store), { mode: 0o600 });
    const before = readFileSync(path.join(dir, 'profiles.json'), 'utf8');
    const t = setup({ env: { MX_CONFIG_DIR: dir, MX_ACCESS_TOKEN: undefined, MX_HOMESERVER: undefined } });
    t.acceptSends();
    expect((await t.run(['send', ROOM, 'hi'])).code).toBe(0);
    // Whether the room is encrypted, then the message: no sync.
    expect(t.io.requests()).toEqual([
      'GET /_matrix/client/v3/rooms/!room%3Ahs.test/state/m.room.encryption/',
      expect.stringMatching(/^PUT \/_matrix\/client\/v3\/rooms\/[^/]+\/send\/m\.room\.message\//),
    ]);
    expect(readFileSync(path.join(dir, 'profiles.json'), 'utf8')).toBe(before);
  });
});

describe('mx send --lines', () => {
  it('sends each non-blank line in order with IDs derived from --txn-id, printing NDJSON', async () => {
    const t = setup({ input: 'one\ntwo\n\n   \r\nfive\r\nsix' });
    t.acceptSends();
    const { code, out, err } = await t.run(['send', ROOM, '--lines', '--txn-id', 'X']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(sends(t.seen).map((s) => [txnOf(s.path), s.body.body])).toEqual([
      ['X-1', 'one'], ['X-2', 'two'], ['X-5', 'five'], ['X-6', 'six'],
    ]);
    expect(out.trim().split('\n').map((line) => JSON.parse(line))).toEqual([
      { event_id: '$ev1', room_id: ROOM, txn_id: 'X-1', line: 1 },
      { event_id: '$ev2', room_id: ROOM, txn_id: 'X-2', line: 2 },
      { event_id: '$ev3', room_id: ROOM, txn_id: 'X-5', line: 5 },
      { event_id: '$ev4', room_id: ROOM, txn_id: 'X-6', line: 6 },
    ]);
  });

  it('derives the same IDs on a re-run of the same input', async () => {
    const paths: string[][] = [];
    for (let i = 0; i < 2; i++) {
      const t = setup({ input: 'a\nb\n' });
      t.acceptSends();
      await t.run(['send', ROOM, '-', '--lines', '--txn-id', 'job-1']);
      paths.push(sends(t.seen).map((s) => s.path));
    }
    expect(paths[0]).toEqual([`${SEND_PREFIX}m.room.message/job-1-1`, `${SEND_PREFIX}m.room.message/job-1-2`]);
    expect(paths[1]).toEqual(paths[0]);
  });

  it('without --txn-id, numbers the lines under one fresh base; applies the message flags to each line', async () => {
    const t = setup({ input: 'a\n**b**\n' });
    t.acceptSends();
    const { code, out } = await t.run(['send', ROOM, '--lines', '--notice', '--markdown', '-o', 'text']);
    expect(code).toBe(0);
    const txns = sends(t.seen).map((s) => txnOf(s.path));
    expect(txns[0]).toMatch(/^mx[A-Za-z0-9_-]+-1$/);
    expect(txns[1]).toBe(txns[0]!.replace(/-1$/, '-2'));
    expect(sends(t.seen).map((s) => s.body)).toEqual([
      { msgtype: 'm.notice', body: 'a' },
      { msgtype: 'm.notice', body: '**b**', format: 'org.matrix.custom.html', formatted_body: '<p><strong>b</strong></p>' },
    ]);
    expect(out).toBe('$ev1\n$ev2\n');
  });

  it('keeps one send in flight: a retried line is accepted before the next is sent', async () => {
    const t = setup({ input: '1\n2\n3\n' });
    t.plainRoom();
    let answered = 0;
    t.hs.intercept({ path: (p) => p.startsWith(SEND_PREFIX), method: 'PUT' }).reply<object>((request) => {
      t.record(request);
      answered++;
      // The second line's first attempt fails as a gateway would.
      return answered === 2
        ? { statusCode: 502, data: { errcode: 'M_UNKNOWN', error: 'bad gateway' }, responseOptions: JSON_HEADERS }
        : { statusCode: 200, data: { event_id: `$e${answered}` }, responseOptions: JSON_HEADERS };
      // Answers come a little later (a mock answers at once otherwise), so that a send made
      // before the previous answer arrived would be seen in flight beside it.
    }).delay(5).persist();
    const { code, out, err } = await t.run(['send', ROOM, '--lines', '--txn-id', 'R', '-o', 'text']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(sends(t.seen).map((s) => txnOf(s.path))).toEqual(['R-1', 'R-2', 'R-2', 'R-3']);
    expect(out).toBe('$e1\n$e3\n$e4\n');
    expect(t.agent.maxInFlight).toBe(1);
  });

  it('stops at the first failure, after printing what was sent (403: exit 4)', async () => {
    const t = setup({ input: 'ok\nrefused\nnever\n' });
    t.plainRoom();
    let n = 0;
    t.hs.intercept({ path: (p) => p.startsWith(SEND_PREFIX), method: 'PUT' }).reply<object>((request) => {
      t.record(request);
      n++;
      return n === 2
        ? { statusCode: 403, data: { errcode: 'M_FORBIDDEN', error: 'You have been banned' }, responseOptions: JSON_HEADERS }
        : { statusCode: 200, data: { event_id: `$e${n}` }, responseOptions: JSON_HEADERS };
    }).persist();
    const { code, out, err } = await t.run(['send', ROOM, '--lines', '-o', 'text']);
    expect(code).toBe(4);
    expect(out).toBe('$e1\n');
    expect(err).toMatch(/You have been banned \(M_FORBIDDEN\)/);
    expect(sends(t.seen).map((s) => s.body.body)).toEqual(['ok', 'refused']);
  });

  it('refuses an oversized line (exit 2) after sending the lines before it', async () => {
    const t = setup({ input: `first\n${'z'.repeat(70_000)}\nlast\n` });
    t.acceptSends();
    const { code, out, err } = await t.run(['send', ROOM, '--lines', '-o', 'text']);
    expect(code).toBe(2);
    expect(out).toBe('$ev1\n');
    expect(err).toMatch(/^mx: line 2 is too large/);
    expect(sends(t.seen)).toHaveLength(1);
  });

  it('sends nothing for empty input', async () => {
    const t = setup({ input: '\n\n' });
    const { code, out } = await t.run(['send', ROOM, '--lines']);
    expect(code).toBe(0);
    expect(out).toBe('');
    expect(t.io.requests()).toEqual([]);
  });
});
