/** Where a recovery key that mx makes or is given goes: kept on this machine, and a file the user named. */
import type { Context } from '../../context.js';
import { keepRecoveryKey } from '../../crypto/kept-recovery-keys.js';
import type { KeepRecoveryKey } from '../../crypto/recovery.js';
import type { PrivateFile } from '../../output/files.js';

export interface RecoveryKeyKeeper {
  keep: KeepRecoveryKey;
  /** Where the key went once kept: the machine's copy, and the user's file if any. */
  kept(): { kept_at?: string; file?: string };
}

/** Keeps each key on this machine (kept-recovery-keys.ts), then in `file` when given. */
export function recoveryKeyKeeper(ctx: Context, userId: string, file?: PrivateFile): RecoveryKeyKeeper {
  let keptAt: string | undefined;
  let written = false;
  return {
    async keep(key) {
      keptAt = await keepRecoveryKey(ctx.paths.stateDir, userId, key, ctx.io.now());
      if (file && !written) {
        await file.write(`${key.recoveryKey}\n`);
        written = true;
      }
    },
    kept: () => ({ ...(keptAt ? { kept_at: keptAt } : {}), ...(written && file ? { file: file.path } : {}) }),
  };
}
