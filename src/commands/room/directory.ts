/** `mx room directory [SEARCH]`: finding public rooms. */
import { UsageError } from '../../errors.js';
import { isServerName, printable } from '../../matrix/identifiers.js';
import { getPublicRooms } from '../../matrix/rooms.js';
import { shown } from '../../output/safe-text.js';
import { defineCommand } from '../command.js';
import { wholeNumber } from '../../flag-numbers.js';

export const roomDirectoryCommand = defineCommand({
  command: 'directory [search]',
  describe: 'List public rooms (of your server, or --server\'s), one per line; --all for every page',
  builder: (y) =>
    y
      .positional('search', { type: 'string', describe: 'only rooms whose name, alias or topic has this' })
      .option('server', { type: 'string', nargs: 1, describe: 'another server\'s directory (example.org)' })
      .option('limit', { type: 'number', describe: 'rooms per page (default 20)' })
      .option('all', { type: 'boolean', describe: 'follow the pages to the end' }),
  validate(args) {
    if (args.server !== undefined && !isServerName(args.server)) throw new UsageError(`invalid --server "${printable(args.server)}": give a server name like example.org`);
    wholeNumber(args.limit, '--limit', { min: 1 });
    return { search: args.search, server: args.server, limit: args.limit ?? 20, all: Boolean(args.all) };
  },
  async run(ctx, { search, server, limit, all }) {
    const { client } = await ctx.session();
    let since: string | undefined;
    do {
      const page = await getPublicRooms(client, { server, search, limit, since });
      for (const room of page.chunk) {
        await ctx.out.item({ ...room }, (r) =>
          [shown(r.canonical_alias ?? r.room_id), r.name ? shown(r.name) : '', `${shown(r.num_joined_members)} members`, r.topic ? shown(r.topic) : ''].filter(Boolean).join('  '),
        );
      }
      const next = page.next_batch && page.next_batch !== since && page.chunk.length > 0 ? page.next_batch : undefined;
      // One page for a person at a terminal, with where the next starts.
      if (!all) {
        if (next && ctx.io.stderrIsTTY) ctx.out.notice('more: --all', { next_batch: next });
        return;
      }
      since = next;
    } while (since !== undefined);
  },
});
