/** Room endpoints (spec: "Rooms", "Room membership", "Room aliases"). */
import { encodePath, matrixRawRequest, matrixRequest, refuseDeepNesting, type MatrixClient } from './http.js';
import { UnexpectedResponseError } from './errors.js';
import { objectsIn, requireStrings } from './shape.js';

const V3 = '/_matrix/client/v3';

export interface CreateRoomRequest {
  room_alias_name?: string;
  name?: string;
  topic?: string;
  preset?: 'public_chat' | 'private_chat' | 'trusted_private_chat';
  visibility?: 'public' | 'private';
  invite?: string[];
  is_direct?: boolean;
  room_version?: string;
  initial_state?: { type: string; state_key?: string; content: Record<string, unknown> }[];
  /** Extra m.room.create content: `{"type":"m.space"}` makes a space. */
  creation_content?: Record<string, unknown>;
}

/** POST /createRoom. Not idempotent: a repeat makes a second room. */
export async function createRoom(client: MatrixClient, body: CreateRoomRequest): Promise<{ room_id: string }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'POST', path: `${V3}/createRoom`, body, auth: true, idempotent: false, what: 'create room',
  });
  return requireStrings(answer, ['room_id'], 'create room');
}

/** GET /joined_rooms. */
export async function getJoinedRooms(client: MatrixClient): Promise<string[]> {
  const answer = await matrixRequest<{ joined_rooms?: unknown }>(client, {
    method: 'GET', path: `${V3}/joined_rooms`, auth: true, idempotent: true, what: 'list joined rooms',
  });
  return Array.isArray(answer.joined_rooms) ? (answer.joined_rooms as string[]) : [];
}

/** GET /directory/room/{roomAlias}: the room an alias points to. */
export async function getRoomIdByAlias(client: MatrixClient, alias: string): Promise<{ room_id: string; servers: string[] }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'GET', path: V3 + encodePath`/directory/room/${alias}`, auth: true, idempotent: true, what: `resolve ${alias}`,
  });
  requireStrings(answer, ['room_id'], `resolve ${alias}`);
  return { room_id: answer.room_id as string, servers: Array.isArray(answer.servers) ? (answer.servers as string[]) : [] };
}

/** PUT /directory/room/{roomAlias}. */
export async function setRoomAlias(client: MatrixClient, alias: string, roomId: string): Promise<void> {
  await matrixRequest(client, {
    method: 'PUT', path: V3 + encodePath`/directory/room/${alias}`, body: { room_id: roomId }, auth: true, idempotent: true,
    what: `add alias ${alias}`,
  });
}

/** DELETE /directory/room/{roomAlias}. */
export async function deleteRoomAlias(client: MatrixClient, alias: string): Promise<void> {
  await matrixRequest(client, {
    method: 'DELETE', path: V3 + encodePath`/directory/room/${alias}`, auth: true, idempotent: true, what: `remove alias ${alias}`,
  });
}

/** POST /join/{roomIdOrAlias}: joining twice is harmless, so it is safe to retry. */
export async function joinRoom(client: MatrixClient, roomIdOrAlias: string, via: string[] = [], reason?: string): Promise<{ room_id: string }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'POST', path: V3 + encodePath`/join/${roomIdOrAlias}`, query: { via },
    body: reason ? { reason } : {}, auth: true, idempotent: true, what: `join ${roomIdOrAlias}`,
  });
  return requireStrings(answer, ['room_id'], `join ${roomIdOrAlias}`);
}

/** POST /rooms/{roomId}/invite. */
export async function inviteUser(client: MatrixClient, roomId: string, userId: string, reason?: string): Promise<void> {
  await matrixRequest(client, {
    method: 'POST', path: V3 + encodePath`/rooms/${roomId}/invite`, body: { user_id: userId, ...(reason ? { reason } : {}) },
    auth: true, idempotent: true, what: `invite ${userId}`,
  });
}

/** POST /rooms/{roomId}/kick, /ban or /unban: a moderator's membership change for another user (repeating it is harmless). */
export async function moderateMember(client: MatrixClient, action: 'kick' | 'ban' | 'unban', roomId: string, userId: string, reason?: string): Promise<void> {
  await matrixRequest(client, {
    method: 'POST', path: V3 + encodePath`/rooms/${roomId}/${action}`, body: { user_id: userId, ...(reason ? { reason } : {}) },
    auth: true, idempotent: true, what: `${action} ${userId} in ${roomId}`,
  });
}

/** POST /rooms/{roomId}/leave. */
export async function leaveRoom(client: MatrixClient, roomId: string, reason?: string): Promise<void> {
  await matrixRequest(client, {
    method: 'POST', path: V3 + encodePath`/rooms/${roomId}/leave`, body: reason ? { reason } : {}, auth: true, idempotent: true,
    what: `leave ${roomId}`,
  });
}

