import { getRoomIdByAlias } from './rooms.js';
import type { MatrixClient } from './http.js';
import { parseRoomRef } from './identifiers.js';

/**
 * A room argument (ID or alias) to a room ID, checked against the grammar first; an alias is
 * resolved with GET /directory/room/{alias} (an unknown alias: M_NOT_FOUND, exit code 5).
 */
export async function resolveRoom(client: MatrixClient, room: string): Promise<string> {
  const ref = parseRoomRef(room);
  return ref.kind === 'id' ? ref.roomId : (await getRoomIdByAlias(client, ref.alias)).room_id;
}
