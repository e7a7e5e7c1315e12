/** `mx verify list`: verification requests in flight for this device (waiting, or gone through by a running mx). */
import { pendingRequests } from '../../crypto/verification/pending.js';
import { defineCommand } from '../command.js';

export const listCommand = defineCommand({
  command: 'list',
  describe: 'Verification requests in flight: waiting for an answer, or being gone through by a running mx',
  async run(ctx) {
    const session = await ctx.session();
    const crypto = await ctx.crypto(session);
    const requests = await pendingRequests(crypto, ctx.io.now());
    await ctx.out.print(requests, {
      table: {
        head: ['flow', 'user', 'device', 'room', 'state', 'pid'],
        rows: (rs) => rs.map((r) => [r.flow_id, r.user_id, r.device_id ?? '', r.room_id ?? '', r.state, r.pid === undefined ? '' : String(r.pid)]),
      },
    });
  },
});
