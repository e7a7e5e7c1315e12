/**
 * The direct chat with a user (spec: "Direct Messaging"), for `mx send @user:server TEXT`: a
 * room the user's `m.direct` account data lists for them, that this user is in and they are in
 * or invited to; else a new one, made as Element makes it (trusted private chat, `is_direct`,
 * encrypted, recorded in `m.direct`).
 */
import { MEGOLM } from '../crypto/decrypted.js';
import { getAccountData, recordDirectRoom } from '../matrix/account-data.js';
import type { MatrixClient } from '../matrix/http.js';
import { createRoom, getJoinedRooms, getRoomStateWithKey } from '../matrix/rooms.js';

export interface DirectRoom {
  roomId: string;
  /** Made by this call (no direct chat with the user was found). */
  created: boolean;
}

export async function directRoomWith(client: MatrixClient, me: string, userId: string): Promise<DirectRoom> {
  const [direct, joined] = await Promise.all([getAccountData(client, me, 'm.direct'), getJoinedRooms(client)]);
  const listed = Array.isArray(direct?.[userId]) ? (direct[userId] as unknown[]).filter((id): id is string => typeof id === 'string') : [];
  const mine = new Set(joined);
  // The most recently recorded first: clients append new direct chats.
  for (const roomId of [...listed].reverse()) {
    if (!mine.has(roomId)) continue;
    const member = await getRoomStateWithKey(client, roomId, 'm.room.member', userId).catch(() => undefined);
    if (member?.membership === 'join' || member?.membership === 'invite') return { roomId, created: false };
  }
  const { room_id: roomId } = await createRoom(client, {
    preset: 'trusted_private_chat',
    is_direct: true,
    invite: [userId],
    initial_state: [{ type: 'm.room.encryption', state_key: '', content: { algorithm: MEGOLM } }],
  });
  await recordDirectRoom(client, me, roomId, [userId]);
  return { roomId, created: true };
}
