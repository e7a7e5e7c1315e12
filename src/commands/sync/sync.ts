/**
 * `mx sync`: one GET /sync. The first run (or --full) is an initial sync; later runs continue
 * from the profile's saved `sync` position and show only what changed. The position is saved
 * only after the output was completely written, so a run cut short shows the same changes
 * again next time instead of losing them.
 */
import { ExitCode, UsageError } from '../../errors.js';
import { parseRoomRef } from '../../matrix/identifiers.js';
import { filterParam, sync, type SyncFilter } from '../../matrix/sync.js';
import { readPosition, savePosition, SYNC_POSITION_KEY } from '../../stream/positions.js';
import { RoomLabels } from '../../stream/room-labels.js';
import { roomRows } from '../../stream/sync-rows.js';
import { defineCommand } from '../command.js';
import { SyncCrypto } from '../../crypto/sync-crypto.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { ownProfile } from '../../session.js';
import { wholeNumber } from '../../flag-numbers.js';

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
  validate(args) {
    wholeNumber(args.limit, '--limit', { min: 0 });
    wholeNumber(args.timeout, '--timeout', { min: 0, unit: 'milliseconds' });
    for (const room of args.room ?? []) parseRoomRef(room);
    return args;
  },
  async run(ctx, args) {
    const session = await ctx.session();
    const { client } = session;
    const positionProfile = ownProfile(session);
    const userId = async () => (await session.whoAmI()).userId;

    const rooms = args.room?.length ? await Promise.all(args.room.map((room) => resolveRoom(client, room))) : undefined;
    const filter = await syncFilterParam(args.filter, args.limit, rooms, (f) => filterParam(client, f, userId));
    const saved = positionProfile && readPosition(await ctx.storeData(), positionProfile, SYNC_POSITION_KEY);
    const since = args.since ?? (args.full ? undefined : saved || undefined);

    const response = await sync(client, { since, timeout: args.timeout, filter, full_state: args.fullState });
    // Its to-device messages are processed and saved before the position that acknowledges them.
    const crypto = new SyncCrypto(() => ctx.crypto(session));
    await crypto.receiveSync(response);
    await crypto.decryptTimelines(response);

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
    if (!(await ctx.out.flushed())) return ExitCode.ok;
    if (args.save && positionProfile) await savePosition(ctx.store, positionProfile, SYNC_POSITION_KEY, response.next_batch);
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
