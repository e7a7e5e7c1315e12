import { readSync, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LocalStateError } from '../errors.js';
import { errorCode, errorMessage, openOwnFile, ownFolderExists } from '../fs-util.js';
import { checkFileHeader, damaged } from './log-format.js';
import { writeAll, type StoreDef } from './manifest.js';
import type { PersistenceStats } from './persistent-idb.js';

/**
 * The object store logs this process has open, and reads of their committed bytes. Reads
 * happen inside IndexedDB operations (lazy loading), which are synchronous, so a log is opened
 * ahead of its use: at lock entry for the logs the manifest lists, and when a flush or a
 * compaction creates one. Logs and their database folders are never used through a link
 * (fs-util.ts): a folder is checked (lstat) once per process, before its first log is used.
 */
export class LogFiles {
  private readonly handles = new Map<string, FileHandle>();
  private readonly checkedFolders = new Set<string>();

  constructor(
    readonly folder: string,
    private readonly stats: PersistenceStats,
  ) {}

  /** A path in the store folder (the manifest names files relative to it). */
  path(file: string): string {
    return path.join(this.folder, file);
  }

  /** The handle of a log opened before (see above). */
  handle(file: string): FileHandle {
    const fh = this.handles.get(file);
    if (fh) return fh;
    throw new Error(`Bug: log ${file} was not opened before use`);
  }

  async open(file: string): Promise<void> {
    if (this.handles.has(file)) return;
    try {
      this.checkFolder(file);
      this.handles.set(file, await openOwnFile(this.path(file), 'update'));
    } catch (err) {
      if (err instanceof LocalStateError) throw err;
      throw errorCode(err) === 'ENOENT'
        ? damaged(this.path(file), 'it is missing')
        : new LocalStateError(`Cannot open the crypto store file ${this.path(file)}: ${errorMessage(err)}`, { cause: err });
    }
  }

  /**
   * Writes a log no committed state refers to yet (the caller holds the lock), durably, mode
   * 0600. Emptied, not created new: a file of that name can only be left over from a process
   * killed before it committed, and is garbage. Write only: `open` opens it again, for reading too.
   */
  async create(file: string, bytes: Buffer): Promise<void> {
    this.checkFolder(file);
    const fh = await openOwnFile(this.path(file), 'truncate');
    try {
      await writeAll(fh, bytes, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** The folder of a log (`<db>-<n>/`) must be a real one, not a link out of the store. */
  private checkFolder(file: string): void {
    const folder = path.dirname(file);
    if (folder === '.' || this.checkedFolders.has(folder)) return;
    ownFolderExists(this.path(folder));
    this.checkedFolders.add(folder);
  }

  async close(file: string): Promise<void> {
    const fh = this.handles.get(file);
    this.handles.delete(file);
    await fh?.close().catch(() => {});
  }

  /** Closes and deletes a log that no committed state refers to any more. */
  async remove(file: string): Promise<void> {
    await this.close(file);
    await fsp.rm(this.path(file), { force: true }).catch(() => {});
  }

  async closeAll(): Promise<void> {
    for (const fh of this.handles.values()) await fh.close().catch(() => {});
    this.handles.clear();
  }

  /** The whole committed part of a log, header checked. */
  readCommitted(def: StoreDef): Buffer {
    const fd = this.handle(def.file).fd;
    const buf = Buffer.allocUnsafe(def.end);
    let done = 0;
    while (done < def.end) {
      const n = readSync(fd, buf, done, def.end - done, done);
      if (n === 0) throw damaged(this.path(def.file), `it is shorter than the ${def.end} bytes the manifest says are committed`);
      done += n;
    }
    checkFileHeader(buf, 'log', this.path(def.file));
    this.stats.bytesRead += def.end;
    return buf;
  }

  /** `length` committed bytes of a log at `offset`; a short read is damage, as `ifShort` says. */
  readAt(file: string, offset: number, length: number, ifShort: string): Buffer {
    const buf = Buffer.allocUnsafe(length);
    if (readSync(this.handle(file).fd, buf, 0, length, offset) !== length) throw damaged(this.path(file), ifShort);
    this.stats.bytesRead += length;
    return buf;
  }
}
