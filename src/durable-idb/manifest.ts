import { fstatSync, lstatSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LocalStateError } from '../errors.js';
import { errorCode, errorMessage, openOwnFile, readExactly, replaceFileAtomically } from '../fs-util.js';
import type { KeyPath } from './idb-types.js';
import { checkFileHeader, damaged, FILE_HEADER_LEN, fileHeader, frame, readFrames } from './log-format.js';

/**
 * The manifest: the one file that says what the crypto store holds. It lists the databases
 * (version, object stores, key paths, indexes) and, for every object store, its log file and
 * how many bytes of that log are committed.
 *
 * Why a manifest, and not only a schema file next to self-describing logs: one Rust-side
 * transaction writes several object stores at once (a received room key updates the Olm
 * session, the inbound group session and the hash that de-duplicates the to-device message).
 * If those were separate commits, a kill -9 between two appends would keep the advanced Olm
 * session but lose the room key, and the redelivered message could no longer be decrypted. So a
 * flush appends to the logs first, then commits them all with one manifest record: bytes past a
 * log's committed end are leftovers of a flush that never committed, ignored when reading and
 * cut off before the next append.
 *
 * The manifest is itself an append-only log of JSON records: a commit (a list of operations),
 * or a snapshot of the whole state (only as a file's first record, written when the manifest is
 * rewritten to stay small). A torn last record is ignored.
 */

export interface IndexDef {
  name: string;
  keyPath: string | string[];
  unique: boolean;
  multiEntry: boolean;
}

export interface StoreDef {
  /** Log file, relative to the store folder. */
  file: string;
  /** Committed length of the log. */
  end: number;
  keyPath: KeyPath;
  autoIncrement: boolean;
  indexes: IndexDef[];
}

export interface DbDef {
  /** Unique number: a database deleted and created again gets a new folder. */
  no: number;
  dir: string;
  version: number;
  stores: Map<string, StoreDef>;
}

export interface ManifestState {
  /** Next number for a database folder or log file. */
  nextNo: number;
  dbs: Map<string, DbDef>;
}

export type ManifestOp =
  | { op: 'db'; name: string; no: number; dir: string; version: number }
  | { op: 'version'; name: string; version: number }
  | { op: 'dropDb'; name: string }
  | { op: 'store'; db: string; name: string; file: string; keyPath: KeyPath; autoIncrement: boolean }
  | { op: 'dropStore'; db: string; name: string }
  | { op: 'index'; db: string; store: string; index: IndexDef }
  | { op: 'dropIndex'; db: string; store: string; name: string }
  /** The log grew: this many bytes are committed. */
  | { op: 'end'; db: string; store: string; end: number }
  /** Compaction: the store's records now live in another file (same content). */
  | { op: 'file'; db: string; store: string; file: string; end: number };

type ManifestRecord =
  | { t: 'commit'; writer: string; nextNo: number; ops: ManifestOp[] }
  | { t: 'snapshot'; nextNo: number; dbs: [string, Omit<DbDef, 'stores'> & { stores: [string, StoreDef][] }][] };

function emptyState(): ManifestState {
  return { nextNo: 1, dbs: new Map() };
}

export function cloneState(s: ManifestState): ManifestState {
  const dbs = new Map<string, DbDef>();
  for (const [name, db] of s.dbs) {
    const stores = new Map<string, StoreDef>();
    for (const [sn, st] of db.stores) stores.set(sn, { ...st, indexes: st.indexes.map((i) => ({ ...i })) });
    dbs.set(name, { ...db, stores });
  }
  return { nextNo: s.nextNo, dbs };
}

