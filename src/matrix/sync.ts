/** Syncing (spec: "Syncing", "Filtering"): GET /sync and the user's stored filters. */
import { encodePath, matrixRequest, type MatrixClient, type RetryPolicy } from './http.js';
import type { ClientEvent } from './rooms.js';
import { isRecord, objectsIn, requireStrings } from './shape.js';

const V3 = '/_matrix/client/v3';

/** spec: EventFilter. `types`/`not_types` take `*` wildcards. */
export interface EventFilter {
  limit?: number;
  types?: string[];
  not_types?: string[];
  senders?: string[];
  not_senders?: string[];
}

/** spec: RoomEventFilter (timeline, state, ephemeral; also /messages' `filter`). */
export interface RoomEventFilter extends EventFilter {
  rooms?: string[];
  not_rooms?: string[];
  lazy_load_members?: boolean;
  contains_url?: boolean;
}

/** spec: Filter, the body of POST /user/{userId}/filter or the inline `filter` of /sync. */
export interface SyncFilter {
  event_fields?: string[];
  event_format?: 'client' | 'federation';
  presence?: EventFilter;
  account_data?: EventFilter;
  room?: {
    rooms?: string[];
    not_rooms?: string[];
    include_leave?: boolean;
    timeline?: RoomEventFilter;
    state?: RoomEventFilter;
    ephemeral?: RoomEventFilter;
    account_data?: RoomEventFilter;
  };
}

/** An event without an ID or a room: typing, receipts, account data, presence, to-device. */
export interface BasicEvent {
  type: string;
  content: Record<string, unknown>;
  sender?: string;
  [key: string]: unknown;
}

export interface Timeline {
  events?: ClientEvent[];
  limited?: boolean;
  prev_batch?: string;
}

export interface JoinedRoom {
  summary?: { 'm.heroes'?: string[]; 'm.joined_member_count'?: number; 'm.invited_member_count'?: number };
  state?: { events?: ClientEvent[] };
  timeline?: Timeline;
  ephemeral?: { events?: BasicEvent[] };
  account_data?: { events?: BasicEvent[] };
  unread_notifications?: { highlight_count?: number; notification_count?: number };
}

export interface InvitedRoom {
  /** Stripped state; Synapse includes the invite itself as a full event (with event_id). */
  invite_state?: { events?: (BasicEvent & { state_key?: string; event_id?: string })[] };
}

export interface LeftRoom {
  state?: { events?: ClientEvent[] };
  timeline?: Timeline;
  account_data?: { events?: BasicEvent[] };
}

export interface SyncResponse {
  next_batch: string;
  rooms?: {
    join?: Record<string, JoinedRoom>;
    invite?: Record<string, InvitedRoom>;
    leave?: Record<string, LeftRoom>;
    knock?: Record<string, unknown>;
  };
  presence?: { events?: BasicEvent[] };
  account_data?: { events?: BasicEvent[] };
  to_device?: { events?: BasicEvent[] };
  [key: string]: unknown;
}

/**
 * The rooms of one kind in a sync answer, read by their types: only the entries that are
 * objects (a server may send anything; a room that is not an object has nothing to show).
 */
export function roomsOf<K extends 'join' | 'invite' | 'leave'>(response: SyncResponse, kind: K): [string, NonNullable<NonNullable<SyncResponse['rooms']>[K]>[string]][] {
  const rooms: unknown = response.rooms;
  const ofKind = isRecord(rooms) ? rooms[kind] : undefined;
  return isRecord(ofKind) ? (Object.entries(ofKind).filter(([, room]) => isRecord(room)) as [string, never][]) : [];
}

/** The events of a `{ "events": [...] }` part of a sync answer: only the entries that are objects. */
export function eventsOf<E = ClientEvent>(part: unknown): E[] {
  return objectsIn<E>(isRecord(part) ? part.events : undefined);
}

export interface SyncParams {
  since?: string;
  /** Long-poll for this many milliseconds when there is nothing new (0: answer at once). */
  timeout?: number;
  /** A filter ID, or a filter as JSON text. */
  filter?: string;
  full_state?: boolean;
  set_presence?: 'offline' | 'online' | 'unavailable';
}

/** Extra time a long poll gets beyond its server-side timeout before mx calls it a network failure. */
export const LONG_POLL_MARGIN_MS = 30_000;

/**
 * GET /sync. Safe to repeat. The request's own time limit is the long-poll timeout plus a
 * margin, so a long poll is never cut off by mx while the server is still holding it.
 * `policy` defaults to the client's.
 */
export async function sync(client: MatrixClient, params: SyncParams, policy?: RetryPolicy): Promise<SyncResponse> {
  const answer = await matrixRequest<Record<string, unknown>>(
    client,
    {
      method: 'GET',
      path: `${V3}/sync`,
      query: {
        since: params.since,
        timeout: params.timeout,
        filter: params.filter,
        full_state: params.full_state ? true : undefined,
        set_presence: params.set_presence,
      },
      auth: true,
      idempotent: true,
      timeoutMs: (params.timeout ?? 0) + (client.longPollMarginMs ?? LONG_POLL_MARGIN_MS),
      what: 'sync',
      tooLargeHint: 'a smaller --limit makes a first sync smaller',
    },
    policy,
  );
  requireStrings(answer, ['next_batch'], 'sync');
  return answer as SyncResponse;
}

/** POST /user/{userId}/filter: stores a filter and returns its ID (for filters too long for a URL). */
async function defineFilter(client: MatrixClient, userId: string, filter: SyncFilter): Promise<string> {
  const answer = await matrixRequest<Record<string, unknown>>(client, {
    // Storing the same filter twice only makes a second ID: harmless, so safe to retry.
    method: 'POST', path: V3 + encodePath`/user/${userId}/filter`, body: filter, auth: true, idempotent: true,
    what: 'upload a sync filter',
  });
  return requireStrings(answer, ['filter_id'], 'upload a sync filter').filter_id;
}

/** Inline filters longer than this go to the server first (URLs have practical limits). */
const MAX_INLINE_FILTER_LENGTH = 2_000;

/** The `filter` query value for a filter: inline JSON, or the ID of an uploaded copy when too long. */
export async function filterParam(client: MatrixClient, filter: SyncFilter, userId: () => Promise<string>): Promise<string> {
  const inline = JSON.stringify(filter);
  if (encodeURIComponent(inline).length <= MAX_INLINE_FILTER_LENGTH) return inline;
  return defineFilter(client, await userId(), filter);
}
