/**
 * `mx sync`: one GET /sync. The first run (or --full) is an initial sync; later runs continue
 * from the profile's saved `sync` position and show only what changed. The position is saved
 * only after the output was completely written, so a run cut short shows the same changes
 * again next time instead of losing them.
 */
import type { Context } from '../../context.js';
import { ExitCode, UsageError } from '../../errors.js';
import { getTokenOwner } from '../../matrix/account.js';
import type { ClientEvent } from '../../matrix/rooms.js';
import { filterParam, sync, type SyncFilter, type SyncResponse } from '../../matrix/sync.js';
import { summarizeEvent } from '../../output/event-summary.js';
import { readPosition, savePosition, SYNC_POSITION_KEY } from '../../stream/positions.js';
import { RoomLabels } from '../../stream/room-labels.js';
import { defineCommand } from '../command.js';
import { resolveRoom } from '../room/resolve.js';
import { mapLimited } from '../../map-limited.js';

/** How many room names are looked up at once for the table. */
const CONCURRENCY = 8;

export interface SyncRow {
  room_id: string;
  room: string;
  membership: 'join' | 'invite' | 'leave';
  unread: number | null;
  latest: string;
}

export const syncCommand = defineCommand({
  command: 'sync',
  describe: 'One /sync: all state on the first run (or --full), then only what changed since the last run',
  builder: (y) =>
    y
      .option('since', { type: 'string', describe: 'continue from this sync token instead of the saved position' })
      .option('full', { type: 'boolean', describe: 'an initial sync, ignoring the saved position' })
      .option('full-state', { type: 'boolean', describe: 'include the full state of every room, also when incremental' })
      .option('limit', { type: 'number', describe: 'timeline events per room' })
      .option('room', { type: 'string', array: true, describe: 'only this room, by ID or alias (repeatable)' })
      .option('timeout', { type: 'number', default: 0, describe: 'wait up to this many ms for something new' })
      .option('filter', { type: 'string', describe: 'a filter ID, or a filter as JSON' })
      .option('save', { type: 'boolean', default: true, describe: 'save next_batch as the position (--no-save leaves it)' })
      .conflicts('since', 'full')
      .example('mx sync | jq \'.rooms.join | keys\'', 'the rooms that changed since the last mx sync'),
  async run(ctx, args) {
    if (args.limit !== undefined && (!Number.isInteger(args.limit) || args.limit < 0)) throw new UsageError('--limit must be a whole number');
    if (!Number.isInteger(args.timeout) || args.timeout < 0) throw new UsageError('--timeout must be a whole number of milliseconds');
    const session = await ctx.session();
    const { client } = session;
    const ownsPositions = session.profile !== undefined && client.accessToken === session.profile.accessToken;
    const userId = async () => session.profile?.userId ?? (await getTokenOwner(client)).user_id;

    const rooms = args.room?.length ? await Promise.all(args.room.map((room) => resolveRoom(client, room))) : undefined;
    const filter = await syncFilterParam(args.filter, args.limit, rooms, (f) => filterParam(client, f, userId));
    const since = args.since ?? (args.full || !ownsPositions ? undefined : await readPosition(ctx, session.profileName, SYNC_POSITION_KEY));

    const response = await sync(client, { since, timeout: args.timeout, filter, full_state: args.fullState });

    if (ctx.out.format('table') === 'json') {
      await ctx.out.print(response, {});
    } else {
      const rows = await roomRows(response, new RoomLabels(client));
      await ctx.out.print(rows, {
        table: {
          head: ['ROOM', 'MEMBERSHIP', 'UNREAD', 'LATEST'],
          rows: (all) => all.map((r) => [r.room, r.membership, r.unread === null ? '' : String(r.unread), r.latest]),
        },
        text: (all, c) =>
          all.length === 0
            ? c.dim(since ? 'nothing new' : 'no rooms')
            : all.map((r) => `${c.bold(r.room)}  ${c.dim(`${r.membership}${r.unread ? `, ${r.unread} unread` : ''}`)}  ${r.latest}`).join('\n'),
      });
    }
    // The position moves only once the output is out: a closed pipe leaves it where it was.
    if (!(await flushed(ctx))) return ExitCode.ok;
    if (args.save && ownsPositions) await savePosition(ctx, session.profileName, SYNC_POSITION_KEY, response.next_batch);
  },
});

/** --filter (ID or JSON) with --limit and --room folded in, as the `filter` query value. */
async function syncFilterParam(
  raw: string | undefined,
  limit: number | undefined,
  rooms: string[] | undefined,
  upload: (filter: SyncFilter) => Promise<string>,
): Promise<string | undefined> {
  const extra = limit !== undefined || rooms !== undefined;
  if (raw !== undefined && !raw.trim().startsWith('{')) {
    if (extra) throw new UsageError('--limit and --room cannot be combined with a filter ID; give the filter as JSON instead');
    return raw;
  }
  if (raw === undefined && !extra) return undefined;
  let filter: SyncFilter = {};
  if (raw !== undefined) {
    try {
      filter = JSON.parse(raw) as SyncFilter;
    } catch (error) {
      throw new UsageError(`--filter is not valid JSON: ${(error as Error).message}`);
    }
    if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) throw new UsageError('--filter must be a JSON object or a filter ID');
  }
  if (extra) {
    filter = {
      ...filter,
      room: {
        ...filter.room,
        ...(rooms ? { rooms } : {}),
        ...(limit !== undefined ? { timeline: { ...filter.room?.timeline, limit } } : {}),
      },
    };
  }
  return upload(filter);
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

/** Resolves true once everything written to stdout so far has been handed to the OS. */
function flushed(ctx: Context): Promise<boolean> {
  return new Promise((resolve) => ctx.io.stdout.write('', (error) => resolve(!error)));
}
