/**
 * `mx room kick|ban|unban` and `mx room power`: moderation, also across many rooms at once (the
 * rooms from the arguments, repeated --room, and stdin's lines with --rooms-stdin), one JSON
 * line per action. Every action is tried; the command exits with the first failure's code.
 */
import type { Context } from '../../context.js';
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { parseRoomRef, parseUserId, printable } from '../../matrix/identifiers.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { getRoomStateWithKey, moderateMember } from '../../matrix/rooms.js';
import { setRoomStateWithKey } from '../../matrix/events.js';
import { readStdin } from '../../input.js';
import { defineCommand } from '../command.js';

type Action = 'kick' | 'ban' | 'unban';

const ROOM_OPTION = { type: 'string', array: true, nargs: 1, describe: 'also in this room (repeatable)' } as const;
const ROOMS_STDIN_OPTION = { type: 'boolean', describe: 'also in the rooms on stdin, one per line (IDs or aliases)' } as const;

/** The rooms to act in: the room arguments and --room values, and stdin's lines with --rooms-stdin. */
async function roomsOf(ctx: Context, given: string[], fromStdin: boolean): Promise<string[]> {
  const rooms = [...given];
  if (fromStdin) rooms.push(...(await readStdin(ctx.io)).split(/\r?\n/).map((line) => line.trim()).filter((line) => line !== ''));
  for (const room of rooms) parseRoomRef(room);
  if (rooms.length === 0) throw new UsageError('no room: give ROOM, --room ROOM, or rooms on stdin with --rooms-stdin');
  return [...new Set(rooms)];
}

/** Runs `act` for each room, one line per result; resolves with the exit code of the first failure (0 if none). */
async function eachRoom(ctx: Context, rooms: string[], act: (roomId: string) => Promise<Record<string, unknown>>): Promise<number> {
  const { client } = await ctx.session();
  let exit: number = ExitCode.ok;
  for (const room of rooms) {
    let roomId = room;
    try {
      roomId = await resolveRoom(client, room);
      const result: Record<string, unknown> = { room_id: roomId, ok: true, ...(await act(roomId)) };
      await ctx.out.item(result, (r) => `${String(r.room_id)}: ${String(r.done)}`);
    } catch (error) {
      if (!(error instanceof MxError)) throw error;
      if (exit === ExitCode.ok) exit = error.exitCode;
      await ctx.out.item({ room_id: roomId, ok: false, error: { message: error.message, exit_code: error.exitCode, ...error.details } }, (r) => `${r.room_id}: failed: ${error.message}`);
    }
  }
  return exit;
}

function membershipCommand(action: Action, describe: string) {
  return defineCommand({
    command: `${action} <targets..>`,
    describe,
    builder: (y) =>
      y
        .positional('targets', { type: 'string', array: true, demandOption: true, describe: 'rooms (!id or #alias) and users (@user:server)' })
        .option('room', ROOM_OPTION)
        .option('rooms-stdin', ROOMS_STDIN_OPTION)
        .option('reason', { type: 'string', nargs: 1, describe: 'why (shown in the room)' })
        .example(`mx room ${action} '#general:example.org' '#random:example.org' @spammer:example.org --reason spam`, '')
        .example(`mx room list | jq -r '.[].room_id' | mx room ${action} --rooms-stdin @spammer:example.org`, 'in every room you are in'),
    validate(args) {
      const targets = args.targets.map(String);
      const users = targets.filter((t) => t.startsWith('@'));
      for (const user of users) parseUserId(user);
      const rooms = [...targets.filter((t) => !t.startsWith('@')), ...(args.room ?? [])];
      for (const room of rooms) parseRoomRef(room);
      if (users.length === 0) throw new UsageError(`${action} needs a user (@user:server)`);
      return { users: [...new Set(users)], rooms, roomsStdin: Boolean(args.roomsStdin), reason: args.reason };
    },
    async run(ctx, { users, rooms, roomsStdin, reason }) {
      const { client } = await ctx.session();
      const all = await roomsOf(ctx, rooms, roomsStdin);
      let exit: number = ExitCode.ok;
      for (const user of users) {
        const code = await eachRoom(ctx, all, async (roomId) => {
          await moderateMember(client, action, roomId, user, reason);
          return { user_id: user, action, done: `${action} ${user}` };
        });
        if (exit === ExitCode.ok) exit = code;
      }
      return exit;
    },
  });
}

export const roomKickCommand = membershipCommand('kick', 'Kick users from rooms (they may join again)');
export const roomBanCommand = membershipCommand('ban', 'Ban users from rooms');
export const roomUnbanCommand = membershipCommand('unban', 'Lift bans (the users may then join again)');

/** Power levels are canonical JSON integers. */
const MAX_LEVEL = 2 ** 53 - 1;
const NAMED_LEVELS: Record<string, number> = { admin: 100, moderator: 50, mod: 50 };

export const roomPowerCommand = defineCommand({
  command: 'power <target-room> <user> <level>',
  describe: 'Set a user\'s power level in m.room.power_levels, keeping every other entry (admin=100, moderator=50)',
  builder: (y) =>
    y
      .positional('target-room', { type: 'string', demandOption: true, describe: 'room ID or alias' })
      .positional('user', { type: 'string', demandOption: true })
      .positional('level', { type: 'string', demandOption: true, describe: 'a whole number, admin (100), moderator (50), or default (the room\'s users_default)' })
      .option('room', ROOM_OPTION)
      .option('rooms-stdin', ROOMS_STDIN_OPTION),
  validate(args) {
    parseUserId(args.user);
    const rooms = [args.targetRoom, ...(args.room ?? [])];
    for (const room of rooms) parseRoomRef(room);
    return { rooms, roomsStdin: Boolean(args.roomsStdin), user: args.user, level: parseLevel(String(args.level)) };
  },
  async run(ctx, { rooms, roomsStdin, user, level }) {
    const { client } = await ctx.session();
    return eachRoom(ctx, await roomsOf(ctx, rooms, roomsStdin), async (roomId) => {
      const current = (await getRoomStateWithKey(client, roomId, 'm.room.power_levels')) ?? {};
      const users = { ...(current.users as Record<string, number> | undefined) };
      const previous = users[user] ?? (typeof current.users_default === 'number' ? current.users_default : 0);
      if (level === 'default') delete users[user];
      else users[user] = level;
      await setRoomStateWithKey(client, roomId, 'm.room.power_levels', '', { ...current, users });
      const now = level === 'default' ? (typeof current.users_default === 'number' ? current.users_default : 0) : level;
      return { user_id: user, previous_level: previous, level: now, done: `${user}: ${previous} -> ${now}` };
    });
  },
});

function parseLevel(value: string): number | 'default' {
  const named = NAMED_LEVELS[value.toLowerCase()];
  if (named !== undefined) return named;
  if (value.toLowerCase() === 'default') return 'default';
  if (!/^-?\d+$/.test(value) || Math.abs(Number(value)) > MAX_LEVEL) {
    throw new UsageError(`power level "${printable(value)}" is out of range: give a whole number between -${MAX_LEVEL} and ${MAX_LEVEL}, admin, moderator or default`);
  }
  return Number(value);
}