/** POST /rooms/{roomId}/forget. */
export async function forgetRoom(client: MatrixClient, roomId: string): Promise<void> {
  await matrixRequest(client, {
    method: 'POST', path: V3 + encodePath`/rooms/${roomId}/forget`, body: {}, auth: true, idempotent: true, what: `forget ${roomId}`,
  });
}

/** A client event as the server returns it (spec: "Client event format"). */
export interface ClientEvent {
  event_id: string;
  type: string;
  sender: string;
  origin_server_ts: number;
  room_id?: string;
  state_key?: string;
  content: Record<string, unknown>;
  unsigned?: Record<string, unknown>;
}

/** GET /rooms/{roomId}/members: membership events, optionally only one membership or all but one. */
export async function getMembersByRoom(client: MatrixClient, roomId: string, membership?: string, notMembership?: string): Promise<ClientEvent[]> {
  const answer = await matrixRequest<{ chunk?: unknown }>(client, {
    method: 'GET', path: V3 + encodePath`/rooms/${roomId}/members`, query: { membership, not_membership: notMembership }, auth: true, idempotent: true,
    what: `list members of ${roomId}`,
  });
  return Array.isArray(answer.chunk) ? (answer.chunk as ClientEvent[]) : [];
}

/** GET /rooms/{roomId}/state/{eventType}/{stateKey}: undefined when there is no such state. */
export async function getRoomStateWithKey(
  client: MatrixClient,
  roomId: string,
  eventType: string,
  stateKey = '',
): Promise<Record<string, unknown> | undefined> {
  try {
    return await matrixRequest<Record<string, unknown>>(client, {
      method: 'GET', path: V3 + encodePath`/rooms/${roomId}/state/${eventType}/${stateKey}`, auth: true, idempotent: true,
      what: `read ${eventType} of ${roomId}`,
    });
  } catch (error) {
    if ((error as { errcode?: string }).errcode === 'M_NOT_FOUND') return undefined;
    throw error;
  }
}

/**
 * The room's m.room.encryption state content, or undefined for a room that is not encrypted.
 * (Encryption, once on, cannot be switched off: the spec forbids clients to remove it.)
 */
export async function getRoomEncryption(client: MatrixClient, roomId: string): Promise<Record<string, unknown> | undefined> {
  return getRoomStateWithKey(client, roomId, 'm.room.encryption');
}

/** GET /rooms/{roomId}/joined_members. */
export async function getJoinedMembersByRoom(
  client: MatrixClient,
  roomId: string,
): Promise<Record<string, { display_name?: string; avatar_url?: string }>> {
  const answer = await matrixRequest<{ joined?: unknown }>(client, {
    method: 'GET', path: V3 + encodePath`/rooms/${roomId}/joined_members`, auth: true, idempotent: true,
    what: `list joined members of ${roomId}`,
  });
  return answer.joined && typeof answer.joined === 'object' ? (answer.joined as Record<string, { display_name?: string }>) : {};
}

export interface MessagesPage {
  chunk: ClientEvent[];
  start: string;
  end?: string;
  state?: ClientEvent[];
}

/** GET /rooms/{roomId}/messages: one page of history. */
export async function getRoomEvents(
  client: MatrixClient,
  roomId: string,
  params: { dir: 'b' | 'f'; from?: string; to?: string; limit?: number; filter?: string },
): Promise<MessagesPage> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'GET', path: V3 + encodePath`/rooms/${roomId}/messages`, query: params, auth: true, idempotent: true,
    what: `read history of ${roomId}`,
  });
  requireStrings(answer, ['start'], `read history of ${roomId}`);
  // An entry that is not an object is no event: nothing could show it or page past it.
  return { ...answer, chunk: objectsIn(answer.chunk) } as MessagesPage;
}

/** GET /rooms/{roomId}/event/{eventId}: one event; a MatrixError 404 M_NOT_FOUND when there is none (or it cannot be seen). */
export async function getRoomEvent(client: MatrixClient, roomId: string, eventId: string): Promise<ClientEvent> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'GET', path: V3 + encodePath`/rooms/${roomId}/event/${eventId}`, auth: true, idempotent: true, what: `read event ${eventId} of ${roomId}`,
  });
  return requireStrings(answer, ['event_id', 'type', 'sender'], `read event ${eventId}`) as unknown as ClientEvent;
}

/**
 * GET /_matrix/client/v1/rooms/{roomId}/relations/{eventId}/{relType}: the events related to
 * one, newest first (one page of `limit`).
 */
