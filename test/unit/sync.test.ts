// mx sync in-process: a MockAgent plays the homeserver, a temp store holds the profile.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { MockAgent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
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
      hs.intercept({ path: (p) => p.includes('/state/'), method: 'GET' }).reply(404, { errcode: 'M_NOT_FOUND', error: 'none' }, JSON_HEADERS).persist();
    }
    const code = await main(argv, io);
    if (opts.noRequests) expect(io.requests()).toEqual([]);
    return { code, out: io.out(), err: io.err() };
  };
  return {
    run,
    queries,
    answer: (fn: typeof answer) => (answer = fn),
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
