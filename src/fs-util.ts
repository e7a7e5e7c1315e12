/**
 * File system helpers the profile store and the crypto store share.
 *
 * mx's own files and folders (the profile store and its lock, the crypto stores, their locks)
 * are never used through a symbolic link: one planted there would make mx write, truncate,
 * chmod, lock or delete a file somewhere else (`ln -s /etc/shadow profiles.json`). So files
 * are opened with O_NOFOLLOW (and O_NONBLOCK, so that a FIFO cannot hang the open), checked
 * with fstat to be regular files, chmodded through their handle; folders inside mx's folders
 * are checked with lstat. A link, a FIFO or a folder where mx keeps a file is a LocalStateError
 * naming the path, and nothing is done to it. The folders the user gives mx (MX_CONFIG_DIR,
 * $XDG_STATE_HOME/mx) may be links (a dotfiles setup): only what mx makes inside is checked.
 */
import { closeSync, constants, fchmodSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, writeSync, promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LocalStateError } from './errors.js';
import { nodeCrypto } from './builtins.js';

// Not defined on Windows (which has no links of the kind these guard against, nor FIFOs).
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const O_DIRECTORY = constants.O_DIRECTORY ?? 0;

/** How one of mx's own files is opened: read, read and written in place, created or emptied, created new. */
export type OwnFileMode = 'read' | 'update' | 'truncate' | 'new';

const OPEN_FLAGS: Record<OwnFileMode, number> = {
  read: constants.O_RDONLY,
  update: constants.O_RDWR,
  truncate: constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC,
  new: constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
};

/** The error for a symbolic link where mx keeps a file or folder of its own. */
function linkRefused(file: string): LocalStateError {
  return new LocalStateError(`${file} is a symbolic link; mx does not follow links in its own folders: remove it`);
}

/** The error for something other than `expected` (a link, a FIFO, ...) where mx keeps one. */
function notOwn(file: string, stats: Stats, expected: 'file' | 'folder'): LocalStateError {
  if (stats.isSymbolicLink()) return linkRefused(file);
  return new LocalStateError(`${file} is ${kindOf(stats)} where mx keeps a ${expected} of its own: remove it`);
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFile()) return 'a file';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isSocket()) return 'a socket';
  return 'a device';
}

/**
 * What a failed open of one of mx's own files met: a link (ELOOP under O_NOFOLLOW, EEXIST under
 * O_EXCL), a FIFO without a reader or a socket (ENXIO), a folder (EISDIR). Other errors, and
 * these when the path turns out to be a plain file, are returned as they came.
 */
function refusal(file: string, err: unknown): unknown {
  if (!['ELOOP', 'EEXIST', 'ENXIO', 'EISDIR'].includes(errorCode(err) ?? '')) return err;
  const stats = lstatSync(file, { throwIfNoEntry: false });
  return stats && !stats.isFile() ? notOwn(file, stats, 'file') : err;
}

/**
 * Opens one of mx's own files, never through a link, and checks that it is a regular file.
 * Files it creates are 0600 (set through the handle: open's mode is filtered by the umask, and
 * an existing file keeps its own). Throws a LocalStateError for a link or something other than
 * a file, and other errors (ENOENT, EEXIST of 'new') as they came.
 */
