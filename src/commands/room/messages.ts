import { parseEventType, parseRoomRef } from '../../matrix/identifiers.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { getRoomEvents, type ClientEvent } from '../../matrix/rooms.js';
import { formatEventLine } from '../../output/event-summary.js';
import { SyncCrypto } from '../../crypto/sync-crypto.js';
import { matchesTypes, serverTypes } from '../../stream/filter.js';
import { defineCommand } from '../command.js';
import { ROOM_POSITIONAL } from '../options.js';
import { wholeNumber } from '../../flag-numbers.js';

/** The server caps pages (Synapse at 1000); --all pages through with this size. */
const ALL_PAGE_SIZE = 250;

export const roomMessagesCommand = defineCommand({
  command: 'messages <room>',
  aliases: ['history'],
  describe: 'Read room history: one event per line (NDJSON when piped)',
  builder: (y) =>
    y
      .positional('room', ROOM_POSITIONAL)
      .option('limit', { type: 'number', describe: 'events per page (default 10; with --all: all of them)' })
      .option('dir', { type: 'string', choices: ['b', 'f'], default: 'b', describe: 'b: newest first, back in time; f: oldest first' })
      .option('from', { type: 'string', describe: 'start at this pagination token (a previous page\'s end, or a sync token)' })
      .option('all', { type: 'boolean', describe: 'follow the pages until the history is exhausted' })
      .option('type', { type: 'string', array: true, describe: 'only events of this type (repeatable; * wildcards)' }),
  validate(args) {
    wholeNumber(args.limit, '--limit', { min: 1 });
    parseRoomRef(args.room);
    const types = args.type?.map((type) => (type.includes('*') ? type : parseEventType(type)));
    return {
      room: args.room,
      limit: args.limit,
      dir: args.dir as 'b' | 'f',
      from: args.from,
      all: Boolean(args.all),
      types: types?.length ? types : undefined,
    };
  },
  async run(ctx, { room, limit, dir, from, all, types }) {
    // Encrypted events come whatever their clear type; that is checked once they are decrypted.
    const filter = types ? JSON.stringify({ types: serverTypes(types) }) : undefined;
    const wanted = (event: ClientEvent) => !types || matchesTypes(types, event);
    const session = await ctx.session();
    const { client } = session;
    const roomId = await resolveRoom(client, room);
    const crypto = new SyncCrypto(() => ctx.crypto(session), { catchUp: true });
    // A page's lines are written at once and their writes awaited together: one event-loop turn
    // a page, not one a line, when stdout is a pipe (no position depends on a line here).
    const printAll = (events: ClientEvent[]) =>
      Promise.all(events.map((event) => ctx.out.item({ ...event, room_id: event.room_id ?? roomId }, (e, c) => formatEventLine(e, c))));

    if (!all) {
      const page = await getRoomEvents(client, roomId, { dir, from, limit: limit ?? 10, filter });
      const events = (await crypto.decrypt(roomId, page.chunk)).filter(wanted);
      // One page reads best oldest first, like a chat window, whichever way it was fetched.
      await printAll(dir === 'b' ? [...events].reverse() : events);
      // Where the next page starts, for a person at a terminal.
      if (page.end && ctx.io.stderrIsTTY) ctx.out.notice(`more: --from ${page.end}`, { next_from: page.end });
      return;
    }
    // --all streams page by page in the server's order (memory stays flat: one page ahead);
    // --all --dir f is the whole history oldest first.
    let remaining = limit ?? Infinity;
    const fetchPage = (pageFrom: string | undefined) => {
      const request = getRoomEvents(client, roomId, { dir, from: pageFrom, limit: Math.min(ALL_PAGE_SIZE, remaining), filter });
      // Awaited later: a failure meanwhile must not count as unhandled.
      request.catch(() => {});
      return request;
    };
    let next = fetchPage(from);
    for (;;) {
      const page = await next;
      const events = page.chunk.slice(0, remaining);
      remaining -= page.chunk.length;
      const more = remaining > 0 && Boolean(page.end) && page.chunk.length > 0;
      // The next page is on its way while this one is decrypted and printed.
      if (more) next = fetchPage(page.end);
      await printAll((await crypto.decrypt(roomId, events)).filter(wanted));
      if (!more) break;
    }
  },
});
