/** Files mx writes for the user. */
import { promises as fsp } from 'node:fs';
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

/** A private file opened for writing: `write` fills and closes it; `abandon` closes it, and removes it if this open created it. */
export interface PrivateFile {
  path: string;
  write(data: Uint8Array | string): Promise<void>;
  abandon(): Promise<void>;
}

/**
 * Opens a file the user named for writing, created (or truncated) with mode 0600: what mx writes
 * may hold secrets (an API answer with a token, a recovery key, a key export), so it is never
 * readable by others. Opening early reserves the name, so that work whose result goes there is
 * not done in vain.
 */
export async function openPrivateFile(cwd: string, file: string, options: PrivateFileOptions = {}): Promise<PrivateFile> {
  const full = path.resolve(cwd, file);
  let handle: FileHandle;
  try {
    handle = await fsp.open(full, options.keepExisting ? 'wx' : 'w', 0o600);
    // An existing file keeps its mode with open(), and a new one's is filtered by the umask.
    await handle.chmod(0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && options.keepExisting) {
      throw new MxError(`${full} exists already; mx does not replace it (${options.keepExisting.replaceFlag} does)`, ExitCode.conflict);
    }
    throw new MxError(`cannot write ${full}: ${code ?? String(error)}`, code === 'ENOENT' || code === 'EISDIR' ? ExitCode.usage : ExitCode.failure);
  }
  return {
    path: full,
    async write(data) {
      try {
        await handle.writeFile(data);
        await handle.sync();
      } catch (error) {
        // A full disk is exit 8, as everywhere in mx.
        throw fileSystemFailure(error) ?? new MxError(`cannot write ${full}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, ExitCode.failure);
      } finally {
        await handle.close();
      }
    },
    async abandon() {
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