/** Applies one operation; throws an Error saying why when it does not fit the state. */
export function applyOp(s: ManifestState, op: ManifestOp): void {
  const db = (name: string) => {
    const d = s.dbs.get(name);
    if (!d) throw new Error(`operation ${op.op} on unknown database ${JSON.stringify(name)}`);
    return d;
  };
  const store = (dbName: string, name: string) => {
    const st = db(dbName).stores.get(name);
    if (!st) throw new Error(`operation ${op.op} on unknown object store ${JSON.stringify(name)}`);
    return st;
  };
  switch (op.op) {
    case 'db':
      s.dbs.set(op.name, { no: op.no, dir: op.dir, version: op.version, stores: new Map() });
      break;
    case 'version':
      db(op.name).version = op.version;
      break;
    case 'dropDb':
      db(op.name);
      s.dbs.delete(op.name);
      break;
    case 'store':
      db(op.db).stores.set(op.name, { file: op.file, end: FILE_HEADER_LEN, keyPath: op.keyPath, autoIncrement: op.autoIncrement, indexes: [] });
      break;
    case 'dropStore':
      store(op.db, op.name);
      db(op.db).stores.delete(op.name);
      break;
    case 'index': {
      const st = store(op.db, op.store);
      st.indexes = st.indexes.filter((i) => i.name !== op.index.name).concat({ ...op.index });
      break;
    }
    case 'dropIndex': {
      const st = store(op.db, op.store);
      st.indexes = st.indexes.filter((i) => i.name !== op.name);
      break;
    }
    case 'end': {
      const st = store(op.db, op.store);
      if (op.end < st.end) throw new Error(`the log of ${op.store} would shrink`);
      st.end = op.end;
      break;
    }
    case 'file': {
      const st = store(op.db, op.store);
      st.file = op.file;
      st.end = op.end;
      break;
    }
    default:
      throw new Error(`unknown operation ${JSON.stringify((op as { op: unknown }).op)}`);
  }
}

/** Every log file the state refers to. */
export function referencedFiles(s: ManifestState): Set<string> {
  const files = new Set<string>();
  for (const db of s.dbs.values()) for (const st of db.stores.values()) files.add(st.file);
  return files;
}

export const MANIFEST_NAME = 'MANIFEST';

/**
 * The manifest file as one process sees it: the state folded from the records read so far, and
 * where reading stopped. Every method except `state` must be called with the lock held.
 */
export class ManifestFile {
  readonly file: string;
  state: ManifestState = emptyState();
  /** Bytes of the file read and valid: the next record starts here. */
  private offset = 0;
  private fh: FileHandle | undefined;
  private ino = -1;

  constructor(readonly folder: string) {
    this.file = path.join(folder, MANIFEST_NAME);
  }

  get size(): number {
    return this.offset;
  }

  /**
   * Reads what other processes committed since the last call. Returns whether anything was
   * read. A manifest that another process rewrote (a new inode) is read again from its start.
   */
  async refresh(): Promise<boolean> {
    if (!this.fh) {
      try {
        this.fh = await openOwnFile(this.file, 'update');
      } catch (err) {
        if (errorCode(err) === 'ENOENT') return false;
        if (err instanceof LocalStateError) throw err;
        throw new LocalStateError(`Cannot open the crypto store manifest ${this.file}: ${errorMessage(err)}`, { cause: err });
      }
      this.ino = fstatSync(this.fh.fd).ino;
      return this.readFrom(0, emptyState());
    }
    let ino: number;
    try {
      ino = lstatSync(this.file).ino;
    } catch (err) {
      throw new LocalStateError(`The crypto store manifest ${this.file} went away while mx was using it: ${errorMessage(err)}`, { cause: err });
    }
    if (ino !== this.ino) {
      // Rewritten by another process. The old inode cannot have been reused for the new file
      // while we keep it open, so a different number always means a different file.
      await this.fh.close();
      this.fh = await openOwnFile(this.file, 'update');
      this.ino = fstatSync(this.fh.fd).ino;
      return this.readFrom(0, emptyState());
    }
    return this.readFrom(this.offset, this.state);
  }

