/**
 * A new device trusted from its first command, as Element does it: Element users' clients share
 * room keys only with devices their owner cross-signed, and refuse the messages of the others.
 * Used by register (a new account is set up) and login (a new device of an account asks to be
 * trusted, and is recovered in the same step when the recovery key is at hand).
 */
import type { Context } from '../../context.js';
import { keptRecoveryKey } from '../../crypto/kept-recovery-keys.js';
import { defaultStorageKeyId, recover, setup, type RecoverResult } from '../../crypto/recovery.js';
import { ownTrust, trustConsequence } from '../../crypto/status.js';
import { ExitCode, MxError } from '../../errors.js';
import { errorMessage } from '../../fs-util.js';
import type { PrivateFile } from '../../output/files.js';
import { readUserSecretFile } from '../../secrets.js';
import { recoveryKeyKeeper } from '../crypto/keep-recovery-key.js';

/** What register and login say of the device's trust in their answer (the `encryption` field). */
export interface DeviceTrustReport {
  cross_signed: boolean;
  /** register: cross-signing, secret storage and key backup made for the new account. */
  set_up?: { backup_version: string; recovery_key: { kept_at?: string; file?: string } };
  /** login: recovered with the recovery key (from where), and what the backup gave. */
  recovered?: { with: string; backup: RecoverResult['backup'] };
  /** Not cross-signed: why it matters and the command that fixes it. */
  advice?: string;
}

export const RECOVERY_KEY_FILE_TO_WRITE = {
  type: 'string',
  describe: 'write the new recovery key to this new file (mode 0600) too; it is kept on this machine in any case (mx crypto recovery-key shows it)',
} as const;

/**
 * register: cross-signing, secret storage with a new recovery key, and a key backup for the new
 * account, before the device's first message. A failure (a guest account, a server that refuses)
 * does not undo the registration: it is said, with what to run later.
 */
export async function trustNewAccount(ctx: Context, profileName: string, options: { password?: string; recoveryKeyFile?: PrivateFile }): Promise<DeviceTrustReport> {
  const session = await ctx.session();
  const keeper = recoveryKeyKeeper(ctx, (await session.whoAmI()).userId, options.recoveryKeyFile);
  try {
    const crypto = await ctx.crypto(session);
    const password = options.password;
    const result = await setup(crypto, {
      reset: false,
      password: async () => {
        if (password === undefined) throw new MxError('the server asks for a password to set up cross-signing, and this account has none', ExitCode.forbidden);
        return password;
      },
      keepRecoveryKey: keeper.keep,
    });
    const where = keeper.kept();
    ctx.out.notice(
      `Set up cross-signing, secret storage and key backup: this device is verified. The recovery key is kept on this machine` +
        `${where.file ? ` and in ${where.file}` : ''} (mx crypto recovery-key -p ${profileName} shows it): keep a copy somewhere safe, it is the way to this account's history on a new device`,
    );
    return { cross_signed: true, set_up: { backup_version: result.backup_version, recovery_key: where } };
  } catch (error) {
    if (!(error instanceof MxError) || error.exitCode === ExitCode.localState) throw error;
    await options.recoveryKeyFile?.abandon();
    return accountSetUpLater(ctx, profileName, error.message);
  }
}

/** register could not set up the account's trust (`why`): said, with the command for later. */
export function accountSetUpLater(ctx: Context, profileName: string, why: string): DeviceTrustReport {
  const advice =
    `could not set up cross-signing and key backup for the new account (${why}): Element users' clients will not share room keys ` +
    `with this device nor read its messages. Run mx crypto setup -p ${profileName} when the server allows it`;
  ctx.warn(advice);
  return { cross_signed: false, advice };
}

/** Where login finds a recovery key: --recovery-key-file, MX_RECOVERY_KEY, or one kept on this machine for the account's secret storage. */
async function recoveryKeyForLogin(ctx: Context, userId: string, file: string | undefined): Promise<{ key: string; from: string; kept?: true } | undefined> {
  if (file !== undefined) return { key: await readUserSecretFile(ctx.io, file, 'recovery key'), from: '--recovery-key-file' };
  const fromEnv = ctx.io.env.MX_RECOVERY_KEY;
  if (fromEnv) return { key: fromEnv, from: 'MX_RECOVERY_KEY' };
  const session = await ctx.session();
  const keyId = await defaultStorageKeyId(session.client, userId);
  const kept = keyId && keptRecoveryKey(ctx.paths.stateDir, userId, keyId);
  return kept ? { key: kept, from: 'the recovery key kept on this machine', kept: true } : undefined;
}

/**
 * login: a device of an account with cross-signing is recovered in the same step when a
 * recovery key is at hand; without one, the user is told once what that means and what fixes it.
 */
export async function trustNewDevice(ctx: Context, profileName: string, options: { recoveryKeyFile?: string }): Promise<DeviceTrustReport> {
  const session = await ctx.session();
  const { userId } = await session.whoAmI();
  const crypto = await ctx.crypto(session);
  const trust = await ownTrust(crypto);
  if (trust.deviceCrossSigned) return { cross_signed: true };
  const given = trust.accountHasCrossSigning ? await recoveryKeyForLogin(ctx, userId, options.recoveryKeyFile) : undefined;
  if (!given) {
    if (options.recoveryKeyFile !== undefined) ctx.warn('--recovery-key-file: this account has no cross-signing to recover with it');
    const advice = trustConsequence(trust, profileName);
    ctx.out.notice(advice, { event: 'device_not_verified', account_has_cross_signing: trust.accountHasCrossSigning });
    return { cross_signed: false, advice };
  }
  try {
    const result = await recover(crypto, given.key, {
      onProgress: (line) => ctx.out.notice(line),
      keepRecoveryKey: recoveryKeyKeeper(ctx, userId).keep,
    });
    return { cross_signed: true, recovered: { with: given.from, backup: result.backup } };
  } catch (error) {
    if (!(error instanceof MxError)) throw error;
    // A key mx found by itself that no longer does (another client replaced the backup, say)
    // is not the user's error: the login stands, unverified, as without a key.
    if (given.kept) {
      const advice = `${trustConsequence(trust, profileName)}; the recovery key kept on this machine did not do it: ${errorMessage(error)}`;
      ctx.warn(advice);
      return { cross_signed: false, advice };
    }
    // The login itself stands (the profile is saved): the device is just not verified yet.
    throw new MxError(
      `logged in (profile "${profileName}"), but this device could not be recovered with ${given.from}: ${errorMessage(error)}. ` +
        `It is not verified; try again with mx crypto recover -p ${profileName}`,
      error.exitCode,
      error.details,
    );
  }
}
