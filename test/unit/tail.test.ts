// mx tail in-process: a MockAgent plays the homeserver (/sync, /messages), a temp store holds
// the profile and its positions, and a scripted stdout fails or signals mid-stream.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { MockAgent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSyncFilter, matchesFilter, matchesPattern, parseIncludes } from '../../src/stream/filter.js';
import { main } from '../../src/main.js';
import { decodePosition, encodePosition } from '../../src/stream/positions.js';
import { fakeIo, JSON_HEADERS } from './fake-io.js';

const tempDirs: string[] = [];
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const HS = 'https://hs.test';
const ME = '@me:hs.test';
const ROOM = '!room:hs.test';

function message(id: string, body = id, sender = '@bob:hs.test') {
  return { event_id: `$${id}`, type: 'm.room.message', sender, origin_server_ts: 1_700_000_000_000, content: { msgtype: 'm.text', body } };
}

type Answer = { status?: number; body: unknown } | Error;

interface FakeServer {
  configDir: string;
  /** Every /sync query, in order. */
  syncs: URLSearchParams[];
  /** Every /messages request: room and query. */
  messages: { roomId: string; query: URLSearchParams }[];
  positions(): Record<string, string> | undefined;
  setPositions(positions: Record<string, string>): void;
  /**
   * Runs mx in-process; `stdout` replaces the captured one (to fail or signal mid-stream).
   * With `noRequests`, the server answers nothing and the run must make no request at all.
   */
  run(
    argv: string[],
    opts?: { stdout?: Writable; signal?: AbortSignal; noRequests?: boolean },
  ): Promise<{ code: number; out: string; err: string; sleeps: number[] }>;
}

/**
 * `onSync(query)` answers /sync (a body, `{status, body}`, or an Error for a network failure);
 * `onMessages(roomId, query)` answers /rooms/{id}/messages; `roomNames` answers the room-state
 * lookups of text output with 404. Each run must use every one of them that is given.
 */
function fakeServer(handlers: {
  onSync: (query: URLSearchParams, n: number) => Answer | unknown;
  onMessages?: (roomId: string, query: URLSearchParams) => unknown;
  roomNames?: boolean;
  positions?: Record<string, string>;
}): FakeServer {
  const configDir = mkdtempSync(path.join(tmpdir(), 'mx-tail-'));
  tempDirs.push(configDir);
  const storeFile = path.join(configDir, 'profiles.json');
  const writeStore = (positions?: Record<string, string>) =>
    writeFileSync(
      storeFile,
      JSON.stringify({
        version: 1,
        defaultProfile: 'default',
        profiles: { default: { homeserver: HS, userId: ME, deviceId: 'DEV', accessToken: 'tok', ...(positions ? { positions } : {}) } },
      }),
      { mode: 0o600 },
    );
  writeStore(handlers.positions);
  const syncs: URLSearchParams[] = [];
  const messages: FakeServer['messages'] = [];

  const install = (agent: MockAgent) => {
    const hs = agent.get(HS);
    hs.intercept({ path: (p) => p.startsWith('/_matrix/client/v3/sync'), method: 'GET' })
      .reply((request) => {
        const query = new URL(request.path, HS).searchParams;
        syncs.push(query);
        const answer = handlers.onSync(query, syncs.length);
        if (answer instanceof Error) throw answer;
        const { status, body } = isAnswer(answer) ? answer : { status: 200, body: answer };
        return { statusCode: status ?? 200, data: body as object, responseOptions: JSON_HEADERS };
      })
      .persist();
    const { onMessages } = handlers;
    if (onMessages) {
      hs.intercept({ path: (p) => /^\/_matrix\/client\/v3\/rooms\/[^/]+\/messages/.test(p), method: 'GET' })
        .reply((request) => {
          const url = new URL(request.path, HS);
          const roomId = decodeURIComponent(url.pathname.split('/')[5]!);
          messages.push({ roomId, query: url.searchParams });
          return { statusCode: 200, data: onMessages(roomId, url.searchParams) as object, responseOptions: JSON_HEADERS };
        })
        .persist();
    }
    if (handlers.roomNames) {
      hs.intercept({ path: (p) => p.includes('/state/'), method: 'GET' })
        .reply(404, { errcode: 'M_NOT_FOUND', error: 'no state' }, JSON_HEADERS)
        .persist();
    }
  };

  return {
    configDir,
    syncs,
    messages,
    positions: () => JSON.parse(readFileSync(storeFile, 'utf8')).profiles.default.positions,
    setPositions: (positions) => writeStore(positions),
    async run(argv, opts = {}) {
      const io = fakeIo({ env: { MX_CONFIG_DIR: configDir }, ...(opts.signal ? { signal: opts.signal } : {}) });
      if (!opts.noRequests) install(io.dispatcher as MockAgent);
      if (opts.stdout) io.stdout = opts.stdout;
      const code = await main(argv, io);
      if (opts.noRequests) expect(io.requests()).toEqual([]);
      const out = opts.stdout ? ((opts.stdout as Writable & { lines?: string[] }).lines ?? []).join('') : io.out();
      return { code, out, err: io.err(), sleeps: io.sleeps };
    },
  };
}

