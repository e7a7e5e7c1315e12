/**
 * One sync batch as the items `mx tail` writes, in order: invites; then for each room its
 * state (if asked), its timeline, its ephemeral events and account data (if asked); then
 * presence, account data and to-device events (if asked).
 *
 * No event lost: a room whose timeline came back `limited` (more happened since the last
 * position than the timeline limit), or whose timeline holds a membership change of the user
 * (a room just joined, whose timeline starts with old history), is read from
 * /rooms/{id}/messages instead, forwards from the batch's `since` to its `next_batch`. Both
 * tokens bound the same stream the sync timeline covers, so that room's events come out
 * exactly once, oldest first, page by page (memory stays flat however large the gap), and
 * nothing from before `since` is repeated.
 */
import { MatrixError } from '../matrix/errors.js';
import type { MatrixClient } from '../matrix/http.js';
import { getRoomEvents, type ClientEvent } from '../matrix/rooms.js';
import { eventsOf, roomsOf, type BasicEvent, type JoinedRoom, type LeftRoom, type SyncResponse, type Timeline } from '../matrix/sync.js';
import type { ExtraKind } from './filter.js';
import { nodeCrypto } from '../builtins.js';

/** One line of output: the event as the server sent it, with `room_id` when it has a room. */
export interface Item {
  /** The event ID, or (events that have none: typing, receipts, presence...) `#` + a content hash. */
  id: string;
  kind: 'timeline' | 'invite' | ExtraKind;
  event: { type: string; sender?: unknown; room_id?: string; [key: string]: unknown };
}

export interface BatchOptions {
  client: MatrixClient;
  userId: string;
  /** The position the batch follows (sync's `since`). */
  since: string;
  include: ReadonlySet<ExtraKind>;
  /** RoomEventFilter JSON for /messages, the same selection as the sync timeline's. */
  messagesFilter?: string;
  /** Events per /messages page. */
  pageSize?: number;
  /** Told when a room's events are fetched from /messages (for --debug). */
  onGap?: (roomId: string, reason: string) => void;
  /** Decrypts a room's encrypted events in place (crypto/sync-crypto.ts); events pass as they are without it. */
  decrypt?: (roomId: string, events: ClientEvent[]) => Promise<ClientEvent[]>;
}

const PAGE_SIZE = 200;

/** The answer is read by its types (roomsOf, eventsOf): an entry that is not an object is no event, and is passed over. */
export async function* batchItems(response: SyncResponse, opts: BatchOptions): AsyncGenerator<Item> {
  for (const [roomId, room] of roomsOf(response, 'invite')) {
    yield inviteItem(roomId, eventsOf(room.invite_state), opts.userId);
  }
  const withTimelines: [string, JoinedRoom | LeftRoom, 'join' | 'leave'][] = [
    ...roomsOf(response, 'join').map(([id, room]): [string, JoinedRoom, 'join'] => [id, room, 'join']),
    ...roomsOf(response, 'leave').map(([id, room]): [string, LeftRoom, 'leave'] => [id, room, 'leave']),
  ];
  for (const [roomId, room, membership] of withTimelines) {
    if (opts.include.has('state')) {
      for (const event of eventsOf(room.state)) yield roomEvent('state', roomId, event);
    }
    yield* timelineItems(roomId, room.timeline, membership, response.next_batch, opts);
    if (opts.include.has('ephemeral')) {
      for (const event of eventsOf<BasicEvent>('ephemeral' in room ? room.ephemeral : undefined)) yield hashed('ephemeral', { ...event, room_id: roomId });
    }
    if (opts.include.has('account_data')) {
      for (const event of eventsOf<BasicEvent>(room.account_data)) yield hashed('account_data', { ...event, room_id: roomId });
    }
  }
  if (opts.include.has('presence')) for (const event of eventsOf<BasicEvent>(response.presence)) yield hashed('presence', event);
  if (opts.include.has('account_data')) for (const event of eventsOf<BasicEvent>(response.account_data)) yield hashed('account_data', event);
  if (opts.include.has('to_device')) {
    for (const event of eventsOf<BasicEvent>(response.to_device)) yield hashed('to_device', event);
  } else {
    // A verification request is always shown: a person or a bot answers it with `mx verify accept`.
    for (const event of eventsOf<BasicEvent>(response.to_device)) if (event.type === 'm.key.verification.request') yield hashed('to_device', event);
  }
}

