import type { MatrixClient } from '../../matrix/http.js';
import { getJoinedMembersByRoom, getJoinedRooms, getRoomStateWithKey } from '../../matrix/rooms.js';
import { defineCommand } from '../command.js';
import { mapLimited } from '../../map-limited.js';

/** How many rooms are described at once: enough to hide latency, few enough to be polite. */
const CONCURRENCY = 8;

interface RoomSummary {
  room_id: string;
  name: string | null;
  canonical_alias: string | null;
  joined_members: number;
}

async function describeRoom(client: MatrixClient, roomId: string): Promise<RoomSummary> {
  const [name, alias, members] = await Promise.all([
    getRoomStateWithKey(client, roomId, 'm.room.name'),
    getRoomStateWithKey(client, roomId, 'm.room.canonical_alias'),
    getJoinedMembersByRoom(client, roomId),
  ]);
  return {
    room_id: roomId,
    name: typeof name?.name === 'string' ? name.name : null,
    canonical_alias: typeof alias?.alias === 'string' ? alias.alias : null,
    joined_members: Object.keys(members).length,
  };
}

export const roomListCommand = defineCommand({
  command: 'list',
  aliases: ['ls'],
  describe: 'List joined rooms with name, alias and member count',
  async run(ctx) {
    const { client } = await ctx.session();
    const rooms = await mapLimited(await getJoinedRooms(client), CONCURRENCY, (roomId) => describeRoom(client, roomId));
    await ctx.out.print(rooms, {
      table: {
        head: ['ROOM ID', 'NAME', 'ALIAS', 'MEMBERS'],
        rows: (all) => all.map((r) => [r.room_id, r.name ?? '', r.canonical_alias ?? '', String(r.joined_members)]),
      },
    });
  },
});
