/** `mx crypto export FILE`: every room key of this device in a passphrase-encrypted key file. */
import { UsageError } from '../../errors.js';
import { EXPORT_ROUNDS, exportRoomKeys } from '../../crypto/key-files.js';
import { openPrivateFile } from '../../output/files.js';
import { defineCommand } from '../command.js';
import { FILE_POSITIONAL, PASSPHRASE_STDIN, passphrase } from './key-file-options.js';

export const exportCommand = defineCommand({
  command: 'export <file>',
  describe: 'Export every room key this device holds to a passphrase-encrypted key file (mode 0600; - for stdout)',
  builder: (y) =>
    y
      .positional('file', FILE_POSITIONAL)
      // Without this, yargs re-parses a positional "-" as a flag and hands over "".
      .nargs('file', 1)
      .option('passphrase-stdin', PASSPHRASE_STDIN)
      .option('force', { type: 'boolean', default: false, describe: 'replace FILE if it exists' }),
  validate(args) {
    const { file } = args;
    if (file === '') throw new UsageError('export needs a file name (- for stdout)');
    if (file === '-' && args.force) throw new UsageError('--force is for a file, not stdout');
    return { file, passphraseStdin: Boolean(args.passphraseStdin), force: args.force };
  },
  async run(ctx, opts) {
    const session = await ctx.session();
    const out = opts.file === '-' ? undefined : await openPrivateFile(ctx.io.cwd, opts.file, opts.force ? {} : { keepExisting: { replaceFlag: '--force' } });
    try {
      const secret = await passphrase(ctx, opts.passphraseStdin, true);
      const { file, keys } = await exportRoomKeys(await ctx.crypto(session), secret, EXPORT_ROUNDS);
      if (!out) {
        ctx.io.stdout.write(file);
        return;
      }
      await out.write(file);
      await ctx.out.print({ file: out.path, keys }, { text: (r) => `Exported ${r.keys} room keys to ${r.file}` });
    } catch (error) {
      await out?.abandon();
      throw error;
    }
  },
});
