import { UsageError } from '../../errors.js';
import { parseEventType } from '../../matrix/identifiers.js';
import { getRoomEvents, type ClientEvent } from '../../matrix/rooms.js';
import { formatEventLine } from '../../output/event-summary.js';
import { defineCommand } from '../command.js';
import { resolveRoom } from './resolve.js';

/** The server caps pages (Synapse at 1000); --all pages through with this size. */
const ALL_PAGE_SIZE = 250;

export const roomMessagesCommand = defineCommand({
  command: 'messages <room>',
  aliases: ['history'],
  describe: 'Read room history: one event per line (NDJSON when piped)',
  builder: (y) =>
    y
      .positional('room', { type: 'string', demandOption: true, describe: 'room ID or alias' })
      .option('limit', { type: 'number', describe: 'events per page (default 10; with --all: all of them)' })
      .option('dir', { type: 'string', choices: ['b', 'f'], default: 'b', describe: 'b: newest first, back in time; f: oldest first' })
      .option('from', { type: 'string', describe: 'start at this pagination token (a previous page\'s end, or a sync token)' })
      .option('all', { type: 'boolean', describe: 'follow the pages until the history is exhausted' })
      .option('type', { type: 'string', array: true, describe: 'only events of this type (repeatable; * wildcards)' }),
  async run(ctx, args) {
    if (args.limit !== undefined && (!Number.isInteger(args.limit) || args.limit < 1)) {
      throw new UsageError('--limit must be a whole number above 0');
    }
    const { client } = await ctx.session();
    const roomId = await resolveRoom(client, args.room);
    const filter = args.type?.length ? JSON.stringify({ types: args.type.map((type) => (type.includes('*') ? type : parseEventType(type))) }) : undefined;
    const dir = args.dir as 'b' | 'f';
    const print = (event: ClientEvent) => ctx.out.printItem({ ...event, room_id: event.room_id ?? roomId }, (e, c) => formatEventLine(e, c));

    if (!args.all) {
      const page = await getRoomEvents(client, roomId, { dir, from: args.from, limit: args.limit ?? 10, filter });
      // One page reads best oldest first, like a chat window, whichever way it was fetched.
      (dir === 'b' ? [...page.chunk].reverse() : page.chunk).forEach(print);
      if (page.end && ctx.io.stderrIsTTY) ctx.io.stderr.write(ctx.out.colours.dim(`more: --from ${page.end}\n`));
      return;
    }
    // --all streams page by page in the server's order (memory stays flat);
    // --all --dir f is the whole history oldest first.
    let from = args.from;
    let remaining = args.limit ?? Infinity;
    while (remaining > 0) {
      const page = await getRoomEvents(client, roomId, { dir, from, limit: Math.min(ALL_PAGE_SIZE, remaining), filter });
      page.chunk.slice(0, remaining).forEach(print);
      remaining -= page.chunk.length;
      if (!page.end || page.chunk.length === 0) break;
      from = page.end;
    }
  },
});
