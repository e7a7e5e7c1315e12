// A server answer nested absurdly deep (valid JSON) is refused once, where answers are parsed:
// one clear line naming the call, exit code 1 ("the server answered something unexpected"),
// and nothing lost: tail keeps its position before the batch it could not read.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MockAgent } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, JSON_HEADERS } from './fake-io.js';

const HS = 'https://hs.test';
const tempDirs: string[] = [];
afterAll(() => tempDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A sync answer whose one event's content is `depth` arrays deep. */
function deepSync(depth: number, nextBatch = 'deep'): string {
  const content = '['.repeat(depth) + ']'.repeat(depth);
  return `{"next_batch":"${nextBatch}","rooms":{"join":{"!r:hs.test":{"timeline":{"events":[{"type":"m.room.message","sender":"@a:hs.test","origin_server_ts":1,"content":${content}}]}}}}}`;
}
const message = (id: string) => ({ event_id: id, type: 'm.room.message', sender: '@a:hs.test', origin_server_ts: 1, content: { msgtype: 'm.text', body: id } });

async function run(argv: string[], answers: string[], positions: Record<string, string>) {
  const configDir = mkdtempSync(path.join(tmpdir(), 'mx-deep-'));
  tempDirs.push(configDir);
  const storeFile = path.join(configDir, 'profiles.json');
  const profile = { homeserver: HS, userId: '@me:hs.test', deviceId: 'DEV', accessToken: 'tok', positions };
  writeFileSync(storeFile, JSON.stringify({ version: 1, defaultProfile: 'default', profiles: { default: profile } }), { mode: 0o600 });
  const io = fakeIo({ env: { MX_CONFIG_DIR: configDir } });
  let n = 0;
  (io.dispatcher as MockAgent).get(HS).intercept({ path: (p) => p.startsWith('/_matrix/client/v3/sync'), method: 'GET' })
    .reply(() => ({ statusCode: 200, data: answers[Math.min(n++, answers.length - 1)]!, responseOptions: JSON_HEADERS }))
    .persist();
  const code = await main(argv, io);
  const saved = JSON.parse(readFileSync(storeFile, 'utf8')).profiles.default.positions as Record<string, string>;
  return { code, out: io.out(), err: io.err(), saved, syncs: n };
}

const TOO_DEEP = /^mx: sync: the server's answer is malformed: its JSON is nested more than 512 levels deep \(not read\)\n$/;

describe('an answer nested too deep', () => {
  it('mx sync: one line naming the call, exit 1, the position not moved; text and JSON alike', async () => {
    for (const format of ['text', 'table']) {
      const got = await run(['sync', '-o', format], [deepSync(100_000)], { sync: 's0' });
      expect(got.err).toMatch(TOO_DEEP);
      expect(got.code).toBe(1);
      expect(got.saved.sync).toBe('s0');
    }
    const json = await run(['sync'], [deepSync(100_000)], { sync: 's0' });
    expect(json.code).toBe(1);
    expect(JSON.parse(json.err)).toMatchObject({ error: { exit_code: 1, status: 200 } });
  });

  it('mx tail: the lines before it written, exit 1 with the reason, the position before the unread batch kept', async () => {
    const first = JSON.stringify({ next_batch: 's1', rooms: { join: { '!r:hs.test': { timeline: { events: [message('$1'), message('$2')] } } } } });
    for (const format of ['text', 'json']) {
      const got = await run(['tail', '-o', format], [first, deepSync(100_000, 's2')], { 'tail:default': 's0' });
      expect(got.err.split('\n').filter(Boolean).at(-1)).toMatch(format === 'text' ? /^mx: sync: the server's answer is malformed/ : /"exit_code":1/);
      expect(got.code).toBe(1);
      expect(got.out.trimEnd().split('\n')).toHaveLength(2);
      // Past the batch it wrote, not past the one it could not read: the next run asks for that again.
      expect(got.saved['tail:default']).toBe('s1');
      expect(got.syncs).toBe(2);
    }
  });

  it('answers as deep as real ones (and deeper) are read as they are', async () => {
    const got = await run(['sync', '-o', 'json', '--no-save'], [deepSync(500)], {});
    expect(got.code).toBe(0);
    expect(got.out).toBe(deepSync(500) + '\n');
  });
});
