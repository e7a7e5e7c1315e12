/** `mx crypto recover`: this device recovered with the account's recovery key or passphrase. */
import { recover } from '../../crypto/recovery.js';
import { readSecret } from '../../secrets.js';
import { defineCommand } from '../command.js';
import { recoveryKeyKeeper } from './keep-recovery-key.js';

export const recoverCommand = defineCommand({
  command: 'recover',
  describe: "Use the recovery key (or passphrase): sign this device with the account's keys and restore the key backup",
  builder: (y) =>
    y
      .option('recovery-key-stdin', { type: 'boolean', describe: 'read the recovery key or passphrase from stdin (else MX_RECOVERY_KEY, else a prompt)' })
      .example('mx crypto recover --recovery-key-stdin < ~/mx-recovery-key.txt', 'recover from a key kept in a file'),
  async run(ctx, args) {
    const session = await ctx.session();
    const input = await readSecret(ctx.io, {
      fromStdin: Boolean(args.recoveryKeyStdin), envVar: 'MX_RECOVERY_KEY', what: 'recovery key or passphrase', stdinFlag: '--recovery-key-stdin',
    });
    const crypto = await ctx.crypto(session);
    const result = await recover(crypto, input, { onProgress: (line) => ctx.out.notice(line), keepRecoveryKey: recoveryKeyKeeper(ctx, crypto.ref.userId).keep });
    await ctx.out.print(result, {
      text: (r) =>
        `Device ${r.device_id} is cross-signed by ${r.user_id}.` +
        (r.backup
          ? ` Key backup version ${r.backup.version}: ${r.backup.imported} of ${r.backup.keys} room keys imported${r.backup.unreadable ? `, ${r.backup.unreadable} unreadable` : ''}; new keys are backed up from now on.`
          : ' The account has no key backup to restore.'),
    });
  },
});
