import { getTokenOwner } from '../../matrix/account.js';
import { defineCommand } from '../command.js';
import { ownProfile } from '../../session.js';

export const whoamiCommand = defineCommand({
  command: 'whoami',
  describe: 'Show the user and device the current token belongs to (asks the server)',
  async run(ctx) {
    const session = await ctx.session();
    const { client } = session;
    const owner = await getTokenOwner(client);
    const result = {
      user_id: owner.user_id,
      device_id: owner.device_id,
      is_guest: owner.is_guest ?? false,
      homeserver: client.baseUrl,
      profile: ownProfile(session) ?? null,
    };
    await ctx.out.print(result, {
      text: (r, c) => `${c.bold(r.user_id)}\n${c.dim(`device ${r.device_id ?? '?'} on ${r.homeserver}${r.profile ? `, profile "${r.profile}"` : ''}`)}`,
    });
  },
});
