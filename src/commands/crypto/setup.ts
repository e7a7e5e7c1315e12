/** `mx crypto setup`: cross-signing, secret storage with a new recovery key, and a key backup. */
import { UsageError } from '../../errors.js';
import { setup } from '../../crypto/recovery.js';
import { openPrivateFile } from '../../output/files.js';
import { readSecret } from '../../secrets.js';
import { defineCommand } from '../command.js';
import { recoveryKeyKeeper } from './keep-recovery-key.js';
import { PASSWORD_STDIN_OPTION } from '../options.js';

export const setupCommand = defineCommand({
  command: 'setup',
  describe: 'Set up cross-signing, secret storage with a new recovery key, and a key backup; prints the recovery key once',
  builder: (y) =>
    y
      .option('recovery-key-file', { type: 'string', describe: 'write the recovery key to this new file (mode 0600) instead of stdout; it is also kept on this machine (mx crypto recovery-key)' })
      .option('reset', { type: 'boolean', default: false, describe: 'replace the cross-signing keys, secret storage and backup the account has (the old recovery key stops working)' })
      .option('password-stdin', PASSWORD_STDIN_OPTION)
      .example('mx crypto setup --recovery-key-file ~/mx-recovery-key.txt', 'keep the key in a file of its own'),
  validate(args) {
    if (args.recoveryKeyFile === '') throw new UsageError('--recovery-key-file needs a file name');
    return { recoveryKeyFile: args.recoveryKeyFile, reset: args.reset, passwordStdin: Boolean(args.passwordStdin) };
  },
  async run(ctx, opts) {
    const session = await ctx.session();
    // Taken first: the key is shown only once, so its file must be writable before anything changes.
    const file = opts.recoveryKeyFile === undefined ? undefined : await openPrivateFile(ctx.io.cwd, opts.recoveryKeyFile, { keepExisting: { replaceFlag: 'removing it first' } });
    const keeper = recoveryKeyKeeper(ctx, (await session.whoAmI()).userId, file);
    try {
      if (opts.reset) ctx.warn('--reset: replacing this account\'s cross-signing keys, secret storage and key backup; the old recovery key stops working');
      const password = () => readSecret(ctx.io, { fromStdin: opts.passwordStdin, envVar: 'MX_PASSWORD', what: 'password', stdinFlag: '--password-stdin' });
      const result = await setup(await ctx.crypto(session), { reset: opts.reset, password, keepRecoveryKey: keeper.keep });
      const { recovery_key: _shownOnlyWithoutAFile, ...rest } = result;
      const keptAt = keeper.kept().kept_at;
      if (file) {
        await ctx.out.print({ ...rest, recovery_key_file: file.path, recovery_key_kept_at: keptAt }, {
          text: (r) => `Set up cross-signing, secret storage and key backup (version ${r.backup_version}); the recovery key is in ${r.recovery_key_file}: keep it safe`,
        });
      } else {
        await ctx.out.print({ ...result, recovery_key_kept_at: keptAt }, {
          text: (r) => `Recovery key (keep it safe, it is the only way to your history on a new device; mx crypto recovery-key shows it again on this machine):\n\n    ${r.recovery_key}\n\nKey backup: version ${r.backup_version}`,
        });
      }
    } catch (error) {
      // Once the key is in the file, the account may already use it (an answer lost on the way
      // back): the file stays.
      if (keeper.kept().file) ctx.warn(`the set-up did not finish; ${file!.path} holds the recovery key it made: keep it until a set-up finishes`);
      else await file?.abandon();
      throw error;
    }
  },
});