function isAnswer(value: unknown): value is { status?: number; body: unknown } {
  return typeof value === 'object' && value !== null && 'body' in value && Object.keys(value).every((k) => k === 'status' || k === 'body');
}

/** A sync answer with one joined room's timeline. */
function batch(nextBatch: string, events: unknown[], extra: { limited?: boolean; roomId?: string } = {}) {
  return {
    next_batch: nextBatch,
    rooms: events.length || extra.limited
      ? { join: { [extra.roomId ?? ROOM]: { timeline: { events, limited: extra.limited ?? false, prev_batch: 'p-' + nextBatch } } } }
      : {},
  };
}

/**
 * A stdout that records lines and runs `onLine(n)` right after the n-th line went out, before its
 * write's callback (to abort mid-stream), or fails the n-th write with `failAt` (EPIPE).
 */
function scriptedStdout(opts: { onLine?: (n: number) => void; failAt?: number }): Writable & { lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      const text = String(chunk);
      if (text === '') return callback();
      if (opts.failAt !== undefined && lines.length + 1 >= opts.failAt) {
        const error = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
        return callback(error);
      }
      lines.push(text);
      callback();
      // The hardest moment for a signal: the line is out, its write's callback still pending.
      opts.onLine?.(lines.length);
    },
  }) as Writable & { lines: string[] };
  stream.on('error', () => {});
  stream.lines = lines;
  return stream;
}

