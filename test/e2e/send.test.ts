import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeResult, mxJson, parseJsonLines, registerUser, roomHistory, runMx, type RegisteredUser, type RoomEvent } from './helpers.js';

const EXIT = { ok: 0, usage: 2, forbidden: 4 };
/** A 3 x 2 RGB PNG. */
const PNG_3X2 = 'iVBORw0KGgoAAAANSUhEUgAAAAMAAAACCAIAAAASFvFNAAAAC0lEQVR4nGNgwAQAABQAAX3+Hu4AAAAASUVORK5CYII=';

let alice: RegisteredUser;
let files: string;
beforeAll(async () => {
  alice = await registerUser();
  files = mkdtempSync(path.join(os.tmpdir(), 'mx-send-e2e-'));
});
afterAll(() => rmSync(files, { recursive: true, force: true }));

async function createRoom(user: RegisteredUser, body: object = {}): Promise<string> {
  const answer = await mxJson<{ room_id: string }>(['api', 'POST', '/v3/createRoom', '--data', JSON.stringify(body), '-p', user.profile], {
    configDir: user.configDir,
  });
  return answer.room_id;
}

/** Runs `mx send ...` as alice and returns its parsed JSON output. */
async function send<T = { event_id: string; room_id: string; txn_id?: string }>(args: string[], input?: string): Promise<T> {
  return mxJson<T>(['send', ...args, '-p', alice.profile], { configDir: alice.configDir, input });
}

const messages = (events: RoomEvent[]) => events.filter((e) => e.type === 'm.room.message');

