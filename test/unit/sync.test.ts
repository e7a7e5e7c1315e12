// mx sync in-process: a MockAgent plays the homeserver, a temp store holds the profile.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { MockAgent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { MAX_LOOKED_UP } from '../../src/stream/sync-rows.js';
import { fakeIo, JSON_HEADERS } from './fake-io.js';

const HS = 'https://hs.test';
const tempDirs: string[] = [];
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function setup(positions?: Record<string, string>) {
  const configDir = mkdtempSync(path.join(tmpdir(), 'mx-sync-'));
  tempDirs.push(configDir);
  const storeFile = path.join(configDir, 'profiles.json');
  const profile = { homeserver: HS, userId: '@me:hs.test', accessToken: 'tok', ...(positions ? { positions } : {}) };
  writeFileSync(storeFile, JSON.stringify({ version: 1, defaultProfile: 'default', profiles: { default: profile } }), { mode: 0o600 });
  const queries: URLSearchParams[] = [];
  let lookups = 0;
  let answer: (q: URLSearchParams) => unknown = () => ({ next_batch: 's1' });
  /**
   * Runs mx sync against a server that answers /sync (each run must sync), and with `roomNames`
   * the room-state lookups of a table with 404. With `noRequests`, it must make no request at all.
   */
  const run = async (argv: string[], opts: { stdout?: Writable; roomNames?: boolean; noRequests?: boolean } = {}) => {
    const io = fakeIo({ env: { MX_CONFIG_DIR: configDir } });
    if (opts.stdout) io.stdout = opts.stdout;
    const hs = (io.dispatcher as MockAgent).get(HS);
    if (!opts.noRequests) {
      hs.intercept({ path: (p) => p.startsWith('/_matrix/client/v3/sync'), method: 'GET' })
        .reply((request) => {
          const query = new URL(request.path, HS).searchParams;
          queries.push(query);
          return { statusCode: 200, data: answer(query) as object, responseOptions: JSON_HEADERS };
        })
        .persist();
    }
    if (opts.roomNames) {
      hs.intercept({ path: (p) => p.includes('/state/'), method: 'GET' })
        .reply(() => (lookups++, { statusCode: 404, data: { errcode: 'M_NOT_FOUND', error: 'none' }, responseOptions: JSON_HEADERS }))
        .persist();
    }
    const code = await main(argv, io);
    if (opts.noRequests) expect(io.requests()).toEqual([]);
    return { code, out: io.out(), err: io.err() };
  };
  return {
    run,
    queries,
    answer: (fn: typeof answer) => (answer = fn),
    /** Room-state lookups made (with `roomNames`), over all runs. */
    lookups: () => lookups,
    positions: () => JSON.parse(readFileSync(storeFile, 'utf8')).profiles.default.positions as Record<string, string> | undefined,
  };
}

const message = (id: string, body: string) => ({ event_id: id, type: 'm.room.message', sender: '@bob:hs.test', origin_server_ts: 1, content: { msgtype: 'm.text', body } });