export async function getRelatedEvents(client: MatrixClient, roomId: string, eventId: string, relType: string, limit: number): Promise<ClientEvent[]> {
  const answer = await matrixRequest<{ chunk?: unknown }>(client, {
    method: 'GET', path: encodePath`/_matrix/client/v1/rooms/${roomId}/relations/${eventId}/${relType}`, query: { limit, dir: 'b' },
    auth: true, idempotent: true, what: `read ${relType} relations of ${eventId}`,
  });
  return Array.isArray(answer.chunk) ? (answer.chunk as ClientEvent[]) : [];
}

/** GET /rooms/{roomId}/state: the room's whole current state. */
export async function getRoomState(client: MatrixClient, roomId: string): Promise<ClientEvent[]> {
  const what = `read the state of ${roomId}`;
  // A JSON array, which matrixRequest (JSON objects only) does not take.
  const answer = await matrixRawRequest(client, { method: 'GET', path: V3 + encodePath`/rooms/${roomId}/state`, auth: true, idempotent: true, what });
  let events: unknown;
  try {
    const text = answer.bytes.toString('utf8');
    events = JSON.parse(text);
    refuseDeepNesting(text, what, answer.status);
  } catch (error) {
    if (error instanceof UnexpectedResponseError) throw error;
    events = undefined;
  }
  if (!Array.isArray(events)) throw new UnexpectedResponseError(`${what}: the answer is not a JSON array of state events`, answer.status, undefined);
  return events as ClientEvent[];
}

/** POST /rooms/{roomId}/read_markers: the fully-read marker and a read receipt (public or private). */
export async function setReadMarkers(client: MatrixClient, roomId: string, eventId: string, receipt: 'm.read' | 'm.read.private'): Promise<void> {
  await matrixRequest(client, {
    method: 'POST', path: V3 + encodePath`/rooms/${roomId}/read_markers`, body: { 'm.fully_read': eventId, [receipt]: eventId },
    auth: true, idempotent: true, what: `mark ${roomId} read`,
  });
}

/** PUT /rooms/{roomId}/typing/{userId}: typing for `timeoutMs`, or stopped. */
export async function setTyping(client: MatrixClient, roomId: string, userId: string, timeoutMs: number | undefined): Promise<void> {
  await matrixRequest(client, {
    method: 'PUT', path: V3 + encodePath`/rooms/${roomId}/typing/${userId}`,
    body: timeoutMs === undefined ? { typing: false } : { typing: true, timeout: timeoutMs }, auth: true, idempotent: true,
    what: `set typing in ${roomId}`,
  });
}

/** A room of the public room directory (spec: PublishedRoomsChunk). */
export interface PublicRoom {
  room_id: string;
  name?: string;
  canonical_alias?: string;
  topic?: string;
  num_joined_members: number;
  world_readable?: boolean;
  guest_can_join?: boolean;
  room_type?: string;
  join_rule?: string;
}

/** POST /publicRooms: one page of a server's public room directory, optionally filtered. */
export async function getPublicRooms(
  client: MatrixClient,
  params: { server?: string; search?: string; limit: number; since?: string },
): Promise<{ chunk: PublicRoom[]; next_batch?: string; total_room_count_estimate?: number }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'POST', path: `${V3}/publicRooms`, query: { server: params.server },
    body: { limit: params.limit, ...(params.since ? { since: params.since } : {}), ...(params.search ? { filter: { generic_search_term: params.search } } : {}) },
    auth: true, idempotent: true, what: 'read the room directory',
  });
  return { ...answer, chunk: Array.isArray(answer.chunk) ? (answer.chunk as PublicRoom[]) : [] } as { chunk: PublicRoom[]; next_batch?: string };
}

/** A room of a space's hierarchy (spec: SpaceHierarchyRoomsChunk). */
export interface HierarchyRoom extends PublicRoom {
  children_state: { state_key: string; content: Record<string, unknown> }[];
}

/** GET /_matrix/client/v1/rooms/{roomId}/hierarchy: one page of a space's rooms, depth first. */
export async function getSpaceHierarchy(client: MatrixClient, roomId: string, params: { from?: string; maxDepth?: number; limit?: number }): Promise<{ rooms: HierarchyRoom[]; next_batch?: string }> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    method: 'GET', path: encodePath`/_matrix/client/v1/rooms/${roomId}/hierarchy`, query: { from: params.from, max_depth: params.maxDepth, limit: params.limit },
    auth: true, idempotent: true, what: `read the hierarchy of ${roomId}`,
  });
  return { rooms: Array.isArray(answer.rooms) ? (answer.rooms as HierarchyRoom[]) : [], next_batch: typeof answer.next_batch === 'string' ? answer.next_batch : undefined };
}
