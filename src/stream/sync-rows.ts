/**
 * `mx sync` for people: one row per room of a sync response. The room names come from what
 * the answer carries (name and alias events in its state and timelines, the stripped state of
 * invites, the room summary's heroes); only a few rooms it leaves unnamed are looked up, so
 * that an account in thousands of rooms gets its table at once, the rest shown by room ID.
 * Total: any part of the answer may be missing or of another type without ending the table.
 */
import { mapLimited } from '../map-limited.js';
import { eventsOf, roomsOf, type SyncResponse } from '../matrix/sync.js';
import { isRecord } from '../matrix/shape.js';
import { summarizeEvent, type ShownEvent } from '../output/event-summary.js';
import { shown } from '../output/safe-text.js';
import type { RoomLabels } from './room-labels.js';

/** How many room names are looked up at once for the table. */
const CONCURRENCY = 8;
/** How many rooms the answer leaves unnamed are looked up (two requests each at most). */
export const MAX_LOOKED_UP = 16;
/** How many heroes name a room. */
const MAX_HEROES = 5;

export interface SyncRow {
  room_id: string;
  room: string;
  membership: 'join' | 'invite' | 'leave';
  unread: number | null;
  latest: string;
}

/** One row per room: invites first, then joined rooms, then rooms left. */
export async function roomRows(response: SyncResponse, labels: RoomLabels): Promise<SyncRow[]> {
  const rows: SyncRow[] = [];
  for (const [roomId, room] of roomsOf(response, 'invite')) {
    const stripped = eventsOf<ShownEvent>(room.invite_state);
    for (const event of stripped) labels.learn({ ...event, room_id: roomId });
    const invite = stripped.find((e) => e.type === 'm.room.member' && isRecord(e.content) && e.content.membership === 'invite' && e.state_key !== undefined);
    const by = invite?.sender === undefined ? '' : ` by ${shown(invite.sender)}`;
    rows.push({ room_id: roomId, room: labels.known(roomId) ?? roomId, membership: 'invite', unread: null, latest: `invited${by}` });
  }
  const withTimelines = [
    ...roomsOf(response, 'join').map(([id, room]) => ({ id, room: room as Record<string, unknown>, membership: 'join' as const })),
    ...roomsOf(response, 'leave').map(([id, room]) => ({ id, room: room as Record<string, unknown>, membership: 'leave' as const })),
  ];
  for (const { id, room } of withTimelines) {
    const carried = [...eventsOf<ShownEvent>(room.state), ...eventsOf<ShownEvent>(room.timeline)];
    for (const event of carried) labels.learn({ ...event, room_id: id });
    labels.learnHeroes(id, heroNames(room.summary, carried));
  }
  const unnamed = withTimelines.filter(({ id }) => labels.known(id) === undefined).slice(0, MAX_LOOKED_UP);
  await mapLimited(unnamed, CONCURRENCY, ({ id }) => labels.label(id));
  for (const { id, room, membership } of withTimelines) {
    const last = eventsOf<ShownEvent>(room.timeline).at(-1);
    const counts = isRecord(room.unread_notifications) ? room.unread_notifications : {};
    const unread = membership === 'join' ? (typeof counts.notification_count === 'number' ? counts.notification_count : 0) : null;
    rows.push({ room_id: id, room: labels.known(id) ?? id, membership, unread, latest: last ? latestSummary(last) : '' });
  }
  return rows;
}

/** The summary's heroes, by the display names the answer's member events give them, else by user ID. */
function heroNames(summary: unknown, carried: ShownEvent[]): string[] {
  const heroes = isRecord(summary) && Array.isArray(summary['m.heroes']) ? summary['m.heroes'].filter((h) => typeof h === 'string') : [];
  return heroes.slice(0, MAX_HEROES).map((userId) => {
    const member = carried.findLast((e) => e.type === 'm.room.member' && e.state_key === userId);
    const name = isRecord(member?.content) ? member.content.displayname : undefined;
    return typeof name === 'string' && name ? name : userId;
  });
}

function latestSummary(event: ShownEvent): string {
  const summary = summarizeEvent(event);
  const sender = shown(event.sender);
  return event.type === 'm.room.message' && !summary.startsWith('* ') ? `${sender}: ${summary}` : `${sender} ${summary}`;
}
