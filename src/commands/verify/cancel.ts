/** `mx verify cancel [ID]`: cancels a verification request in flight (m.user), ours or the other side's. */
import { cancelPending } from '../../crypto/verification/pending.js';
import { defineCommand } from '../command.js';

export const cancelCommand = defineCommand({
  command: 'cancel [id]',
  describe: 'Cancel a verification in flight (its flow ID from mx verify list; default: the only one)',
  builder: (y) => y.positional('id', { type: 'string', describe: 'the flow ID (mx verify list)' }),
  async run(ctx, args) {
    const session = await ctx.session();
    const crypto = await ctx.crypto(session);
    const cancelled = await cancelPending(crypto, args.id, ctx.io.now());
    await ctx.out.print(cancelled, {
      text: (c) => `Cancelled the verification ${c.flow_id} with ${c.user_id}${c.by_process ? ` (the mx with pid ${c.by_process} ends it)` : ''}`,
    });
  },
});