function parseLines(text: string): any[] {
  return text.split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

const ids = (out: string) => parseLines(out).map((e) => e.event_id as string);
const five = ['e1', 'e2', 'e3', 'e4', 'e5'].map((id) => message(id));

describe('tail positions', () => {
  it('encodes a position as a bare token, or with the events already written from the next batch', () => {
    expect(encodePosition({ since: 's1', skip: [] })).toBe('s1');
    const mid = encodePosition({ since: 's1', skip: ['$a', '#h'] });
    expect(decodePosition(mid, 'x')).toEqual({ since: 's1', skip: ['$a', '#h'] });
    expect(decodePosition('s9_1_2', 'x')).toEqual({ since: 's9_1_2', skip: [] });
    expect(() => decodePosition('{"since":1}', '--from')).toThrow(/--from is not a sync token/);
    expect(() => decodePosition('', '--from')).toThrow(/empty/);
  });

  it('--count stops mid-batch; the next runs continue exactly after the last line written', async () => {
    const server = fakeServer({
      positions: { 'tail:default': 's1', sync: 'untouched' },
      onSync: (q) => (q.get('since') === 's1' ? batch('s2', five) : batch('s2', [])),
    });
    const first = await server.run(['tail', '--count', '2']);
    expect(first.code).toBe(0);
    expect(ids(first.out)).toEqual(['$e1', '$e2']);
    expect(server.positions()!['tail:default']).toBe(encodePosition({ since: 's1', skip: ['$e1', '$e2'] }));

    const second = await server.run(['tail', '--count', '2']);
    expect(ids(second.out)).toEqual(['$e3', '$e4']);

    const rest = await server.run(['tail', '--until-idle']);
    expect(rest.code).toBe(0);
    expect(ids(rest.out)).toEqual(['$e5']);
    expect(server.positions()).toEqual({ 'tail:default': 's2', sync: 'untouched' });
    // Every poll resumed from s1 until the batch was done, then from s2.
    expect(server.syncs.map((q) => q.get('since'))).toEqual(['s1', 's1', 's1', 's2']);
  });

  it('writes compact JSON lines in the client event format, with room_id', async () => {
    const server = fakeServer({ positions: { 'tail:default': 's1' }, onSync: (q) => (q.get('since') === 's1' ? batch('s2', [message('e1', 'hello')]) : batch('s2', [])) });
    const { out } = await server.run(['tail', '--until-idle']);
    expect(out.split('\n')).toHaveLength(2);
    expect(JSON.parse(out)).toEqual({ ...message('e1', 'hello'), room_id: ROOM });
  });

  it('starts from now when nothing is saved: a sync without events gives the position, which is saved at once', async () => {
    const server = fakeServer({ onSync: (q) => (q.has('since') ? batch('s3', []) : { next_batch: 's2' }) });
    const { code, out } = await server.run(['tail', '--until-idle']);
    expect(code).toBe(0);
    expect(out).toBe('');
    const first = server.syncs[0]!;
    expect(first.has('since')).toBe(false);
    expect(first.get('timeout')).toBe('0');
    expect(JSON.parse(first.get('filter')!).room.timeline.limit).toBe(0);
    expect(server.syncs[1]!.get('since')).toBe('s2');
    expect(server.positions()).toEqual({ 'tail:default': 's3' });
  });

  it('--from TOKEN starts there; --from now ignores the saved position; --cursor keeps positions apart', async () => {
    const server = fakeServer({
      positions: { 'tail:default': 's1' },
      onSync: (q) => (!q.has('since') ? { next_batch: 's7' } : q.get('since') === 's5' ? batch('s6', [message('e9')]) : batch(q.get('since')!, [])),
    });
    expect(ids((await server.run(['tail', '--from', 's5', '--cursor', 'a', '--until-idle'])).out)).toEqual(['$e9']);
    expect(ids((await server.run(['tail', '--from', 'now', '--cursor', 'b', '--until-idle'])).out)).toEqual([]);
    expect(server.positions()).toEqual({ 'tail:default': 's1', 'tail:a': 's6', 'tail:b': 's7' });
    expect((await server.run(['tail', '--cursor', 'no/slash'], { noRequests: true })).code).toBe(2);
  });

  it('--no-save leaves the saved position alone', async () => {
    const server = fakeServer({ positions: { 'tail:default': 's1' }, onSync: (q) => (q.get('since') === 's1' ? batch('s2', five) : batch('s2', [])) });
    expect(ids((await server.run(['tail', '--until-idle', '--no-save'])).out)).toHaveLength(5);
    expect(server.positions()).toEqual({ 'tail:default': 's1' });
  });
});

describe('tail gaps', () => {
  it('reads a limited timeline from /messages, forwards from the position to next_batch, page by page, each event once', async () => {
    const all = Array.from({ length: 12 }, (_, i) => ({ ...message(`e${i + 1}`), room_id: ROOM }));
    const server = fakeServer({
      positions: { 'tail:default': 's1' },
      onSync: (q) => (q.get('since') === 's1' ? batch('s2', all.slice(9).map(({ room_id: _r, ...e }) => e), { limited: true }) : batch('s2', [])),
      onMessages: (_room, q) => {
        const from = q.get('from');
        // Synapse's /messages adds the legacy top-level age and user_id; lines leave them out.
        if (from === 's1') return { chunk: all.slice(0, 5).map((e) => ({ ...e, age: 5, user_id: e.sender, unsigned: { age: 5 } })), start: 's1', end: 't5' };
        if (from === 't5') return { chunk: all.slice(5), start: 't5', end: 't12' };
        return { chunk: [], start: from };
      },
    });
    const { code, out } = await server.run(['tail', '--until-idle', '--type', 'm.room.message', '--limit', '3']);
    expect(code).toBe(0);
    expect(ids(out)).toEqual(all.map((e) => e.event_id));
    expect(parseLines(out)[0]).toEqual({ ...message('e1'), unsigned: { age: 5 }, room_id: ROOM });
    expect(server.messages.map((m) => [m.roomId, m.query.get('dir'), m.query.get('from'), m.query.get('to')])).toEqual([
      [ROOM, 'f', 's1', 's2'],
      [ROOM, 'f', 't5', 's2'],
      [ROOM, 'f', 't12', 's2'],
    ]);
    // The same selection as the timeline's.
    expect(JSON.parse(server.messages[0]!.query.get('filter')!)).toEqual({ types: ['m.room.message', 'm.room.encrypted'] });
    expect(JSON.parse(server.syncs[0]!.get('filter')!).room.timeline).toEqual({ limit: 3, types: ['m.room.message', 'm.room.encrypted'] });
    expect(server.positions()).toEqual({ 'tail:default': 's2' });
  });

  it('a stop in the middle of a gap saves the lines written; the next run fetches the gap again and skips them', async () => {
    const all = Array.from({ length: 6 }, (_, i) => ({ ...message(`g${i + 1}`), room_id: ROOM }));
    const server = fakeServer({
      positions: { 'tail:default': 's1' },
      onSync: (q) => (q.get('since') === 's1' ? batch('s2', [], { limited: true }) : batch('s2', [])),
      onMessages: (_room, q) => (q.get('from') === 's1' ? { chunk: all, start: 's1' } : { chunk: [], start: 'x' }),
    });
    expect(ids((await server.run(['tail', '--count', '4'])).out)).toEqual(['$g1', '$g2', '$g3', '$g4']);
    expect(ids((await server.run(['tail', '--until-idle'])).out)).toEqual(['$g5', '$g6']);
  });

  it('reads a room just joined from /messages too, so its old history is not replayed as new', async () => {
    const join = { event_id: '$join', type: 'm.room.member', state_key: ME, sender: ME, origin_server_ts: 1, content: { membership: 'join' } };
    const server = fakeServer({
      positions: { 'tail:default': 's1' },
      onSync: (q) => (q.get('since') === 's1' ? batch('s2', [message('old1'), message('old2'), join, message('new1')]) : batch('s2', [])),
      onMessages: () => ({ chunk: [{ ...join, room_id: ROOM }, { ...message('new1'), room_id: ROOM }], start: 's1' }),
    });
    expect(ids((await server.run(['tail', '--until-idle'])).out)).toEqual(['$join', '$new1']);
  });

  it('streams invites, and with --include the other kinds; --type and --sender filter on the client too', async () => {
    const invite = { event_id: '$inv', type: 'm.room.member', state_key: ME, sender: '@bob:hs.test', origin_server_ts: 1, content: { membership: 'invite' } };
    const response = {
      next_batch: 's2',
      rooms: {
        invite: { '!new:hs.test': { invite_state: { events: [{ type: 'm.room.name', state_key: '', sender: '@bob:hs.test', content: { name: 'New' } }, invite] } } },
        join: {
          [ROOM]: {
            timeline: { events: [message('e1'), { ...message('e2'), type: 'm.reaction' }, message('e3', 'x', '@carol:hs.test')], limited: false },
            ephemeral: { events: [{ type: 'm.typing', content: { user_ids: ['@bob:hs.test'] } }] },
          },
        },
      },
      presence: { events: [{ type: 'm.presence', sender: '@bob:hs.test', content: { presence: 'online' } }] },
    };
    const server = fakeServer({ positions: { 'tail:default': 's1' }, onSync: (q) => (q.get('since') === 's1' ? response : batch('s2', [])) });
    const plain = parseLines((await server.run(['tail', '--until-idle', '--no-save'])).out);
    expect(plain.map((e) => e.event_id ?? e.type)).toEqual(['$inv', '$e1', '$e2', '$e3']);
    expect(plain[0]).toMatchObject({ room_id: '!new:hs.test', content: { membership: 'invite' } });

    const more = parseLines((await server.run(['tail', '--until-idle', '--no-save', '--include', 'ephemeral,presence'])).out);
    expect(more.map((e) => e.event_id ?? e.type)).toEqual(['$inv', '$e1', '$e2', '$e3', 'm.typing', 'm.presence']);
    expect(more[4]).toEqual({ type: 'm.typing', content: { user_ids: ['@bob:hs.test'] }, room_id: ROOM });

    const filtered = parseLines((await server.run(['tail', '--until-idle', '--no-save', '--type', 'm.room.mess*', '--sender', '@bob:hs.test'])).out);
    expect(filtered.map((e) => e.event_id)).toEqual(['$e1']);
    const filter = JSON.parse(server.syncs.at(-2)!.get('filter')!);
    expect(filter.room.timeline).toMatchObject({ types: ['m.room.mess*', 'm.room.encrypted'], senders: ['@bob:hs.test'] });
    expect(filter.presence).toEqual({ not_types: ['*'] });
    expect(filter.room.ephemeral).toEqual({ not_types: ['*'] });
  });
});

describe('tail endings', () => {
  it('SIGINT in the middle of a batch: exit 130, position saved right after the last line written', async () => {
    const server = fakeServer({ positions: { 'tail:default': 's1' }, onSync: (q) => (q.get('since') === 's1' ? batch('s2', five) : batch('s2', [])) });
    const controller = new AbortController();
    const stdout = scriptedStdout({ onLine: (n) => n === 2 && controller.abort('SIGINT') });
    const { code } = await server.run(['tail'], { stdout, signal: controller.signal });
    expect(code).toBe(130);
    expect(stdout.lines).toHaveLength(2);
    expect(decodePosition(server.positions()!['tail:default']!, 'x')).toEqual({ since: 's1', skip: ['$e1', '$e2'] });
  });

  it('a write stuck behind a reader that reads no more: the signal gives up on it, and that line counts as not written', async () => {
    const server = fakeServer({ positions: { 'tail:default': 's1' }, onSync: (q) => (q.get('since') === 's1' ? batch('s2', five) : batch('s2', [])) });
    const controller = new AbortController();
    const lines: string[] = [];
    const stdout = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        if (lines.length < 2) return callback();
        setImmediate(() => controller.abort('SIGINT')); // line 2 never completes
      },
    });
    const { code } = await server.run(['tail'], { stdout, signal: controller.signal });
    expect(code).toBe(130);
    expect(decodePosition(server.positions()!['tail:default']!, 'x').skip).toEqual(['$e1']);
  });

  it('SIGTERM during the long poll: exit 143, position of the batch before', async () => {
    const controller = new AbortController();
    const server = fakeServer({
      positions: { 'tail:default': 's1' },
      onSync: (q) => {
        if (q.get('since') === 's1') return batch('s2', five);
        controller.abort('SIGTERM');
        return batch('s3', [message('late')]);
      },
    });
    const { code, out } = await server.run(['tail'], { signal: controller.signal });
    expect(code).toBe(143);
    expect(ids(out)).toEqual(five.map((e) => e.event_id));
    expect(server.positions()).toEqual({ 'tail:default': 's2' });
    expect(server.syncs[1]!.get('timeout')).toBe('30000');
  });

  it('a closed pipe: exit 0, position saved at the last line that was really written', async () => {
    const server = fakeServer({ positions: { 'tail:default': 's1' }, onSync: (q) => (q.get('since') === 's1' ? batch('s2', five) : batch('s2', [])) });
    const stdout = scriptedStdout({ failAt: 3 });
    const { code, err } = await server.run(['tail'], { stdout });
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(stdout.lines).toHaveLength(2);
    expect(decodePosition(server.positions()!['tail:default']!, 'x').skip).toEqual(['$e1', '$e2']);
  });

  it('reconnects with growing backoff after network errors and 5xx, resuming from the same position', async () => {
    const server = fakeServer({
      positions: { 'tail:default': 's1' },
      onSync: (q, n) => {
        if (n === 1) return new Error('connection reset');
        if (n <= 3) return { status: 502, body: { errcode: 'M_UNKNOWN', error: 'bad gateway' } };
        return q.get('since') === 's1' ? batch('s2', five) : batch('s2', []);
      },
    });
    const { code, out, err, sleeps } = await server.run(['tail', '--until-idle']);
    expect(code).toBe(0);
    expect(ids(out)).toHaveLength(5);
    expect(sleeps).toEqual([500, 1000, 2000]);
    // Piped: the notices are JSON lines on stderr.
    const notices = err.trim().split('\n').map((line) => JSON.parse(line).notice);
    expect(notices.map((n) => n.retry_in_ms)).toEqual([500, 1000, 2000, undefined]);
    expect(notices.at(-1)).toEqual({ message: 'tail: reconnected', retries: 3 });
    expect(server.syncs.map((q) => q.get('since'))).toEqual(['s1', 's1', 's1', 's1', 's2']);
  });

  it('--max-retries: gives up with the temporary-failure code, keeping the position', async () => {
    const server = fakeServer({ positions: { 'tail:default': 's1' }, onSync: () => ({ status: 503, body: { errcode: 'M_UNKNOWN', error: 'down' } }) });
    const { code, err, sleeps } = await server.run(['tail', '--max-retries', '2']);
    expect(code).toBe(7);
    expect(sleeps).toEqual([500, 1000]);
    // --max-retries 2: two reconnects, so the third failure in a row ends it.
    expect(err).toMatch(/giving up after 2 retries/);
    expect(server.positions()).toEqual({ 'tail:default': 's1' });
  });

  it('an error that retrying cannot fix ends the tail at once (expired token: exit 3)', async () => {
    const server = fakeServer({ positions: { 'tail:default': 's1' }, onSync: () => ({ status: 401, body: { errcode: 'M_UNKNOWN_TOKEN', error: 'gone' } }) });
    const { code, sleeps } = await server.run(['tail']);
    expect(code).toBe(3);
    expect(sleeps).toEqual([]);
  });

  it('-o text prints readable lines: time, room, sender, body', async () => {
    const server = fakeServer({
      positions: { 'tail:default': 's1' },
      roomNames: true,
      onSync: (q) => (q.get('since') === 's1' ? batch('s2', [message('e1', 'two\nlines')]) : batch('s2', [])),
    });
    const { out } = await server.run(['tail', '--until-idle', '-o', 'text']);
    expect(out).toBe(`2023-11-14 22:13:20  ${ROOM}  @bob:hs.test  two lines\n`);
  });
});