function openOwnFileSync(file: string, mode: OwnFileMode): { fd: number; stats: Stats } {
  let fd: number;
  try {
    fd = openSync(file, OPEN_FLAGS[mode] | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (err) {
    throw refusal(file, err);
  }
  try {
    const stats = fstatSync(fd);
    if (mustSetMode(file, stats, mode)) fchmodSync(fd, 0o600);
    return { fd, stats };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Checks what an open gave (a regular file), and says whether it is one mx writes that is not 0600 yet. */
function mustSetMode(file: string, stats: Stats, mode: OwnFileMode): boolean {
  if (!stats.isFile()) throw notOwn(file, stats, 'file');
  return (mode === 'truncate' || mode === 'new') && (stats.mode & 0o777) !== 0o600;
}

/** openOwnFileSync, as a FileHandle. */
export async function openOwnFile(file: string, mode: OwnFileMode): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(file, OPEN_FLAGS[mode] | O_NOFOLLOW | O_NONBLOCK, 0o600);
  } catch (err) {
    throw refusal(file, err);
  }
  try {
    if (mustSetMode(file, fstatSync(fh.fd), mode)) await fh.chmod(0o600);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * The content of one of mx's own files, undefined when there is none. Synchronous: the files are
 * small and local, and an asynchronous read is four thread-pool round trips. A link or something
 * other than a file there, or a failure to read it, is a LocalStateError (`what` the file is,
 * for its message).
 */
export function readOwnFile(file: string, what = 'the crypto store file'): Buffer | undefined {
  let opened: { fd: number; stats: Stats };
  try {
    opened = openOwnFileSync(file, 'read');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    if (err instanceof LocalStateError) throw err;
    throw new LocalStateError(`Cannot read ${what} ${file}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    const buf = Buffer.allocUnsafe(opened.stats.size);
    let done = 0;
    while (done < buf.length) {
      const n = readSync(opened.fd, buf, done, buf.length - done, done);
      if (n === 0) break; // shorter than a moment ago
      done += n;
    }
    return buf.subarray(0, done);
  } finally {
    closeSync(opened.fd);
  }
}

/** Writes a small file of mx's own in place (created 0600 when missing), never through a link. */
export function writeOwnFileSync(file: string, data: string): void {
  const { fd } = openOwnFileSync(file, 'truncate');
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
}

/**
 * Sets one of mx's own files (0600) or folders (0700) private, through a handle opened without
 * following a link, so that what is changed is the file that was checked.
 */
export function makePrivate(target: string, kind: 'file' | 'folder'): void {
  if (kind === 'file') {
    const { fd } = openOwnFileSync(target, 'read');
    try {
      fchmodSync(fd, 0o600);
    } finally {
      closeSync(fd);
    }
    return;
  }
  let fd: number;
  try {
    fd = openSync(target, constants.O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  } catch (err) {
    const stats = ['ELOOP', 'ENOTDIR'].includes(errorCode(err) ?? '') ? lstatSync(target, { throwIfNoEntry: false }) : undefined;
    throw stats && !stats.isDirectory() ? notOwn(target, stats, 'folder') : err;
  }
  try {
    fchmodSync(fd, 0o700);
  } finally {
    closeSync(fd);
  }
}

/**
 * The lstat of one of mx's own files: a link or anything but a file there is a LocalStateError;
 * undefined when there is none, or when it cannot be looked at (the open that follows says why).
 */
export function lstatOwnFile(file: string): Stats | undefined {
  let stats: Stats;
  try {
    stats = lstatSync(file);
  } catch {
    return undefined;
  }
  if (!stats.isFile()) throw notOwn(file, stats, 'file');
  return stats;
}

/**
 * Whether one of mx's own folders exists: false when it does not, true when it is a real
 * folder, a LocalStateError when it is a link or anything else (lstat, which does not follow).
 */
export function ownFolderExists(dir: string): boolean {
  let stats: Stats;
  try {
    stats = lstatSync(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return false;
    throw err;
  }
  if (!stats.isDirectory()) throw notOwn(dir, stats, 'folder');
  return true;
}

/**
 * Makes `dir` a private folder of mx's own: it and every folder between `root` and it are real
 * folders of the user mx runs as, not links nor another user's (`root` itself may be a link: a
 * folder the user chose); missing ones are created 0700, and an existing `dir` that others can
 * open is narrowed to 0700: the crypto store's folders are mx's own, and its values, though
 * encrypted, are keys. One lstat per folder when all is there.
 */
export function ensurePrivateDir(dir: string, root: string = path.dirname(dir)): void {
  const parts = path.relative(root, dir).split(path.sep);
  if (parts[0] === '' || parts[0] === '..' || path.isAbsolute(parts[0]!)) throw new Error(`Bug: ${dir} is not inside ${root}`);
  let current = root;
  try {
    for (const [i, part] of parts.entries()) {
      current = path.join(current, part);
      const stats = lstatSync(current, { throwIfNoEntry: false });
      if (stats === undefined) {
        if (i === 0) mkdirSync(root, { recursive: true, mode: 0o700 });
        makeFolder(current);
      } else if (!stats.isDirectory()) {
        throw notOwn(current, stats, 'folder');
      } else if (ownedByAnother(stats)) {
        throw anotherUsers(current, stats);
      } else if (i === parts.length - 1 && stats.mode & 0o077) {
        makePrivate(current, 'folder');
      }
    }
  } catch (err) {
    if (err instanceof LocalStateError) throw err;
    throw new LocalStateError(`Cannot create the crypto store folder ${current}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Whether a file or folder belongs to a user other than the one mx runs as. */
function ownedByAnother(stats: Stats): boolean {
  const self = process.getuid?.();
  return self !== undefined && stats.uid !== self;
}

/**
 * A folder of mx's of another user (made by `sudo mx`, a copied state folder) is not used: it
 * fails at the first write for want of permission, or, as root, would get files its owner can
 * no longer write.
 */
function anotherUsers(dir: string, stats: Stats): LocalStateError {
  return new LocalStateError(
    `${dir} belongs to another user (uid ${stats.uid}; mx runs as uid ${process.getuid!()}): mx uses only its own user's folders. ` +
      'Run mx as that user, or give the folder to this one (chown -R)',
  );
}

/** Creates a folder exactly 0700 (mkdir's mode is filtered by the umask); one made meanwhile by another process is checked instead. */
function makeFolder(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw err;
  }
  makePrivate(dir, 'folder');
}

/**
 * Replaces `file` atomically: the data goes to a new 0600 temp file in the same folder (a rename
 * is atomic only within one filesystem), is fsynced, renamed over `file`, and the rename is made
 * durable. A reader sees the old file or the new one, never a mix. A link or anything but a file
 * at `file` is refused (a LocalStateError) rather than replaced. On failure the temp file is
 * removed and the error thrown as it came (callers say which file it was for).
 */
export async function replaceFileAtomically(file: string, data: string | Uint8Array): Promise<void> {
  lstatOwnFile(file);
  // node:crypto is loaded here, on the first write, not at start-up, which most commands would pay for nothing.
  const { randomBytes } = nodeCrypto();
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let fh: FileHandle | undefined;
  try {
    fh = await openOwnFile(tmp, 'new');
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
  await fsp.open(dir, constants.O_RDONLY | O_DIRECTORY)
    .then(async (d) => {
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    })
    .catch(() => {});
}

/** How long a wait for a lock lasts before it is told (lockWaitNotice). */
const LOCK_WAIT_NOTICE_MS = 1000;

/**
 * For a loop that waits for a store's lock: a function to call at each retry, which tells
 * `notify`, once, when the wait has lasted a second. A lock left by a process that was killed is
 * taken over only once it is stale, and the wait should not look like a hang.
 */
export function lockWaitNotice(what: string, staleMs: number, notify: ((message: string) => void) | undefined): () => void {
  const since = Date.now();
  let told = notify === undefined;
  return () => {
    if (told || Date.now() - since < LOCK_WAIT_NOTICE_MS) return;
    told = true;
    notify!(
      `waiting for the lock on ${what} (held by another mx process, or left by one that was killed; ` +
        `a stale lock is taken over after ${Math.round(staleMs / 1000)} s)`,
    );
  };
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
