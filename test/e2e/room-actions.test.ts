// Room state, read markers, typing, and moderation across rooms, read back from the server.
import { describe, expect, it } from 'vitest';
import { describeResult, parseJsonLines, registerUser, runMx, type RegisteredUser } from './helpers.js';

interface Duo {
  alice: RegisteredUser;
  bob: RegisteredUser;
  run: (who: RegisteredUser, args: string[], input?: string) => ReturnType<typeof runMx>;
  json: <T>(who: RegisteredUser, args: string[], input?: string) => Promise<T>;
  room: () => Promise<string>;
}

/** Alice and Bob in one config dir; room() makes a room of Alice's that Bob has joined. */
async function duo(): Promise<Duo> {
  const alice = await registerUser();
  const bob = await registerUser({ configDir: alice.configDir });
  const run = (who: RegisteredUser, args: string[], input?: string) => runMx([...args, '-p', who.profile], { configDir: alice.configDir, input });
  const json = async <T>(who: RegisteredUser, args: string[], input?: string) => {
    const r = await run(who, args, input);
    if (r.code !== 0) throw new Error(describeResult(args, r));
    return JSON.parse(r.stdout) as T;
  };
  const room = async () => {
    const { room_id: roomId } = await json<{ room_id: string }>(alice, ['room', 'create', '--invite', bob.userId]);
    expect((await run(bob, ['join', roomId])).code).toBe(0);
    return roomId;
  };
  return { alice, bob, run, json, room };
}

const membership = (d: Duo, roomId: string, user: string) =>
  d.json<{ membership: string }>(d.alice, ['room', 'state', roomId, 'm.room.member', user]).then((m) => m.membership);

describe('room state, read markers, typing', () => {
  it('room state lists every state event or gives one content; read marks a room read; typing shows in the other user\'s sync', async () => {
    const d = await duo();
    const roomId = await d.room();
    await d.json(d.alice, ['send', roomId, '--type', 'm.room.topic', '--state-key', '', '--json', '{"topic":"state of things"}']);
    const all = await d.json<{ type: string; state_key: string }[]>(d.alice, ['room', 'state', roomId]);
    expect(all.map((e) => e.type)).toEqual(expect.arrayContaining(['m.room.create', 'm.room.power_levels', 'm.room.topic', 'm.room.member']));
    expect(await d.json(d.alice, ['room', 'state', roomId, 'm.room.topic'])).toEqual({ topic: 'state of things' });
    expect(await membership(d, roomId, d.bob.userId)).toBe('join');
    const missing = await d.run(d.alice, ['room', 'state', roomId, 'm.room.name']);
    expect(missing.code, describeResult(['room', 'state'], missing)).toBe(5);

    const last = await d.json<{ event_id: string }>(d.bob, ['send', roomId, 'read me']);
    const marked = await d.json<{ event_id: string }>(d.alice, ['read', roomId]);
    expect(marked.event_id).toBe(last.event_id);
    const fullyRead = await d.json<{ event_id: string }>(d.alice, ['api', 'GET', `/v3/user/${encodeURIComponent(d.alice.userId)}/rooms/${encodeURIComponent(roomId)}/account_data/m.fully_read`]);
    expect(fullyRead.event_id).toBe(last.event_id);

    await d.json(d.alice, ['typing', roomId, '--timeout', '20000']);
    const sync = await d.json<{ rooms: { join: Record<string, { ephemeral: { events: { type: string; content: any }[] } }> } }>(d.bob, ['sync', '--full']);
    const ephemeral = sync.rooms.join[roomId]!.ephemeral.events;
    expect(ephemeral.find((e) => e.type === 'm.typing')?.content.user_ids).toContain(d.alice.userId);
    const receipts = ephemeral.find((e) => e.type === 'm.receipt')?.content;
    expect(receipts?.[last.event_id]?.['m.read']?.[d.alice.userId]).toBeDefined();
    await d.json(d.alice, ['typing', roomId, '--stop']);
  });
});

describe('moderation across rooms', () => {
  it('bans in several rooms (arguments, --room, --rooms-stdin), one line each; unbans; kicks; a user without the power gets exit 4 per room', async () => {
    const d = await duo();
    const [r1, r2, r3] = [await d.room(), await d.room(), await d.room()];
    const banned = await d.run(d.alice, ['room', 'ban', r1, d.bob.userId, '--room', r2, '--rooms-stdin', '--reason', 'spam'], `${r3}\n\n`);
    expect(banned.code, describeResult(['room', 'ban'], banned)).toBe(0);
    expect(parseJsonLines<{ room_id: string; ok: boolean; action: string }>(banned.stdout)).toEqual([r1, r2, r3].map((room_id) => expect.objectContaining({ room_id, ok: true, action: 'ban' })));
    for (const room of [r1, r2, r3]) expect(await membership(d, room, d.bob.userId)).toBe('ban');

    await d.json(d.alice, ['room', 'unban', r1, d.bob.userId]);
    expect(await membership(d, r1, d.bob.userId)).toBe('leave');

    const r4 = await d.room();
    await d.json(d.alice, ['room', 'kick', r4, d.bob.userId, '--reason', 'cool off']);
    expect(await membership(d, r4, d.bob.userId)).toBe('leave');

    // Bob may not ban Alice: every room says so, and the command fails with the forbidden code.
    const r5 = await d.room();
    const r6 = await d.room();
    const refused = await d.run(d.bob, ['room', 'ban', r5, r6, d.alice.userId]);
    expect(refused.code, describeResult(['room', 'ban'], refused)).toBe(4);
    const lines = parseJsonLines<{ room_id: string; ok: boolean; error?: { exit_code: number } }>(refused.stdout);
    expect(lines.map((l) => [l.room_id, l.ok, l.error?.exit_code])).toEqual([[r5, false, 4], [r6, false, 4]]);
  });

  it('power sets one user\'s level and keeps every other entry of m.room.power_levels; an out-of-range level is refused', async () => {
    const d = await duo();
    const roomId = await d.room();
    const before = await d.json<Record<string, any>>(d.alice, ['room', 'state', roomId, 'm.room.power_levels']);
    const set = await d.json<{ previous_level: number; level: number }>(d.alice, ['room', 'power', roomId, d.bob.userId, 'moderator']);
    expect(set).toMatchObject({ previous_level: 0, level: 50 });
    const after = await d.json<Record<string, any>>(d.alice, ['room', 'state', roomId, 'm.room.power_levels']);
    expect(after).toEqual({ ...before, users: { ...before.users, [d.bob.userId]: 50 } });
    await d.json(d.alice, ['room', 'power', roomId, d.bob.userId, 'default']);
    expect((await d.json<Record<string, any>>(d.alice, ['room', 'state', roomId, 'm.room.power_levels'])).users).toEqual(before.users);
    for (const bad of ['9007199254740992', '1.5', 'boss']) {
      const r = await d.run(d.alice, ['room', 'power', roomId, d.bob.userId, bad]);
      expect(r.code, describeResult(['room', 'power', bad], r)).toBe(2);
      expect(r.stderr).toMatch(/out of range/);
    }
  });
});