describe('tail filters', () => {
  it('matches type patterns with * anywhere', () => {
    expect(matchesPattern('m.room.*', 'm.room.message')).toBe(true);
    expect(matchesPattern('m.room.*', 'm.reaction')).toBe(false);
    expect(matchesPattern('*.message', 'm.room.message')).toBe(true);
    expect(matchesPattern('m.room.message', 'm.room.messages')).toBe(false);
    expect(matchesPattern('m.room.*', 'm.roomXfoo')).toBe(false);
  });

  it('switches off every kind not asked for, and checks items on the client too', () => {
    const f = { include: parseIncludes(['state', 'to_device']), timelineLimit: 10, rooms: ['!a:hs'], senders: ['@b:hs'] };
    const filter = buildSyncFilter(f);
    expect(filter.room).toMatchObject({ rooms: ['!a:hs'], timeline: { limit: 10, senders: ['@b:hs'] }, state: { senders: ['@b:hs'] } });
    expect(filter.room!.ephemeral).toEqual({ not_types: ['*'] });
    expect(filter.account_data).toEqual({ not_types: ['*'] });
    expect(matchesFilter(f, { type: 'm.room.message', sender: '@b:hs', room_id: '!a:hs' })).toBe(true);
    expect(matchesFilter(f, { type: 'm.room.message', sender: '@b:hs', room_id: '!z:hs' })).toBe(false);
    expect(matchesFilter(f, { type: 'm.room.message', sender: '@c:hs', room_id: '!a:hs' })).toBe(false);
    expect(() => parseIncludes(['typing'])).toThrow(/--include takes/);
  });
});
