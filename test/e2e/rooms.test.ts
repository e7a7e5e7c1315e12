import { describe, expect, it } from 'vitest';
import { describeResult, homeserver, mxJson, parseJsonLines, registerUser, runMx, serverName, tempConfigDir, uniqueUser } from './helpers.js';

interface Member {
  user_id: string;
  membership: string;
  display_name: string | null;
}
interface Event {
  type: string;
  sender: string;
  content: { body?: string };
}

describe('rooms and messages: the walkthrough', () => {
  it('A creates #tutorial, says hello, invites B; B joins by invite and by alias, reads history and members', async () => {
    const configDir = tempConfigDir();
    const a = await registerUser({ profile: 'a', configDir });
    const b = await registerUser({ profile: 'b', configDir });
    const opts = { configDir };
    // A fresh Synapse per run has the alias free; a shared server (MX_TEST_HOMESERVER) may not.
    const aliasName = homeserver().external ? uniqueUser('tutorial') : 'tutorial';

    const created = await mxJson<{ room_id: string; alias: string }>(['-p', 'a', 'room', 'create', '--alias', aliasName, '--name', 'Tutorial'], opts);
    expect(created.alias).toBe(`#${aliasName}:${serverName()}`);
    expect(created.room_id).toMatch(/^!/);

    const sent = await mxJson<{ event_id: string }>(['-p', 'a', 'send', created.alias, 'hello'], opts);
    expect(sent.event_id).toMatch(/^\$/);
    const invited = await runMx(['-p', 'a', 'invite', created.alias, b.userId], opts);
    expect(invited.code, describeResult(['invite'], invited)).toBe(0);

    // B joins by the invite (the room ID it was invited to).
    expect((await mxJson<{ room_id: string }>(['-p', 'b', 'join', created.room_id], opts)).room_id).toBe(created.room_id);

    // A public room with an alias, joined by B through the alias.
    const publicAlias = uniqueUser('lobby');
    const lobby = await mxJson<{ room_id: string; alias: string }>(['-p', 'a', 'room', 'create', '--public', '--alias', publicAlias], opts);
    expect((await mxJson<{ room_id: string }>(['-p', 'b', 'join', lobby.alias], opts)).room_id).toBe(lobby.room_id);

    // B reads "hello" in the tutorial room's history, sent by A.
    const history = await runMx(['-p', 'b', 'room', 'messages', created.alias, '--limit', '50'], opts);
    expect(history.code, describeResult(['room', 'messages'], history)).toBe(0);
    const messages = parseJsonLines<Event>(history.stdout).filter((e) => e.type === 'm.room.message');
    expect(messages).toEqual([expect.objectContaining({ sender: a.userId, content: expect.objectContaining({ body: 'hello' }) })]);

    const members = await mxJson<Member[]>(['-p', 'b', 'room', 'members', created.room_id], opts);
    expect(members.map((m) => [m.user_id, m.membership]).sort()).toEqual([
      [a.userId, 'join'],
      [b.userId, 'join'],
    ].sort());

    const rooms = await mxJson<{ room_id: string; name: string | null; canonical_alias: string | null; joined_members: number }[]>(['-p', 'b', 'room', 'list'], opts);
    expect(rooms).toEqual(expect.arrayContaining([
      { room_id: created.room_id, name: 'Tutorial', canonical_alias: created.alias, joined_members: 2 },
      { room_id: lobby.room_id, name: null, canonical_alias: lobby.alias, joined_members: 2 },
    ]));
  });

  it('--direct records the room in the creator\'s m.direct, as Element does, so clients list it as a direct chat', async () => {
    const configDir = tempConfigDir();
    const a = await registerUser({ profile: 'a', configDir });
    const b = await registerUser({ profile: 'b', configDir });
    const first = await mxJson<{ room_id: string }>(['-p', 'a', 'room', 'create', '--direct', '--invite', b.userId], { configDir });
    const second = await mxJson<{ room_id: string }>(['-p', 'a', 'room', 'create', '--direct', '--invite', b.userId], { configDir });
    const direct = await mxJson<Record<string, string[]>>(
      ['-p', 'a', 'api', 'GET', `/v3/user/${encodeURIComponent(a.userId)}/account_data/m.direct`],
      { configDir },
    );
    expect(direct).toEqual({ [b.userId]: [first.room_id, second.room_id] });
    // The invite itself is marked direct, for the invitee's client.
    const invite = await mxJson<{ content: { is_direct?: boolean } }>(
      ['-p', 'a', 'api', 'GET', `/v3/rooms/${encodeURIComponent(first.room_id)}/state/m.room.member/${encodeURIComponent(b.userId)}?format=event`],
      { configDir },
    );
    expect(invite.content.is_direct).toBe(true);
    // Without someone to be direct with, it is a usage error (nothing is created).
    const alone = await runMx(['-p', 'a', 'room', 'create', '--direct'], { configDir });
    expect(alone.code, describeResult(['room', 'create', '--direct'], alone)).toBe(2);
  });

  it('refuses an alias that is taken with the conflict exit code', async () => {
    const a = await registerUser();
    const alias = uniqueUser('taken');
    expect((await runMx(['room', 'create', '--alias', alias], { configDir: a.configDir, env: { MX_PROFILE: a.profile } })).code).toBe(0);
    const again = await runMx(['room', 'create', '--alias', alias], { configDir: a.configDir, env: { MX_PROFILE: a.profile } });
    expect(again.code).toBe(6);
    expect(JSON.parse(again.stderr).error.message).toContain('already taken');
  });

  it('pages through history with --all, oldest first with --dir f, and filters by type', async () => {
    const a = await registerUser();
    const opts = { configDir: a.configDir, env: { MX_PROFILE: a.profile } };
    const room = await mxJson<{ room_id: string }>(['room', 'create'], opts);
    const bodies = Array.from({ length: 30 }, (_, i) => `line ${i + 1}`);
    const sent = await runMx(['send', room.room_id, '--lines'], { ...opts, input: bodies.join('\n') + '\n' });
    expect(sent.code, describeResult(['send'], sent)).toBe(0);

    const all = await runMx(['room', 'messages', room.room_id, '--all', '--dir', 'f', '--type', 'm.room.message'], opts);
    expect(parseJsonLines<Event>(all.stdout).map((e) => e.content.body)).toEqual(bodies);
    const lastFive = await runMx(['room', 'messages', room.room_id, '--limit', '5', '--type', 'm.room.message'], opts);
    expect(parseJsonLines<Event>(lastFive.stdout).map((e) => e.content.body)).toEqual(bodies.slice(-5));
    const text = await runMx(['room', 'messages', room.room_id, '--limit', '1', '-o', 'text'], opts);
    expect(text.stdout).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  ${a.userId}  line 30\\n$`));
  });

  it('leaves and forgets a room, manages aliases, and reports unknown rooms and aliases', async () => {
    const configDir = tempConfigDir();
    await registerUser({ profile: 'a', configDir });
    await registerUser({ profile: 'b', configDir });
    const opts = { configDir };
    const room = await mxJson<{ room_id: string }>(['-p', 'a', 'room', 'create', '--public'], opts);
    const alias = `#${uniqueUser('extra')}:${serverName()}`;
    expect((await runMx(['-p', 'a', 'room', 'alias', 'add', alias, room.room_id], opts)).code).toBe(0);
    expect((await mxJson<{ room_id: string }>(['-p', 'a', 'room', 'alias', 'resolve', alias], opts)).room_id).toBe(room.room_id);

    expect((await mxJson<{ room_id: string }>(['-p', 'b', 'join', alias], opts)).room_id).toBe(room.room_id);
    expect((await runMx(['-p', 'b', 'leave', alias], opts)).code).toBe(0);
    expect((await runMx(['-p', 'b', 'room', 'forget', room.room_id], opts)).code).toBe(0);
    const notIn = await runMx(['-p', 'b', 'room', 'messages', room.room_id], opts);
    expect(notIn.code).toBe(4);

    expect((await runMx(['-p', 'a', 'room', 'alias', 'rm', alias], opts)).code).toBe(0);
    const gone = await runMx(['-p', 'a', 'room', 'alias', 'resolve', alias], opts);
    expect(gone.code).toBe(5);
    const bad = await runMx(['-p', 'a', 'room', 'members', 'not-a-room'], opts);
    expect(bad.code).toBe(2);
  });
});