  private async readFrom(from: number, state: ManifestState): Promise<boolean> {
    const fh = this.fh!;
    const size = fstatSync(fh.fd).size;
    if (size < from) throw damaged(this.file, `it is shorter (${size} bytes) than what was already read from it (${from})`);
    // mx writes a manifest whole (temp file, fsync, rename) before anything else: an empty one
    // is a damaged one, never a new store (which would mean a new identity for the device).
    if (size === 0) throw damaged(this.file, 'it is empty');
    if (size === from) return false;
    const buf = (await readExactly(fh, from, size - from))!;
    let base = from;
    let body = buf;
    if (from === 0) {
      checkFileHeader(buf, 'manifest', this.file);
      base = FILE_HEADER_LEN;
      body = buf.subarray(FILE_HEADER_LEN);
    }
    const { records, validEnd } = readFrames(body, base, 'tail', this.file);
    const next = state === this.state ? cloneState(state) : state;
    for (const [i, r] of records.entries()) {
      let rec: ManifestRecord;
      try {
        rec = JSON.parse(r.payload.toString('utf8')) as ManifestRecord;
        applyRecord(next, rec, from === 0 && i === 0);
      } catch (err) {
        if (err instanceof LocalStateError) throw err;
        throw damaged(this.file, `the record at byte ${r.offset} does not fit (${errorMessage(err)})`);
      }
    }
    this.state = next;
    this.offset = validEnd;
    return records.length > 0;
  }

  /** Commits `ops` (already applied to `next`, the state they lead to) and makes it durable. */
  async append(writer: string, next: ManifestState, ops: ManifestOp[]): Promise<void> {
    await this.ensureExists();
    const fh = this.fh!;
    const rec: ManifestRecord = { t: 'commit', writer, nextNo: next.nextNo, ops };
    const bytes = frame(Buffer.from(JSON.stringify(rec), 'utf8'));
    // Bytes past what we read are a torn record of a process killed mid-append.
    if (fstatSync(fh.fd).size !== this.offset) await fh.truncate(this.offset);
    await writeAll(fh, bytes, this.offset);
    await fh.datasync();
    this.offset += bytes.length;
    this.state = next;
  }

  /**
   * Replaces the manifest with a snapshot of its state (temp file, fsync, rename, fsync folder),
   * so that it does not grow without end. Other processes see a new inode and read it afresh.
   */
  async rewrite(): Promise<void> {
    const s = this.state;
    const rec: ManifestRecord = {
      t: 'snapshot',
      nextNo: s.nextNo,
      dbs: [...s.dbs].map(([name, db]) => [name, { no: db.no, dir: db.dir, version: db.version, stores: [...db.stores] }]),
    };
    const bytes = Buffer.concat([fileHeader('manifest'), frame(Buffer.from(JSON.stringify(rec), 'utf8'))]);
    await this.replaceWith(bytes);
  }

  /**
   * Creates the (empty) manifest if there is none. Called before the first logs are written: a
   * folder with logs and no manifest is taken for one that lost its manifest, so a process
   * killed during its first flush must leave a manifest behind.
   */
  async ensureExists(): Promise<void> {
    if (!this.fh) await this.replaceWith(fileHeader('manifest'));
  }

  private async replaceWith(bytes: Buffer): Promise<void> {
    try {
      await replaceFileAtomically(this.file, bytes);
    } catch (err) {
      if (err instanceof LocalStateError) throw err;
      throw new LocalStateError(`Cannot write the crypto store manifest ${this.file}: ${errorMessage(err)}`, { cause: err });
    }
    await this.fh?.close();
    this.fh = await openOwnFile(this.file, 'update');
    this.ino = fstatSync(this.fh.fd).ino;
    this.offset = bytes.length;
  }

  async close(): Promise<void> {
    await this.fh?.close().catch(() => {});
    this.fh = undefined;
  }
}

function applyRecord(s: ManifestState, rec: ManifestRecord, first: boolean): void {
  if (rec.t === 'snapshot') {
    if (!first) throw new Error('a snapshot record that is not the first one');
    s.dbs.clear();
    for (const [name, db] of rec.dbs) s.dbs.set(name, { no: db.no, dir: db.dir, version: db.version, stores: new Map(db.stores) });
  } else if (rec.t === 'commit') {
    for (const op of rec.ops) applyOp(s, op);
  } else {
    throw new Error(`unknown record type ${JSON.stringify((rec as { t: unknown }).t)}`);
  }
  if (typeof rec.nextNo !== 'number' || rec.nextNo < s.nextNo) throw new Error('the file numbering goes backwards');
  s.nextNo = rec.nextNo;
}

export async function writeAll(fh: FileHandle, bytes: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}
