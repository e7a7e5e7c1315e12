/** `mx crypto trust USER`: a user's changed identity accepted. */
import { parseUserId } from '../../matrix/identifiers.js';
import { acceptIdentity } from '../../crypto/sender-trust.js';
import { defineCommand } from '../command.js';

export const trustCommand = defineCommand({
  command: 'trust <user>',
  describe: "Accept a user's changed identity (new cross-signing keys), after checking with them",
  builder: (y) => y.positional('user', { type: 'string', demandOption: true, describe: 'full user ID (@bob:example.org)' }),
  validate(args) {
    parseUserId(args.user);
    return { user: args.user };
  },
  async run(ctx, { user }) {
    const session = await ctx.session();
    const before = await acceptIdentity(await ctx.crypto(session), user);
    await ctx.out.print({ user_id: user, was: before, accepted: before === 'changed' }, {
      text: (r) => (r.accepted ? `Accepted ${r.user_id}'s new identity` : r.was === 'none' ? `${r.user_id} has no cross-signing identity` : `${r.user_id}'s identity has not changed (${r.was}): nothing to accept`),
    });
  },
});