describe('mx sync', () => {
  it('first run: an initial sync; later runs continue from the saved position; the answer is printed as is', async () => {
    const t = setup({ 'tail:default': 'tail-pos' });
    t.answer((q) => ({ next_batch: q.has('since') ? 's2' : 's1', rooms: {} }));
    const first = await t.run(['sync']);
    expect(first.code).toBe(0);
    expect(first.out).toBe('{"next_batch":"s1","rooms":{}}\n');
    expect(t.queries[0]!.has('since')).toBe(false);
    expect(t.queries[0]!.get('timeout')).toBe('0');
    expect(t.positions()).toEqual({ 'tail:default': 'tail-pos', sync: 's1' });

    await t.run(['sync']);
    expect(t.queries[1]!.get('since')).toBe('s1');
    expect(t.positions()).toEqual({ 'tail:default': 'tail-pos', sync: 's2' });

    await t.run(['sync', '--full', '--no-save']);
    expect(t.queries[2]!.has('since')).toBe(false);
    await t.run(['sync', '--since', 'sX', '--full-state', '--timeout', '1000']);
    expect(Object.fromEntries(t.queries[3]!)).toMatchObject({ since: 'sX', full_state: 'true', timeout: '1000' });
  });

  it('an answer whose rooms or timeline entries are no objects (null, numbers) is printed as it came, in every format', async () => {
    const t = setup();
    const odd = { next_batch: 's1', rooms: { join: { '!null:hs.test': null, '!odd:hs.test': { timeline: { events: [null, 5, 'x', message('$m', 'hi')] } }, '!list:hs.test': { timeline: { events: 'none' } } }, leave: [] } };
    t.answer(() => odd);
    const json = await t.run(['sync', '--no-save']);
    expect(json.code, json.err).toBe(0);
    expect(JSON.parse(json.out)).toEqual(odd);
    for (const format of ['table', 'text']) {
      const shown = await t.run(['sync', '--no-save', '-o', format]);
      expect(shown.code, shown.err).toBe(0);
      expect(shown.out).toContain('!odd:hs.test');
    }
  });

  it('--limit and --room become an inline filter, merged into a --filter given as JSON; a filter ID passes through', async () => {
    const t = setup();
    await t.run(['sync', '--limit', '5', '--room', '!r:hs.test']);
    expect(JSON.parse(t.queries[0]!.get('filter')!)).toEqual({ room: { rooms: ['!r:hs.test'], timeline: { limit: 5 } } });
    await t.run(['sync', '--limit', '2', '--filter', '{"presence":{"not_types":["*"]},"room":{"timeline":{"types":["m.room.message"]}}}']);
    expect(JSON.parse(t.queries[1]!.get('filter')!)).toEqual({
      presence: { not_types: ['*'] },
      room: { timeline: { types: ['m.room.message'], limit: 2 } },
    });
    await t.run(['sync', '--filter', '42']);
    expect(t.queries[2]!.get('filter')).toBe('42');
    expect((await t.run(['sync', '--filter', '42', '--limit', '1'], { noRequests: true })).code).toBe(2);
    expect((await t.run(['sync', '--filter', '{oops'], { noRequests: true })).code).toBe(2);
    expect((await t.run(['sync', '--since', 'a', '--full'], { noRequests: true })).code).toBe(2);
  });

  it('a table: one row per room with name, membership, unread count and the newest event; invites as invites', async () => {
    const t = setup();
    t.answer(() => ({
      next_batch: 's1',
      rooms: {
        join: {
          '!a:hs.test': {
            state: { events: [{ event_id: '$n', type: 'm.room.name', state_key: '', sender: '@bob:hs.test', origin_server_ts: 1, content: { name: 'Ops' } }] },
            timeline: { events: [message('$1', 'first'), message('$2', 'deploy done')] },
            unread_notifications: { notification_count: 3 },
          },
          '!b:hs.test': { timeline: { events: [] } },
        },
        invite: {
          '!c:hs.test': {
            invite_state: {
              events: [
                { type: 'm.room.canonical_alias', state_key: '', sender: '@carol:hs.test', content: { alias: '#c:hs.test' } },
                { type: 'm.room.member', state_key: '@me:hs.test', sender: '@carol:hs.test', content: { membership: 'invite' } },
              ],
            },
          },
        },
      },
    }));
    const { code, out } = await t.run(['sync', '-o', 'table'], { roomNames: true });
    expect(code).toBe(0);
    expect(out).toBe(
      ['ROOM\tMEMBERSHIP\tUNREAD\tLATEST', '#c:hs.test\tinvite\t\tinvited by @carol:hs.test', 'Ops\tjoin\t3\t@bob:hs.test: deploy done', '!b:hs.test\tjoin\t0\t', ''].join('\n'),
    );
  });

  it('saves the position only once the output was written: a closed pipe leaves it where it was', async () => {
    const t = setup({ sync: 's0' });
    const closed = new Writable({ write: (_c, _e, cb) => cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })) });
    closed.on('error', () => {});
    const { code } = await t.run(['sync'], { stdout: closed });
    expect(code).toBe(0);
    expect(t.positions()).toEqual({ sync: 's0' });
  });
});

describe('mx sync for people on an account in thousands of rooms', () => {
  it('names rooms from what the answer carries and looks up only a bounded few: every room printed, quickly', async () => {
    const t = setup();
    const join: Record<string, unknown> = {};
    for (let i = 0; i < 5_000; i++) {
      const state =
        i % 4 === 0 ? [{ type: 'm.room.name', state_key: '', sender: '@bob:hs.test', origin_server_ts: 1, content: { name: `Room ${i}` } }]
        : i % 4 === 1 ? [{ type: 'm.room.canonical_alias', state_key: '', sender: '@bob:hs.test', origin_server_ts: 1, content: { alias: `#r${i}:hs.test` } }]
        : [];
      const summary = i % 4 === 2 ? { 'm.heroes': ['@carol:hs.test', '@dave:hs.test'] } : undefined;
      const members = i % 4 === 2 ? [{ type: 'm.room.member', state_key: '@carol:hs.test', sender: '@carol:hs.test', origin_server_ts: 1, content: { membership: 'join', displayname: 'Carol' } }] : [];
      join[`!r${i}:hs.test`] = { state: { events: [...state, ...members] }, summary, timeline: { events: [message(`$${i}`, `hello ${i}`)] } };
    }
    t.answer(() => ({ next_batch: 's1', rooms: { join } }));
    const started = Date.now();
    const { code, out } = await t.run(['sync', '-o', 'table'], { roomNames: true });
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5_000);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(5_001);
    expect(lines).toContain('Room 0\tjoin\t0\t@bob:hs.test: hello 0');
    expect(lines).toContain('#r1:hs.test\tjoin\t0\t@bob:hs.test: hello 1');
    expect(lines).toContain('Carol, @dave:hs.test\tjoin\t0\t@bob:hs.test: hello 2');
    // The rooms the answer leaves unnamed: a few looked up (two requests each), the others by ID.
    expect(lines).toContain('!r4999:hs.test\tjoin\t0\t@bob:hs.test: hello 4999');
    expect(t.lookups()).toBeGreaterThan(0);
    expect(t.lookups()).toBeLessThanOrEqual(2 * MAX_LOOKED_UP);
  });
});
