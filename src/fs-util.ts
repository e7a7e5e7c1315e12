/** File system helpers the profile store and the crypto store share. */
import { chmodSync, mkdirSync, statSync, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LocalStateError } from './errors.js';

/**
 * Creates `dir` (and missing parents) mode 0700, and narrows an existing one that others can
 * read: the crypto store's folders are mx's own, and its values, though encrypted, are keys.
 */
export function ensurePrivateDir(dir: string): void {
  try {
    const created = mkdirSync(dir, { recursive: true, mode: 0o700 });
    // mkdir's mode is filtered by the umask; set it exactly.
    if (created !== undefined || (statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
  } catch (err) {
    throw new LocalStateError(`Cannot create the crypto store folder ${dir}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Opens a file for writing that no committed state refers to (the caller holds the lock), mode
 * 0600. 'w' and not 'wx': a file of that name can only be left over from a process killed
 * before it committed, and is garbage.
 */
export async function createPrivateFile(file: string): Promise<FileHandle> {
  const fh = await fsp.open(file, 'w', 0o600);
  await fh.chmod(0o600); // the mode given to open() is filtered by the umask
  return fh;
}

/**
 * Replaces `file` atomically: the data goes to a 0600 temp file in the same folder (a rename is
 * atomic only within one filesystem), is fsynced, renamed over `file`, and the rename is made
 * durable. A reader sees the old file or the new one, never a mix. On failure the temp file is
 * removed and the error thrown as it came (callers say which file it was for).
 */
export async function replaceFileAtomically(file: string, data: string | Uint8Array): Promise<void> {
  // node:crypto is loaded here, on the first write, not at start-up (~3 ms of every mx command).
  const { randomBytes } = process.getBuiltinModule('node:crypto');
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let fh: FileHandle | undefined;
  try {
    fh = await fsp.open(tmp, 'wx', 0o600);
    await fh.chmod(0o600); // the mode given to open() is filtered by the umask
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fsp.rename(tmp, file);
  } catch (err) {
    await fh?.close().catch(() => {});
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

/**
 * Makes a file's creation or rename durable. Not possible everywhere (Windows); the rename is
 * atomic without it, so failures are ignored.
 */
export async function fsyncDir(dir: string): Promise<void> {
  await fsp.open(dir, 'r')
    .then(async (d) => {
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    })
    .catch(() => {});
}

/** Reads exactly `length` bytes at `position`; a short read means the file is shorter. */
export async function readExactly(fh: FileHandle, position: number, length: number): Promise<Buffer | undefined> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) return undefined;
    done += bytesRead;
  }
  return buf;
}

export function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
