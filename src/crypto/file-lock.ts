import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalStateError } from '../errors.js';
import { errorCode, errorMessage, lockWaitNotice, ownFolderExists, readOwnFile, writeOwnFileSync } from '../fs-util.js';

export interface HeldLock {
  /** Throws a LocalStateError if another process may have taken the lock over. */
  assertHeld(): void;
  release(): Promise<void>;
}

/**
 * The crypto store's inter-process lock: proper-lockfile's `lock` folder (mkdir is atomic; the
 * holder refreshes its mtime; one not refreshed for staleMs is taken over, so a kill -9 does
 * not block the store), polled with short randomized sleeps until an exact deadline, as the
 * profile store does.
 *
 * A take-over is only safe if the old holder stops writing. proper-lockfile tells it so
 * (onCompromised) only at its next mtime refresh, so the holder also writes a random token to
 * `lock.owner` and checks it right before each write: a process that was stopped (SIGSTOP, a
 * suspended laptop) past staleMs then finds another's token and writes nothing.
 *
 * A link in the place of `lock` or `lock.owner` is refused (the owner file is written without
 * following one), as everywhere in mx's folders (fs-util.ts).
 */
const loadLockfile = () => import('proper-lockfile');
let lockfileModule: ReturnType<typeof loadLockfile> | undefined;

/**
 * Starts loading proper-lockfile (~11 ms here), so that it overlaps with other start-up work
 * (the engine's WebAssembly compile) instead of delaying the first lock.
 */
export function preloadLockfile(): void {
  lockfileModule ??= loadLockfile();
  lockfileModule.catch(() => {}); // reported by acquireLock
}

/** `onWait` is told once when the wait has lasted a second (a lock left by a killed process). */
export async function acquireLock(folder: string, staleMs: number, timeoutMs: number, onWait?: (message: string) => void): Promise<HeldLock> {
  preloadLockfile();
  const { default: lockfile } = await lockfileModule!;
  const lockPath = path.join(folder, 'lock');
  const ownerFile = path.join(folder, 'lock.owner');
  let compromised: Error | undefined;
  const deadline = Date.now() + timeoutMs;
  const noteWait = lockWaitNotice(`the crypto store ${folder}`, staleMs, onWait);
  for (;;) {
    try {
      const release = await lockfile.lock(path.join(folder, 'MANIFEST'), {
        lockfilePath: lockPath,
        realpath: false,
        stale: staleMs,
        update: Math.max(1000, staleMs / 4),
        retries: 0,
        onCompromised: (err) => {
          compromised = err;
        },
      });
      // node:crypto is loaded here, when a store is locked, not at every command's start-up.
      const token = process.getBuiltinModule('node:crypto').randomBytes(12).toString('hex');
      try {
        writeOwnFileSync(ownerFile, token);
      } catch (err) {
        await release().catch(() => {});
        if (err instanceof LocalStateError) throw err;
        throw new LocalStateError(`Cannot write ${ownerFile}: ${errorMessage(err)}`, { cause: err });
      }
      return {
        assertHeld: () => {
          let owner: string | undefined;
          try {
            owner = readOwnFile(ownerFile)?.toString('utf8');
          } catch {
            owner = undefined;
          }
          if (compromised || owner !== token) {
            throw new LocalStateError(
              `Lost the lock on the crypto store ${folder} (${compromised?.message ?? 'another process took it over'}); ` +
                `this command's crypto changes were not saved. Run it again.`,
              { cause: compromised },
            );
          }
        },
        release: () => release().catch(() => {}), // already released when compromised
      };
    } catch (err) {
      if (err instanceof LocalStateError) throw err;
      // Something is there (ELOCKED), or proper-lockfile could not rmdir it as stale (ENOTDIR).
      if (errorCode(err) === 'ELOCKED' || errorCode(err) === 'ENOTDIR') ownFolderExists(lockPath);
      if (errorCode(err) !== 'ELOCKED') {
        throw new LocalStateError(`Cannot lock the crypto store ${folder}: ${errorMessage(err)}`, { cause: err });
      }
      if (Date.now() >= deadline) {
        throw new LocalStateError(
          `Timed out after ${Math.round(timeoutMs / 1000)}s waiting for the lock on the crypto store ${folder}: ` +
            `another mx process may hold it. If none is running, remove ${lockPath}.`,
        );
      }
      noteWait();
      await sleep(5 + Math.random() * 20);
    }
  }
}
