// Profiles, the room and user directories, spaces, and mx api's gh-style options, against Synapse.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, mxJson, parseJsonLines, registerUser, runMx, uniqueUser } from './helpers.js';

/** A 1x1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

describe('your profile', () => {
  it('account displayname and avatar show and set, the avatar uploaded from a file', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    expect(await mxJson(['account', 'displayname'], opts)).toEqual({ user_id: user.userId, displayname: user.user });
    await mxJson(['account', 'displayname', 'Build Bot'], opts);
    expect((await mxJson<{ displayname: string }>(['api', 'GET', '/v3/profile/{me}/displayname'], opts)).displayname).toBe('Build Bot');
    expect(await mxJson(['account', 'avatar'], opts)).toEqual({ user_id: user.userId, avatar_url: null });
    const file = path.join(user.configDir, 'avatar.png');
    writeFileSync(file, PNG);
    const set = await mxJson<{ avatar_url: string }>(['account', 'avatar', file], opts);
    expect(set.avatar_url).toMatch(/^mxc:\/\//);
    expect((await mxJson<{ avatar_url: string }>(['account', 'avatar'], opts)).avatar_url).toBe(set.avatar_url);
    const saved = await mxJson<{ path: string }>(['download', set.avatar_url, '--out', path.join(user.configDir, 'back.png')], opts);
    expect(readFileSync(saved.path)).toEqual(PNG);
    const notImage = path.join(user.configDir, 'notes.txt');
    writeFileSync(notImage, 'hi');
    const refused = await runMx(['account', 'avatar', notImage], opts);
    expect(refused.code, describeResult(['account', 'avatar'], refused)).toBe(2);
  });
});

describe('directories', () => {
  it('room directory lists public rooms (searchable, paged with --all); user search finds people', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const tag = `dir${randomBytes(4).toString('hex')}`;
    const created: string[] = [];
    for (let i = 0; i < 3; i++) created.push((await mxJson<{ room_id: string }>(['room', 'create', '--public', '--name', `${tag} room ${i}`, '--topic', 'directory test'], opts)).room_id);
    const found = parseJsonLines<{ room_id: string; name: string; num_joined_members: number }>((await runMx(['room', 'directory', tag, '--limit', '2', '--all'], opts)).stdout);
    expect(found.map((r) => r.room_id).sort()).toEqual([...created].sort());
    expect(found.every((r) => r.num_joined_members === 1)).toBe(true);
    const firstPage = parseJsonLines((await runMx(['room', 'directory', tag, '--limit', '2'], opts)).stdout);
    expect(firstPage).toHaveLength(2);

    const other = await registerUser({ user: uniqueUser('findme'), configDir: user.configDir });
    await mxJson(['account', 'displayname', `Findable ${tag}`, '-p', other.profile], opts);
    const people = await mxJson<{ user_id: string; display_name: string }[]>(['user', 'search', tag], opts);
    expect(people).toEqual([{ user_id: other.userId, display_name: `Findable ${tag}`, avatar_url: null }]);
  });
});

describe('spaces', () => {
  it('room create --space makes a space; space add links both ways; space tree shows the hierarchy', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const space = (await mxJson<{ room_id: string }>(['room', 'create', '--space', '--name', 'Team'], opts)).room_id;
    const sub = (await mxJson<{ room_id: string }>(['room', 'create', '--space', '--name', 'Sub team'], opts)).room_id;
    const room = (await mxJson<{ room_id: string }>(['room', 'create', '--name', 'alerts'], opts)).room_id;
    const deep = (await mxJson<{ room_id: string }>(['room', 'create', '--name', 'deep room'], opts)).room_id;
    expect(await mxJson(['room', 'state', space, 'm.room.create'], opts)).toMatchObject({ type: 'm.space' });
    await mxJson(['space', 'add', space, room, '--suggested'], opts);
    await mxJson(['space', 'add', space, sub], opts);
    await mxJson(['space', 'add', sub, deep], opts);
    expect(await mxJson(['room', 'state', space, 'm.space.child', room], opts)).toEqual({ via: ['localhost'], suggested: true });
    expect(await mxJson(['room', 'state', room, 'm.space.parent', space], opts)).toEqual({ via: ['localhost'], canonical: true });

    const rooms = await mxJson<{ room_id: string; room_type?: string }[]>(['space', 'tree', space], opts);
    expect(rooms.map((r) => r.room_id).sort()).toEqual([space, sub, room, deep].sort());
    const text = (await runMx(['space', 'tree', space, '-o', 'text'], opts)).stdout;
    expect(text).toMatch(new RegExp(`^Team \\(space\\)  ${escape(space)}\\n  (alerts  ${escape(room)}\\n  Sub team \\(space\\)  ${escape(sub)}\\n    deep room  ${escape(deep)}|Sub team \\(space\\)  ${escape(sub)}\\n    deep room  ${escape(deep)}\\n  alerts  ${escape(room)})`));
  });
});

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('mx api, as gh api', () => {
  it('fills {me}, {device} and {room:#alias}; takes -f/-F fields; -i shows the status and headers; --paginate follows the pages', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const alias = `api${randomBytes(4).toString('hex')}`;
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--alias', alias], opts);
    expect(await mxJson(['api', 'GET', '/v3/devices/{device}'], opts)).toMatchObject({ device_id: String(user.output.device_id) });
    await mxJson(['api', 'PUT', '/v3/profile/{me}/displayname', '-f', 'displayname=Via Fields'], opts);
    expect(await mxJson(['api', 'GET', '/v3/profile/{me}'], opts)).toMatchObject({ displayname: 'Via Fields' });
    // -F: typed values in the body.
    await mxJson(['api', 'PUT', `/v3/user/{me}/account_data/com.example.settings`, '-F', 'enabled=true', '-F', 'count=3', '-F', 'tags=["a","b"]', '-f', 'name=3'], opts);
    expect(await mxJson(['api', 'GET', '/v3/user/{me}/account_data/com.example.settings'], opts)).toEqual({ enabled: true, count: 3, tags: ['a', 'b'], name: '3' });

    for (let i = 0; i < 7; i++) await mxJson(['send', roomId, `page me ${i}`], opts);
    const pages = parseJsonLines<{ chunk: { content: { body?: string } }[] }>((await runMx(['api', 'GET', `/v3/rooms/{room:#${alias}:localhost}/messages`, '-f', 'dir=b', '-F', 'limit=3', '--paginate'], opts)).stdout);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    const bodies = pages.flatMap((p) => p.chunk.map((e) => e.content.body)).filter((b) => b?.startsWith('page me'));
    expect(bodies).toEqual([6, 5, 4, 3, 2, 1, 0].map((i) => `page me ${i}`));

    const included = await runMx(['api', 'GET', '/v3/account/whoami', '-i'], opts);
    expect(included.stdout).toMatch(/^HTTP 200\r\n/);
    expect(included.stdout).toMatch(/\r\ncontent-type: application\/json\r\n/i);
    expect(JSON.parse(included.stdout.split('\r\n\r\n')[1]!)).toMatchObject({ user_id: user.userId });

    const bad = await runMx(['api', 'GET', '/v3/sync', '--paginate'], opts);
    expect(bad.code).toBe(2);
    const badField = await runMx(['api', 'POST', '/v3/createRoom', '-f', 'novalue'], opts);
    expect(badField.code).toBe(2);
    expect(roomId).toMatch(/^!/);
  });
});
