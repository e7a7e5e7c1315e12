/** `mx crypto import FILE`: the room keys of a passphrase-encrypted key file. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.js';
import { UsageError } from '../../errors.js';
import { importRoomKeys } from '../../crypto/key-files.js';
import { readStdin } from '../../input.js';
import { defineCommand } from '../command.js';
import { FILE_POSITIONAL, PASSPHRASE_STDIN, passphrase } from './key-file-options.js';

export const importCommand = defineCommand({
  command: 'import <file>',
  describe: 'Import the room keys of a passphrase-encrypted key file (- for stdin)',
  builder: (y) => y.positional('file', FILE_POSITIONAL).nargs('file', 1).option('passphrase-stdin', PASSPHRASE_STDIN),
  validate(args) {
    const { file } = args;
    if (file === '') throw new UsageError('import needs a file name (- for stdin)');
    if (file === '-' && args.passphraseStdin) throw new UsageError('the key file and the passphrase cannot both come from stdin');
    return { file, passphraseStdin: Boolean(args.passphraseStdin) };
  },
  async run(ctx, opts) {
    const text = opts.file === '-' ? await readStdin(ctx.io) : await readKeyFile(ctx, opts.file);
    const session = await ctx.session();
    const secret = await passphrase(ctx, opts.passphraseStdin, false);
    const result = await importRoomKeys(await ctx.crypto(session), text, secret);
    await ctx.out.print(result, { text: (r) => `Imported ${r.imported} of ${r.keys} room keys (the others were known already)` });
  },
});

async function readKeyFile(ctx: Context, file: string): Promise<string> {
  try {
    return await fsp.readFile(path.resolve(ctx.io.cwd, file), 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
