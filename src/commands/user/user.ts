/** `mx user search TERM`: finding people. */
import { UsageError } from '../../errors.js';
import { searchUserDirectory } from '../../matrix/account.js';
import { wholeNumber } from '../../flag-numbers.js';
import { defineCommand } from '../command.js';

const searchCommand = defineCommand({
  command: 'search <term>',
  describe: 'Search the user directory (users you share a room with, or public ones, as the server allows)',
  builder: (y) => y.positional('term', { type: 'string', demandOption: true }).option('limit', { type: 'number', describe: 'at most this many (default 20)' }),
  validate(args) {
    if (args.term.trim() === '') throw new UsageError('give a search term');
    wholeNumber(args.limit, '--limit', { min: 1 });
    return { term: args.term, limit: args.limit ?? 20 };
  },
  async run(ctx, { term, limit }) {
    const { client } = await ctx.session();
    const { results, limited } = await searchUserDirectory(client, term, limit);
    const users = results.map((u) => ({ user_id: u.user_id, display_name: u.display_name ?? null, avatar_url: u.avatar_url ?? null }));
    await ctx.out.print(users, { table: { head: ['USER', 'DISPLAY NAME'], rows: (all) => all.map((u) => [u.user_id, u.display_name ?? '']) } });
    if (limited) ctx.out.notice(`more users match: raise --limit (${limit})`, { limited: true });
  },
});

export const userCommand = defineCommand({
  command: 'user',
  describe: 'Users: search the directory',
  subcommands: [searchCommand],
});
