import { getMembersByRoom } from '../../matrix/rooms.js';
import { isRecord } from '../../matrix/shape.js';
import { shown } from '../../output/safe-text.js';
import { defineCommand } from '../command.js';
import { ROOM_POSITIONAL } from '../options.js';
import { parseRoomRef } from '../../matrix/identifiers.js';
import { resolveRoom } from '../../matrix/resolve.js';

const MEMBERSHIPS = ['join', 'invite', 'knock', 'leave', 'ban'];

export const roomMembersCommand = defineCommand({
  command: 'members <room>',
  describe: 'List the members of a room with their membership and display name',
  builder: (y) =>
    y
      .positional('room', ROOM_POSITIONAL)
      .option('membership', { type: 'string', choices: MEMBERSHIPS, describe: 'only members with this membership' }),
  validate(args) {
    parseRoomRef(args.room);
    return args;
  },
  async run(ctx, args) {
    const { client } = await ctx.session();
    const roomId = await resolveRoom(client, args.room);
    const events = await getMembersByRoom(client, roomId, args.membership);
    const members = events.map((event) => {
      // The server's events as they come: any field may be missing or of another type.
      const content = isRecord(event?.content) ? event.content : {};
      return {
        user_id: shown(event?.state_key ?? ''),
        membership: typeof content.membership === 'string' ? content.membership : '',
        display_name: typeof content.displayname === 'string' ? content.displayname : null,
      };
    });
    await ctx.out.print(members, {
      table: {
        head: ['USER', 'MEMBERSHIP', 'DISPLAY NAME'],
        rows: (all) => all.map((m) => [m.user_id, m.membership, m.display_name ?? '']),
      },
    });
  },
});
