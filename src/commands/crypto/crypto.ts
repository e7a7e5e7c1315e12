/**
 * `mx crypto ...`: this device's encryption identity, and the account's trust and recovery
 * (cross-signing, secret storage with its recovery key, key backup, key files). The work is in
 * src/crypto/; secrets (recovery key, passphrase, password) come from stdin, the environment or
 * a hidden prompt, never from argv.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.js';
import { UsageError } from '../../errors.js';
import { parseUserId } from '../../matrix/identifiers.js';
import { EXPORT_ROUNDS, exportRoomKeys, importRoomKeys } from '../../crypto/key-files.js';
import { recover, setup } from '../../crypto/recovery.js';
import { acceptIdentity } from '../../crypto/sender-trust.js';
import { cryptoStatus, type CryptoStatus } from '../../crypto/status.js';
import { openPrivateFile } from '../../output/files.js';
import { readSecret } from '../../secrets.js';
import { readStdin } from '../../input.js';
import { defineCommand } from '../command.js';
import { PASSWORD_STDIN_OPTION } from '../options.js';

const yesNo = (value: boolean) => (value ? 'yes' : 'no');


const status = defineCommand({
  command: 'status',
  describe: "This device's keys and whether its owner cross-signed it; the account's cross-signing, secret storage and key backup",
  async run(ctx) {
    const session = await ctx.session();
    const result = await cryptoStatus(await ctx.crypto(session));
    await ctx.out.print(result, { text: statusText });
  },
});

function statusText(s: CryptoStatus): string {
  const held = (['master', 'self_signing', 'user_signing'] as const).filter((k) => s.cross_signing[k]);
  return [
    `user: ${s.user_id}`,
    `device: ${s.device_id}`,
    `  ed25519: ${s.ed25519}`,
    `  curve25519: ${s.curve25519}`,
    `  cross-signed by its owner: ${yesNo(s.cross_signed)}`,
    `cross-signing on the account: ${yesNo(s.cross_signing.on_account)}${s.cross_signing.on_account ? ` (private keys here: ${held.length ? held.join(', ') : 'none'})` : ''}`,
    `secret storage: ${s.secret_storage.on_account ? `yes (key ${s.secret_storage.default_key})` : 'no'}`,
    `key backup: ${s.backup.version ? `version ${s.backup.version}` : 'none'}${s.backup.backing_up_to ? `, this device backs up to version ${s.backup.backing_up_to}` : ''}`,
    `room keys here: ${s.room_keys.stored} (${s.room_keys.backed_up} backed up)`,
  ].join('\n');
}

const setupCommand = defineCommand({
  command: 'setup',
  describe: 'Set up cross-signing, secret storage with a new recovery key, and a key backup; prints the recovery key once',
  builder: (y) =>
    y
      .option('recovery-key-file', { type: 'string', describe: 'write the recovery key to this new file (mode 0600) instead of stdout' })
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
    let kept = false;
    try {
      if (opts.reset) ctx.warn('--reset: replacing this account\'s cross-signing keys, secret storage and key backup; the old recovery key stops working');
      const password = () => readSecret(ctx.io, { fromStdin: opts.passwordStdin, envVar: 'MX_PASSWORD', what: 'password', stdinFlag: '--password-stdin' });
      const keepRecoveryKey = file && (async (key: string) => {
        await file.write(`${key}\n`);
        kept = true;
      });
      const result = await setup(await ctx.crypto(session), { reset: opts.reset, password, keepRecoveryKey });
      const { recovery_key: _shownOnlyWithoutAFile, ...rest } = result;
      if (file) {
        await ctx.out.print({ ...rest, recovery_key_file: file.path }, {
          text: (r) => `Set up cross-signing, secret storage and key backup (version ${r.backup_version}); the recovery key is in ${r.recovery_key_file}: keep it safe`,
        });
      } else {
        await ctx.out.print(result, {
          text: (r) => `Recovery key (shown once; keep it safe, it is the only way to your history on a new device):\n\n    ${r.recovery_key}\n\nKey backup: version ${r.backup_version}`,
        });
      }
    } catch (error) {
      // Once the key is in the file, the account may already use it (an answer lost on the way
      // back): the file stays.
      if (kept) ctx.warn(`the set-up did not finish; ${file!.path} holds the recovery key it made: keep it until a set-up finishes`);
      else await file?.abandon();
      throw error;
    }
  },
});

const recoverCommand = defineCommand({
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
    const result = await recover(await ctx.crypto(session), input, (line) => ctx.out.notice(line));
    await ctx.out.print(result, {
      text: (r) =>
        `Device ${r.device_id} is cross-signed by ${r.user_id}.` +
        (r.backup
          ? ` Key backup version ${r.backup.version}: ${r.backup.imported} of ${r.backup.keys} room keys imported${r.backup.unreadable ? `, ${r.backup.unreadable} unreadable` : ''}; new keys are backed up from now on.`
          : ' The account has no key backup to restore.'),
    });
  },
});

/** The passphrase of a key file: stdin with --passphrase-stdin, MX_PASSPHRASE, or a prompt (twice for a new file). */
function passphrase(ctx: Context, fromStdin: boolean, confirm: boolean): Promise<string> {
  return readSecret(ctx.io, { fromStdin, envVar: 'MX_PASSPHRASE', what: 'passphrase', stdinFlag: '--passphrase-stdin', confirm });
}

const FILE_POSITIONAL = { type: 'string', demandOption: true, describe: 'the key file; - for stdin or stdout' } as const;
const PASSPHRASE_STDIN = { type: 'boolean', describe: 'read the passphrase from stdin (else MX_PASSPHRASE, else a prompt)' } as const;

const exportCommand = defineCommand({
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

const importCommand = defineCommand({
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

const trust = defineCommand({
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

export const cryptoCommand = defineCommand({
  command: 'crypto',
  describe: 'Encryption: this device, cross-signing, recovery key, key backup, key files',
  subcommands: [status, setupCommand, recoverCommand, exportCommand, importCommand, trust],
});
