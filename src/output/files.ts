/** Files mx writes for the user. */
import { constants, fstatSync, lstatSync, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, fileSystemFailure, MxError } from '../errors.js';

export interface PrivateFileOptions {
  /**
   * Refuse to replace a file that exists (exit code 6): a recovery key or a key export must not
   * overwrite an earlier one unnoticed. The flag that allows it, for the message (`--force`).
   */
  keepExisting?: { replaceFlag: string };
}

/**
 * A private file opened for writing: `write` fills and closes it; `abandon` closes it, and
 * removes it if this open created it and nothing was written (a file that holds what was
 * written, a recovery key say, is never removed by an abandon).
 */
export interface PrivateFile {
  path: string;
  write(data: Uint8Array | string): Promise<void>;
  abandon(): Promise<void>;
}

const { O_WRONLY, O_CREAT, O_EXCL, O_TRUNC } = constants;
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

/**
 * Opens a file the user named for writing, created (or truncated) with mode 0600: what mx writes
 * may hold secrets (an API answer with a token, a recovery key, a key export), so it is never
 * readable by others. Opening early reserves the name, so that work whose result goes there is
 * not done in vain. A symbolic link at that name is refused (exit code 6), also where an
 * existing file would be replaced: mx would write into whatever file it points to (one planted
 * in a shared download folder, say), and replacing the link instead could lose a file the user
 * meant. A FIFO or a device (`/dev/null`) is written to, but its mode is left alone.
 */
export async function openPrivateFile(cwd: string, file: string, options: PrivateFileOptions = {}): Promise<PrivateFile> {
  const full = path.resolve(cwd, file);
  let handle: FileHandle;
  let regular: boolean;
  try {
    handle = await fsp.open(full, O_WRONLY | O_CREAT | O_NOFOLLOW | (options.keepExisting ? O_EXCL : O_TRUNC), 0o600);
    regular = fstatSync(handle.fd).isFile();
    // An existing file keeps its mode with open(), and a new one's is filtered by the umask.
    if (regular) await handle.chmod(0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === 'ELOOP' || code === 'EEXIST') && lstatSync(full, { throwIfNoEntry: false })?.isSymbolicLink()) {
      throw new MxError(`${full} is a symbolic link; mx does not write through one, nor replace it: remove it or name another file`, ExitCode.conflict);
    }
    if (code === 'EEXIST' && options.keepExisting) {
      throw new MxError(`${full} exists already; mx does not replace it (${options.keepExisting.replaceFlag} does)`, ExitCode.conflict);
    }
    throw new MxError(`cannot write ${full}: ${code ?? String(error)}`, code === 'ENOENT' || code === 'EISDIR' ? ExitCode.usage : ExitCode.failure);
  }
  let written = false;
  return {
    path: full,
    async write(data) {
      try {
        await handle.writeFile(data);
        if (regular) await handle.sync(); // a pipe or a device has nothing to sync (EINVAL)
        written = true;
      } catch (error) {
        // A full disk is exit 8, as everywhere in mx.
        throw fileSystemFailure(error) ?? new MxError(`cannot write ${full}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, ExitCode.failure);
      } finally {
        await handle.close();
      }
    },
    async abandon() {
      if (written) return;
      await handle.close().catch(() => {});
      // Only a file this open made ('wx'): an existing one the user named is not removed.
      if (options.keepExisting) await fsp.rm(full, { force: true });
    },
  };
}

/** Writes `data` to a private file (see openPrivateFile); returns its full path. */
export async function writePrivateFile(cwd: string, file: string, data: Uint8Array | string, options: PrivateFileOptions = {}): Promise<string> {
  const opened = await openPrivateFile(cwd, file, options);
  await opened.write(data);
  return opened.path;
}