describe('mx send against a real homeserver', () => {
  it('sends 200 lines from stdin, all of them, in order, one event ID per line', async () => {
    const room = await createRoom(alice);
    const lines = Array.from({ length: 200 }, (_, i) => `line ${i + 1}`);
    // Blank lines are skipped but still counted for the line numbers.
    const input = lines.slice(0, 100).join('\n') + '\n\n' + lines.slice(100).join('\n') + '\n';
    const args = ['send', room, '--lines', '--txn-id', 'bulk', '-p', alice.profile];
    const r = await runMx(args, { configDir: alice.configDir, input, timeoutMs: 120_000 });
    expect(r.code, describeResult(args, r)).toBe(EXIT.ok);
    const printed = parseJsonLines<{ event_id: string; txn_id: string; line: number }>(r.stdout);
    expect(printed).toHaveLength(200);
    expect(printed[100]).toMatchObject({ txn_id: 'bulk-102', line: 102 });

    const history = messages(await roomHistory(alice.configDir, room, { profile: alice.profile }));
    expect(history.map((e) => e.content.body)).toEqual(lines);
    expect(history.map((e) => e.event_id)).toEqual(printed.map((p) => p.event_id));
  }, 120_000);

  it('sends once when re-run with the same --txn-id, printing the same event ID', async () => {
    const room = await createRoom(alice);
    const first = await send([room, 'exactly once', '--txn-id', 'rerun-1']);
    const second = await send([room, 'exactly once', '--txn-id', 'rerun-1']);
    expect(second).toEqual(first);
    expect(first.txn_id).toBe('rerun-1');
    // The same input re-run with --lines --txn-id adds nothing either.
    const again = ['send', room, '--lines', '--txn-id', 'rerun-lines', '-p', alice.profile, '-o', 'text'];
    const a = await runMx(again, { configDir: alice.configDir, input: 'x\ny\n' });
    const b = await runMx(again, { configDir: alice.configDir, input: 'x\ny\n' });
    expect(a.code, describeResult(again, a)).toBe(0);
    expect(b.stdout).toBe(a.stdout);

    const bodies = messages(await roomHistory(alice.configDir, room, { profile: alice.profile })).map((e) => e.content.body);
    expect(bodies).toEqual(['exactly once', 'x', 'y']);
  });

  it('sends each variant with the content it promises, as read back from the room', async () => {
    const room = await createRoom(alice);
    writeFileSync(path.join(files, 'pic.png'), Buffer.from(PNG_3X2, 'base64'));
    writeFileSync(path.join(files, 'notes.txt'), 'some notes\n');
    writeFileSync(path.join(files, 'content.json'), JSON.stringify({ msgtype: 'm.text', body: 'from a file', 'com.example.extra': [1, 2] }));

    const sent: Record<string, { event_id: string; content_uri?: string }> = {};
    sent.notice = await send([room, 'a notice', '--notice']);
    sent.emote = await send([room, 'waves', '--emote']);
    sent.html = await send([room, '--html', '<p>Hi <b>there</b> &amp; welcome</p>']);
    sent.markdown = await send([room, '**bold** and _it_', '--markdown']);
    sent.json = await send([room, '--json', `@${path.join(files, 'content.json')}`]);
    sent.custom = await send([room, '--type', 'com.example.ping', '--json', '{"n":42}']);
    sent.state = await send([room, '--type', 'm.room.topic', '--state-key', '', '--json', '{"topic":"sent by mx"}']);
    sent.image = await send([room, '--file', path.join(files, 'pic.png')]);
    sent.file = await send([room, '--file', path.join(files, 'notes.txt'), 'this week']);
    sent.location = await send([room, '--location', 'geo:51.5008,0.1247;u=35']);
    sent.stdin = await send([room, '-'], 'from stdin\n');

    const byId = new Map((await roomHistory(alice.configDir, room, { profile: alice.profile })).map((e) => [e.event_id, e]));
    const event = (name: string) => {
      const found = byId.get(sent[name]!.event_id);
      expect(found, name).toBeDefined();
      return found!;
    };
    expect(event('notice').content).toEqual({ msgtype: 'm.notice', body: 'a notice' });
    expect(event('emote').content).toEqual({ msgtype: 'm.emote', body: 'waves' });
    expect(event('html').content).toEqual({
      msgtype: 'm.text', body: 'Hi there & welcome', format: 'org.matrix.custom.html', formatted_body: '<p>Hi <b>there</b> &amp; welcome</p>',
    });
    expect(event('markdown').content).toEqual({
      msgtype: 'm.text', body: '**bold** and _it_', format: 'org.matrix.custom.html', formatted_body: '<p><strong>bold</strong> and <em>it</em></p>',
    });
    expect(event('json').content).toEqual({ msgtype: 'm.text', body: 'from a file', 'com.example.extra': [1, 2] });
    expect(event('custom')).toMatchObject({ type: 'com.example.ping', content: { n: 42 } });
    expect(event('custom').state_key).toBeUndefined();
    expect(event('state')).toMatchObject({ type: 'm.room.topic', state_key: '', content: { topic: 'sent by mx' } });
    expect(event('image').content).toEqual({
      msgtype: 'm.image', body: 'pic.png', url: sent.image!.content_uri, info: { mimetype: 'image/png', size: 68, w: 3, h: 2 },
    });
    expect(sent.image!.content_uri).toMatch(/^mxc:\/\//);
    expect(event('file').content).toEqual({
      msgtype: 'm.file', body: 'this week', filename: 'notes.txt', url: sent.file!.content_uri, info: { mimetype: 'text/plain', size: 11 },
    });
    expect(event('location').content).toEqual({
      msgtype: 'm.location', body: 'Location geo:51.5008,0.1247;u=35', geo_uri: 'geo:51.5008,0.1247;u=35',
    });
    expect(event('stdin').content).toEqual({ msgtype: 'm.text', body: 'from stdin' });

    // The uploaded bytes are the file's.
    const token = JSON.parse(readFileSync(path.join(alice.configDir, 'profiles.json'), 'utf8')).profiles[alice.profile].accessToken;
    const media = await fetch(`${alice.homeserver}/_matrix/client/v1/media/download/${sent.image!.content_uri!.slice('mxc://'.length)}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(media.status).toBe(200);
    expect(Buffer.from(await media.arrayBuffer()).toString('base64')).toBe(PNG_3X2);
  });

  it('refuses a room the user is not in with exit code 4', async () => {
    const bob = await registerUser({ configDir: alice.configDir });
    const bobsRoom = await createRoom(bob);
    const args = ['send', bobsRoom, 'let me in', '-p', alice.profile];
    const r = await runMx(args, { configDir: alice.configDir });
    expect(r.code, describeResult(args, r)).toBe(EXIT.forbidden);
    expect(JSON.parse(r.stderr).error).toMatchObject({ errcode: 'M_FORBIDDEN', exit_code: 4 });
    expect(messages(await roomHistory(bob.configDir, bobsRoom, { profile: bob.profile }))).toEqual([]);
  });

  it.each([
    ['empty text', ['']],
    ['blank text', ['   ']],
    ['a body over 65,536 bytes', ['x'.repeat(66_000)]],
    ['--json that is not an object', ['--json', '"just a string"']],
    ['a missing file', ['--file', '/no/such/file.png']],
  ])('refuses %s with exit code 2, without any request', async (_name, extra) => {
    const args = ['send', '!nowhere:localhost', ...extra, '--debug', '-p', alice.profile];
    const r = await runMx(args, { configDir: alice.configDir });
    expect(r.code, describeResult(['send', '...'], r)).toBe(EXIT.usage);
    expect(r.stderr).not.toContain('[debug] >');
    expect(r.stderr.split('\n').filter((l) => l.startsWith('{')).length).toBe(1);
  });

  it('maps the server refusing an event just under the local limit (M_TOO_LARGE) to exit code 2', async () => {
    const room = await createRoom(alice);
    // Content under 65,536 bytes, but the whole event (envelope, signatures) is over it.
    const args = ['send', room, 'y'.repeat(65_400), '-p', alice.profile];
    const r = await runMx(args, { configDir: alice.configDir });
    expect(r.code, describeResult(['send', room, '...'], r)).toBe(EXIT.usage);
    expect(JSON.parse(r.stderr).error).toMatchObject({ errcode: 'M_TOO_LARGE', status: 413 });
  });
});