async function* timelineItems(
  roomId: string,
  timeline: Timeline | undefined,
  membership: 'join' | 'leave',
  nextBatch: string,
  opts: BatchOptions,
): AsyncGenerator<Item> {
  const decrypt = opts.decrypt ?? (async (_roomId: string, events: ClientEvent[]) => events);
  const events = eventsOf(timeline);
  const reason = timeline?.limited
    ? 'limited timeline'
    : events.some((e) => e.type === 'm.room.member' && e.state_key === opts.userId)
      ? 'membership change'
      : undefined;
  if (!reason) {
    for (const event of await decrypt(roomId, events)) yield roomEvent('timeline', roomId, event);
    return;
  }
  opts.onGap?.(roomId, reason);
  let from = opts.since;
  for (;;) {
    let page;
    try {
      page = await getRoomEvents(opts.client, roomId, {
        dir: 'f', from, to: nextBatch, limit: opts.pageSize ?? PAGE_SIZE, filter: opts.messagesFilter,
      });
    } catch (error) {
      // A room the user has left may refuse its history; the sync timeline is all there is then.
      if (membership === 'leave' && error instanceof MatrixError && error.status === 403 && from === opts.since) {
        for (const event of await decrypt(roomId, events)) yield roomEvent('timeline', roomId, event);
        return;
      }
      throw error;
    }
    for (const event of await decrypt(roomId, page.chunk)) yield roomEvent('timeline', roomId, event);
    // The spec: keep paginating until there is no `end` (an empty chunk does not mean the end).
    if (!page.end || (page.chunk.length === 0 && page.end === from)) return;
    from = page.end;
  }
}

function roomEvent(kind: Item['kind'], roomId: string, event: ClientEvent): Item {
  const line = { ...withoutLegacyFields(event), type: event.type, room_id: roomId };
  return typeof event.event_id === 'string' && event.event_id ? { id: event.event_id, kind, event: line } : hashed(kind, line);
}

/**
 * Synapse's /messages still adds the pre-spec top-level `age` and `user_id` (copies of
 * `unsigned.age` and `sender`); /sync does not. Dropped, so an event reads the same whichever
 * way it came, in the spec's client event format (and `room_id` always comes last).
 */
function withoutLegacyFields(event: ClientEvent): Record<string, unknown> {
  const { room_id: _roomId, ...rest } = event as ClientEvent & { age?: unknown; user_id?: unknown };
  const copy: Record<string, unknown> = rest;
  if ('age' in copy && typeof copy.unsigned === 'object') delete copy.age;
  if ('user_id' in copy && copy.user_id === event.sender) delete copy.user_id;
  return copy;
}

/** The user's own invite event (Synapse sends it whole, with its ID), else what is known of it. */
function inviteItem(roomId: string, stripped: (BasicEvent & { state_key?: string; event_id?: string })[], userId: string): Item {
  const own = stripped.filter((e) => e.type === 'm.room.member' && e.state_key === userId && e.content?.membership === 'invite').pop();
  const event = own ?? { type: 'm.room.member', state_key: userId, content: { membership: 'invite' } };
  const line = { ...event, room_id: roomId };
  return typeof own?.event_id === 'string' && own.event_id ? { id: own.event_id, kind: 'invite', event: line } : hashed('invite', line);
}

/** Items without an event ID are known by a hash of what they say (for de-duplication within a batch). */
function hashed(kind: Item['kind'], event: Item['event']): Item {
  // node:crypto is loaded on first use, not at start-up, which most commands would pay for nothing.
  const { createHash } = nodeCrypto();
  const digest = createHash('sha256').update(JSON.stringify([kind, event])).digest('base64url').slice(0, 16);
  return { id: `#${digest}`, kind, event };
}
