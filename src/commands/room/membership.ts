import { isServerName, parseRoomRef, parseUserId, printable } from '../../matrix/identifiers.js';
import { forgetRoom, inviteUser, joinRoom, leaveRoom } from '../../matrix/rooms.js';
import { UsageError } from '../../errors.js';
import { defineCommand } from '../command.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { ROOM_POSITIONAL } from '../options.js';

export const inviteCommand = defineCommand({
  command: 'invite <room> <users..>',
  describe: 'Invite users to a room',
  builder: (y) =>
    y
      .positional('room', ROOM_POSITIONAL)
      .positional('users', { type: 'string', array: true, demandOption: true, describe: 'full user IDs (@bob:example.org)' })
      .option('reason', { type: 'string', describe: 'shown to the invitees' }),
  validate(args) {
    parseRoomRef(args.room);
    for (const user of args.users) parseUserId(user);
    return args;
  },
  async run(ctx, args) {
    const { client } = await ctx.session();
    const roomId = await resolveRoom(client, args.room);
    // One at a time, stopping at the first failure: the output says who was invited.
    for (const user of args.users) {
      await inviteUser(client, roomId, user, args.reason);
      await ctx.out.item({ room_id: roomId, user_id: user, invited: true }, (r) => `Invited ${r.user_id} to ${r.room_id}`);
    }
  },
});

export const joinCommand = defineCommand({
  command: 'join <room>',
  describe: 'Join a room by ID or alias (accepting an invite, or a public room)',
  builder: (y) =>
    y
      .positional('room', ROOM_POSITIONAL)
      .option('via', { type: 'string', array: true, describe: 'server to join through (repeatable; for room IDs on other servers)' })
      .option('reason', { type: 'string' }),
  validate(args) {
    const ref = parseRoomRef(args.room);
    for (const server of args.via ?? []) {
      if (!isServerName(server)) throw new UsageError(`--via "${printable(server)}" is not a server name`);
    }
    return { target: ref.kind === 'id' ? ref.roomId : ref.alias, via: args.via ?? [], reason: args.reason };
  },
  async run(ctx, { target, via, reason }) {
    const { client } = await ctx.session();
    const { room_id } = await joinRoom(client, target, via, reason);
    await ctx.out.print({ room_id }, { text: (r) => `Joined ${r.room_id}` });
  },
});

export const roomLeaveCommand = defineCommand({
  command: 'leave <room>',
  describe: 'Leave a room (or decline an invite)',
  builder: (y) =>
    y.positional('room', ROOM_POSITIONAL).option('reason', { type: 'string' }),
  async run(ctx, args) {
    const { client } = await ctx.session();
    const roomId = await resolveRoom(client, args.room);
    await leaveRoom(client, roomId, args.reason);
    await ctx.out.print({ room_id: roomId, left: true }, { text: (r) => `Left ${r.room_id}` });
  },
});

export const roomForgetCommand = defineCommand({
  command: 'forget <room>',
  describe: 'Forget a room you have left (it disappears from your history)',
  builder: (y) => y.positional('room', ROOM_POSITIONAL),
  validate: checkRoom,
  async run(ctx, args) {
    const { client } = await ctx.session();
    const roomId = await resolveRoom(client, args.room);
    await forgetRoom(client, roomId);
    await ctx.out.print({ room_id: roomId, forgotten: true }, { text: (r) => `Forgot ${r.room_id}` });
  },
});

/** For commands whose only checked argument is ROOM. */
function checkRoom<A extends { room: string }>(args: A): A {
  parseRoomRef(args.room);
  return args;
}
