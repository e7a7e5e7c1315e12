/** What `mx crypto export` and `mx crypto import` share: the key file argument and its passphrase. */
import type { Context } from '../../context.js';
import { readSecret } from '../../secrets.js';

/** The passphrase of a key file: stdin with --passphrase-stdin, MX_PASSPHRASE, or a prompt (twice for a new file). */
export function passphrase(ctx: Context, fromStdin: boolean, confirm: boolean): Promise<string> {
  return readSecret(ctx.io, { fromStdin, envVar: 'MX_PASSPHRASE', what: 'passphrase', stdinFlag: '--passphrase-stdin', confirm });
}

export const FILE_POSITIONAL = { type: 'string', demandOption: true, describe: 'the key file; - for stdin or stdout' } as const;
export const PASSPHRASE_STDIN = { type: 'boolean', describe: 'read the passphrase from stdin (else MX_PASSPHRASE, else a prompt)' } as const;
