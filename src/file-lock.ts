/**
 * mx's one inter-process lock, for the profile store and each crypto store: proper-lockfile's
 * lock folder (mkdir is atomic; the holder refreshes its mtime; one not refreshed for staleMs is
 * taken over, so a kill -9 does not block the store), polled with short randomized sleeps until
 * an exact deadline.
 *
 * A take-over is only safe if the old holder stops writing. proper-lockfile tells it so
 * (onCompromised) only at its next mtime refresh, so the holder also writes a random token to
 * `<lock>.owner` (removed at release) and checks it right before each write: a process that was stopped (SIGSTOP, a
 * suspended laptop) past staleMs, or one held up longer than that by the network while it holds
 * the lock (a token refresh), then finds another's token and writes nothing.
 *
 * A link in the place of the lock folder or its owner file is refused (the owner file is written
 * without following one), as everywhere in mx's folders (fs-util.ts).
 */
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalStateError } from './errors.js';
import { errorCode, errorMessage, lockWaitNotice, ownFolderExists, readOwnFile, writeOwnFileSync } from './fs-util.js';
import { nodeCrypto } from './builtins.js';

export interface HeldLock {
  /** Throws a LocalStateError if another process may have taken the lock over. */
  assertHeld(): void;
  release(): Promise<void>;
}

export interface LockTarget {
  /** What is locked, for messages: `the profile store FILE`. */
  what: string;
  /** The file the lock is for (it need not exist), and the lock folder taken for it. */
  file: string;
  lockPath: string;
  /** A lock not refreshed for this long is taken over (kill -9). */
  staleMs: number;
  /** Give up waiting after this long. */
  timeoutMs: number;
  /** What was not done when the lock turns out lost, for the message (`nothing was written`). */
  unsaved: string;
  /** Told once, when the wait has lasted a second (a lock left by a killed process). */
  onWait?: (message: string) => void;
}

const loadLockfile = () => import('proper-lockfile');
let lockfileModule: ReturnType<typeof loadLockfile> | undefined;

/**
 * Starts loading proper-lockfile, so that it overlaps with other start-up work (the crypto
 * engine's WebAssembly compile) instead of delaying the first lock.
 */
export function preloadLockfile(): void {
  lockfileModule ??= loadLockfile();
  lockfileModule.catch(() => {}); // reported by acquireLock
}

export async function acquireLock(target: LockTarget): Promise<HeldLock> {
  const { what, file, lockPath, staleMs, timeoutMs } = target;
  preloadLockfile();
  const { default: lockfile } = await lockfileModule!;
  const ownerFile = `${lockPath}.owner`;
  let compromised: Error | undefined;
  const deadline = Date.now() + timeoutMs;
  const noteWait = lockWaitNotice(what, staleMs, target.onWait);
  for (;;) {
    try {
      const release = await lockfile.lock(file, {
        lockfilePath: lockPath,
        realpath: false, // the file may not exist yet
        stale: staleMs,
        update: Math.max(1000, staleMs / 4),
        retries: 0,
        // The default throws asynchronously (an uncaught exception). Instead, remember it and
        // refuse to write: another process may have taken the lock over.
        onCompromised: (err) => {
          compromised = err;
        },
      });
      // node:crypto is loaded here, when a store is locked, not at every command's start-up.
      const token = nodeCrypto().randomBytes(12).toString('hex');
      try {
        writeOwnFileSync(ownerFile, token);
      } catch (err) {
        await release().catch(() => {});
        if (err instanceof LocalStateError) throw err;
        throw new LocalStateError(`Cannot write ${ownerFile}: ${errorMessage(err)}`, { cause: err });
      }
      return {
        assertHeld: () => {
          if (compromised || readOwner(ownerFile) !== token) {
            throw new LocalStateError(
              `Lost the lock on ${what} (${compromised?.message ?? 'another process took it over'}); ${target.unsaved}. Run the command again.`,
              { cause: compromised },
            );
          }
        },
        release: async () => {
          // The owner file goes while the lock is still held, so that it is never another's.
          if (!compromised && readOwner(ownerFile) === token) rmSync(ownerFile, { force: true });
          await release().catch(() => {}); // already released when compromised
        },
      };
    } catch (err) {
      if (err instanceof LocalStateError) throw err;
      // Something is there (ELOCKED), or proper-lockfile could not rmdir it as stale (ENOTDIR).
      if (errorCode(err) === 'ELOCKED' || errorCode(err) === 'ENOTDIR') ownFolderExists(lockPath);
      if (errorCode(err) !== 'ELOCKED') {
        throw new LocalStateError(`Cannot lock ${what}: ${errorMessage(err)}`, { cause: err });
      }
      if (Date.now() >= deadline) {
        throw new LocalStateError(
          `Timed out after ${Math.round(timeoutMs / 1000)}s waiting for the lock on ${what}: ` +
            `another mx process may hold it. If none is running, remove ${lockPath}.`,
        );
      }
      noteWait();
      // Randomized, so that many waiting processes do not retry in lockstep.
      await sleep(5 + Math.random() * 25);
    }
  }
}

/** The token in an owner file; undefined when there is none or it cannot be read. */
function readOwner(ownerFile: string): string | undefined {
  try {
    return readOwnFile(ownerFile)?.toString('utf8');
  } catch {
    return undefined;
  }
}
