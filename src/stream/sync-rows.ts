/** `mx sync` for people: one row per room of a sync response. */
import { mapLimited } from '../map-limited.js';
import type { ClientEvent } from '../matrix/rooms.js';
import type { SyncResponse } from '../matrix/sync.js';
import { summarizeEvent } from '../output/event-summary.js';
import type { RoomLabels } from './room-labels.js';

/** How many room names are looked up at once for the table. */
const CONCURRENCY = 8;

export interface SyncRow {
  room_id: string;
  room: string;
  membership: 'join' | 'invite' | 'leave';
  unread: number | null;
  latest: string;
}

/** One row per room: invites first, then joined rooms, then rooms left. */
export async function roomRows(response: SyncResponse, labels: RoomLabels): Promise<SyncRow[]> {
  const rooms = response.rooms ?? {};
  const rows: SyncRow[] = [];
  for (const [roomId, room] of Object.entries(rooms.invite ?? {})) {
    const stripped = room.invite_state?.events ?? [];
    for (const event of stripped) labels.learn({ ...event, room_id: roomId });
    const invite = stripped.find((e) => e.type === 'm.room.member' && e.content?.membership === 'invite' && e.state_key !== undefined);
    const by = typeof invite?.sender === 'string' ? ` by ${invite.sender}` : '';
    rows.push({ room_id: roomId, room: labels.known(roomId) ?? roomId, membership: 'invite', unread: null, latest: `invited${by}` });
  }
  const withTimelines = [
    ...Object.entries(rooms.join ?? {}).map(([id, room]) => ({ id, room, membership: 'join' as const, unread: room.unread_notifications?.notification_count ?? 0 })),
    ...Object.entries(rooms.leave ?? {}).map(([id, room]) => ({ id, room, membership: 'leave' as const, unread: null })),
  ];
  for (const { id, room } of withTimelines) {
    for (const event of [...(room.state?.events ?? []), ...(room.timeline?.events ?? [])]) labels.learn({ ...event, room_id: id });
  }
  const named = await mapLimited(withTimelines, CONCURRENCY, async ({ id }) => labels.known(id) ?? (await labels.label(id)));
  withTimelines.forEach(({ id, room, membership, unread }, i) => {
    const last = room.timeline?.events?.at(-1);
    rows.push({ room_id: id, room: named[i]!, membership, unread, latest: last ? latestSummary(last) : '' });
  });
  return rows;
}

function latestSummary(event: ClientEvent): string {
  const summary = summarizeEvent(event);
  return event.type === 'm.room.message' && !summary.startsWith('* ') ? `${event.sender}: ${summary}` : `${event.sender} ${summary}`;
}
