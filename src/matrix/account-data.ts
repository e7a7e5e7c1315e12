/** Account data (spec: "Client Config"), and the m.direct map clients use to list direct chats. */
import { encodePath, matrixRequest, type MatrixClient } from './http.js';

const V3 = '/_matrix/client/v3';

/** GET /user/{userId}/account_data/{type}: the content, or undefined when there is none. */
export async function getAccountData(client: MatrixClient, userId: string, type: string): Promise<Record<string, unknown> | undefined> {
  try {
    return await matrixRequest<Record<string, unknown>>(client, {
      method: 'GET', path: V3 + encodePath`/user/${userId}/account_data/${type}`, auth: true, idempotent: true, what: `read ${type}`,
    });
  } catch (error) {
    if ((error as { errcode?: string }).errcode === 'M_NOT_FOUND') return undefined;
    throw error;
  }
}

/** PUT /user/{userId}/account_data/{type}: replaces the content. */
export async function setAccountData(client: MatrixClient, userId: string, type: string, content: Record<string, unknown>): Promise<void> {
  await matrixRequest(client, {
    method: 'PUT', path: V3 + encodePath`/user/${userId}/account_data/${type}`, body: content, auth: true, idempotent: true,
    what: `write ${type}`,
  });
}

/**
 * Records a room as the direct chat with each of `others` in the user's `m.direct` account data
 * (user ID -> room IDs), as Element does when it creates one: without it, clients do not list the
 * room as a direct chat. A read-modify-write of the whole map (the spec offers nothing finer);
 * other users' entries and unknown content are kept.
 */
export async function recordDirectRoom(client: MatrixClient, userId: string, roomId: string, others: string[]): Promise<void> {
  const direct = (await getAccountData(client, userId, 'm.direct')) ?? {};
  for (const other of others) {
    const rooms = Array.isArray(direct[other]) ? (direct[other] as unknown[]).filter((id) => typeof id === 'string') : [];
    if (!rooms.includes(roomId)) rooms.push(roomId);
    direct[other] = rooms;
  }
  await setAccountData(client, userId, 'm.direct', direct);
}
