import { logout } from '../../matrix/account.js';
import { MatrixError } from '../../matrix/errors.js';
import { LostLogin } from '../../profiles/tokens.js';
import { defineCommand } from '../command.js';
import { assertDeviceForgettable, forgetDevice } from '../device/forget.js';
import { ownProfile } from '../../session.js';

export const logoutCommand = defineCommand({
  command: 'logout',
  describe: "Invalidate the access token and clear it from the profile",
  builder: (y) => y.option('all', { type: 'boolean', default: false, describe: "log out all of the user's devices" }),
  async run(ctx, args) {
    const session = await ctx.session();
    const { client } = session;
    await assertDeviceForgettable(ctx, session);
    try {
      await logout(client, args.all);
    } catch (error) {
      // Already invalid on the server: what is left to do is forget it here.
      if (!(error instanceof MatrixError && error.errcode === 'M_UNKNOWN_TOKEN') && !(error instanceof LostLogin)) throw error;
      ctx.warn('the server no longer knew this token');
    }
    // The device is gone on the server: its token and keys are of no more use.
    await forgetDevice(ctx, session);
    await ctx.out.print(
      { logged_out: true, all_devices: args.all, profile: ownProfile(session) ?? null },
      { text: (r) => `Logged out${r.all_devices ? ' of all devices' : ''}${r.profile ? ` (profile "${r.profile}")` : ''}` },
    );
  },
});
