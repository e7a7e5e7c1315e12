/** `mx crypto recovery-key`: the account's recovery key, as mx kept it on this machine. */
import { keptRecoveryKey, keptRecoveryKeys, keptRecoveryKeysFile } from '../../crypto/kept-recovery-keys.js';
import { defaultStorageKeyId } from '../../crypto/recovery.js';
import { ExitCode, MxError } from '../../errors.js';
import { defineCommand } from '../command.js';

export const recoveryKeyCommand = defineCommand({
  command: 'recovery-key',
  describe: "Show the account's recovery key, kept on this machine by the mx register, crypto setup or crypto recover that made or used it",
  builder: (y) => y.example('mx crypto recovery-key > ~/mx-recovery-key.txt', 'keep a copy in a file of your own'),
  async run(ctx) {
    const session = await ctx.session();
    const { userId } = await session.whoAmI();
    const keyId = await defaultStorageKeyId(session.client, userId);
    if (!keyId) {
      throw new MxError(`${userId} has no secret storage, so no recovery key: mx crypto setup makes one`, ExitCode.notFound);
    }
    const recoveryKey = keptRecoveryKey(ctx.paths.stateDir, userId, keyId);
    if (!recoveryKey) {
      const older = keptRecoveryKeys(ctx.paths.stateDir, userId).length;
      throw new MxError(
        `mx keeps no copy of the recovery key of ${userId}'s secret storage (key ${keyId}) on this machine` +
          (older ? ` (${keptRecoveryKeysFile(ctx.paths.stateDir, userId)} has only keys the account no longer uses)` : '') +
          ': it was made by another client or on another machine. mx crypto setup --reset makes a new one',
        ExitCode.notFound,
      );
    }
    await ctx.out.print({ user_id: userId, key_id: keyId, recovery_key: recoveryKey }, { text: (r) => r.recovery_key });
  },
});
