/**
 * A durable, multi-process IndexedDB for the crypto engine (the Rust matrix-sdk-crypto store
 * compiled to WebAssembly), on top of fake-indexeddb's in-memory one.
 *
 * Contract
 * - `openPersistentIndexedDb(folder)` gives an IDBFactory (`factory`; `installGlobals()` makes
 *   it `globalThis.indexedDB`, with the IDB* classes the WebAssembly glue checks against).
 * - Every use of it, which means every call into the engine (StoreHandle.openWithKey,
 *   OlmMachine.initFromStore, and every method of the machine), happens inside
 *   `withLock(fn)`. Outside, the databases refuse to work (a bug in mx, reported as such).
 * - `withLock` takes the store's inter-process lock, reads what other processes committed since
 *   this process last held it, and calls `fn(changedByOthers)`. When `changedByOthers` is true
 *   the caller must close any OlmMachine it kept from an earlier lock period and create it
 *   again: the machine caches sessions in memory, and an old one would work from stale state
 *   and could write it back over newer state. To make that mistake loud, the database
 *   connections opened before such a change are refused from then on. (On the first call,
 *   `changedByOthers` is true if the store holds anything.)
 * - When `fn` has settled (also when it throws), `withLock` waits for the transactions still
 *   running, appends every committed change to disk and fsyncs before the lock is released:
 *   once `withLock` resolves, the changes are durable. So a sync token that acknowledges
 *   to-device messages must be saved only after the `withLock` that processed them resolved,
 *   and an event encrypted inside `fn` must be sent only after it resolved (sending first
 *   could, after a crash, reuse a Megolm message index).
 * - A failed save makes this instance unusable (the in-memory state is ahead of the disk): the
 *   error is a LocalStateError, and the process should exit. A damaged store is a
 *   LocalStateError and is never changed or replaced: damage met while the engine loads data
 *   fails that engine call, and withLock then throws the LocalStateError and writes nothing.
 * - `withLock` calls of one process run one after another; `fn` must not call `withLock`.
 *
 * On disk (see manifest.ts for why the manifest exists):
 *   <folder>/MANIFEST                 databases, object stores, their log files and committed ends
 *   <folder>/<db>-<n>/<store>-<n>.log one append-only log of changes per object store (store-log.ts)
 *   <folder>/lock, lock.owner         the inter-process lock (file-lock.ts)
 *
 * Loading is lazy and partial. An object store's log is read the first time an operation of
 * this process touches the store, and then only for its keys (no value is decoded); a
 * `get(key)` loads that one record; range reads, cursors, indexes and counts load the whole
 * store. A process that never touches the inbound group sessions never reads them, and one that
 * receives a room key reads their keys but not their values.
 *
 * Logs grow by appends; when a log holds much more garbage (overwritten or deleted records)
 * than live data, the process holding it in memory rewrites it to a new file at the end of a
 * lock period, and other processes see the new file in the manifest.
 */
import { randomBytes } from 'node:crypto';
import { fstatSync, readdirSync, readSync } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { fakeIndexedDb, loadFakeIndexedDb } from './fake-idb.js';
import { LocalStateError } from '../errors.js';
import { detachDatabase, rawStore, rawStoreOfHandle, type RawObjectStore } from './fake-idb-internals.js';
import { createPrivateFile, ensurePrivateDir, errorCode, errorMessage, fsyncDir } from '../fs-util.js';
import { bindings, installHooks, type Binding, type CapturedWrite, type HookOwner, type Need, type SchemaChange } from './idb-hooks.js';
import type { IdbDatabase, IdbFactory, IdbKey, IdbObjectStore, IdbOpenRequest, IdbTransaction } from './idb-types.js';
import { acquireLock, preloadLockfile, type HeldLock } from './file-lock.js';
import { planFlush, safeName, type AppendTarget, type Committed } from './flush-plan.js';
import { checkFileHeader, damaged, FILE_HEADER_LEN, fileHeader, readOneFrame } from './log-format.js';
import { applyOp, cloneState, ManifestFile, MANIFEST_NAME, referencedFiles, writeAll, type DbDef, type ManifestOp, type StoreDef } from './manifest.js';
import {
  decodeRecord,
  decodeValue,
  encodeClear,
  encodeDelete,
  encodeDeleteRange,
  encodePut,
  keyId,
  LiveMap,
  logRecords,
  OP_CLEAR,
  OP_DELETE,
  OP_DELETE_RANGE,
  OP_PUT,
  type LiveEntry,
  type LogRecord,
} from './store-log.js';

export interface PersistentIndexedDbOptions {
  /** A lock not refreshed for this long is taken over (kill -9). Minimum 2000. */
  staleMs?: number;
  /** Give up waiting for the lock after this long. */
  lockTimeoutMs?: number;
  /** Rewrite a log when its garbage exceeds both this many bytes... */
  compactMinGarbageBytes?: number;
  /** ...and this multiple of its live bytes. */
  compactGarbageRatio?: number;
  /** Rewrite the manifest as a snapshot when it grows past this. */
  manifestRewriteBytes?: number;
  /** How long to wait, after `fn`, for IndexedDB transactions still running. */
  idleTimeoutMs?: number;
}

/** What this instance read and wrote, for tests and measurements. */
export interface PersistenceStats {
  /** `db/store` of every log scanned (read for its keys), in order. */
  scans: string[];
  bytesRead: number;
  /** Records decoded into memory. */
  recordsLoaded: number;
  flushes: number;
  /** Duration of the last flush that wrote something (appends, fsyncs, manifest record), ms. */
  lastFlushMs: number;
  /** Bytes appended to logs by flushes. */
  bytesWritten: number;
  compactions: number;
  manifestRewrites: number;
}

export interface PersistentIndexedDb {
  readonly folder: string;
  /** The IDBFactory (fake-indexeddb) whose databases persist in `folder`. */
  readonly factory: IdbFactory;
  /** Makes `factory` globalThis.indexedDB and defines the IDB* classes, as the engine needs. */
  installGlobals(): void;
  withLock<T>(fn: (changedByOthers: boolean) => Promise<T>): Promise<T>;
  /** Waits for a running withLock, then closes files. Close OlmMachines (inside withLock) first. */
  close(): Promise<void>;
  readonly stats: PersistenceStats;
}

export async function openPersistentIndexedDb(folder: string, options: PersistentIndexedDbOptions = {}): Promise<PersistentIndexedDb> {
  await loadFakeIndexedDb();
  installHooks();
  preloadLockfile();
  const folderPath = path.resolve(folder);
  ensurePrivateDir(folderPath);
  return new PersistentIdb(folderPath, options);
}

/** Defines the IndexedDB globals the WebAssembly glue uses (`instanceof IDBDatabase`, ...). */
export function installIndexedDbGlobals(factory: IdbFactory): void {
  const g = globalThis as Record<string, unknown>;
  g.indexedDB = factory;
  for (const name of [
    'IDBCursor',
    'IDBCursorWithValue',
    'IDBDatabase',
    'IDBFactory',
    'IDBIndex',
    'IDBKeyRange',
    'IDBObjectStore',
    'IDBOpenDBRequest',
    'IDBRequest',
    'IDBTransaction',
    'IDBVersionChangeEvent',
  ] as const) {
    g[name] = fakeIndexedDb()[name];
  }
}

/** An object store as this process has it in memory. */
interface StoreMem {
  /** The log's keys, once scanned. */
  live: LiveMap | undefined;
  /** Every record is in memory (no need to look at the log again). */
  full: boolean;
}

interface DbMem {
  generation: number;
  stores: Map<string, StoreMem>;
}

/** One change of a transaction, in call order. */
type TxEntry =
  | { kind: 'write'; store: string; write: CapturedWrite }
  | { kind: 'schema'; change: SchemaChange }
  | { kind: 'version'; version: number };

interface TxBuffer {
  binding: Binding;
  entries: TxEntry[];
  /** Undoes, on abort, what a schema change did to `dbs`. */
  undo: (() => void)[];
}

const DEFAULTS = {
  staleMs: 10_000,
  lockTimeoutMs: 30_000,
  compactMinGarbageBytes: 256 * 1024,
  compactGarbageRatio: 1,
  manifestRewriteBytes: 256 * 1024,
  idleTimeoutMs: 30_000,
};

class PersistentIdb implements PersistentIndexedDb, HookOwner {
  readonly factory: IdbFactory;
  readonly stats: PersistenceStats = {
    scans: [],
    bytesRead: 0,
    recordsLoaded: 0,
    flushes: 0,
    lastFlushMs: 0,
    bytesWritten: 0,
    compactions: 0,
    manifestRewrites: 0,
  };
  private readonly opts: typeof DEFAULTS;
  /** Names this process in the manifest records it writes (for debugging). */
  private readonly writer = `${process.pid}-${randomBytes(4).toString('hex')}`;
  private readonly manifest: ManifestFile;
  private readonly dbs = new Map<string, DbMem>();
  private generation = 0;
  private readonly handles = new Map<string, FileHandle>();
  private readonly txBuffers = new WeakMap<object, TxBuffer>();
  private pending: Committed[] = [];
  /** Transactions and open/delete requests not finished yet. */
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  private inLock = false;
  private queue: Promise<void> = Promise.resolve();
  private refreshedOnce = false;
  private broken: Error | undefined;
  /** A damaged log found while loading inside fn: nothing may be written after that. */
  private loadError: LocalStateError | undefined;
  private closed = false;

  constructor(
    readonly folder: string,
    options: PersistentIndexedDbOptions,
  ) {
    this.opts = { ...DEFAULTS, ...options };
    this.opts.staleMs = Math.max(this.opts.staleMs, 2000);
    this.manifest = new ManifestFile(folder);
    this.factory = new (fakeIndexedDb().IDBFactory)() as IdbFactory;
    const plainOpen = this.factory.open;
    const plainDelete = this.factory.deleteDatabase;
    const factory = this.factory as { open: IdbFactory['open']; deleteDatabase: IdbFactory['deleteDatabase'] };
    factory.open = (name: string, version?: number) => {
      this.assertUsable();
      const req = version === undefined ? plainOpen.call(this.factory, name) : plainOpen.call(this.factory, name, version);
      this.trackOpen(name, req);
      return req;
    };
    factory.deleteDatabase = (name: string) => {
      this.assertUsable();
      const req = plainDelete.call(this.factory, name);
      this.beginActive();
      req.addEventListener('success', () => {
        this.pending.push({ kind: 'dropDb', db: name });
        this.forgetDb(name);
        this.endActive();
      });
      req.addEventListener('error', () => this.endActive());
      return req;
    };
  }

  installGlobals(): void {
    installIndexedDbGlobals(this.factory);
  }

  // ---- lock periods ----

  withLock<T>(fn: (changedByOthers: boolean) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.locked(fn));
    this.queue = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  private async locked<T>(fn: (changedByOthers: boolean) => Promise<T>): Promise<T> {
    this.assertOpen();
    const lock = await acquireLock(this.folder, this.opts.staleMs, this.opts.lockTimeoutMs);
    try {
      let changed: boolean;
      try {
        changed = await this.refresh();
      } catch (err) {
        throw this.breakWith(err);
      }
      this.inLock = true;
      let outcome: { ok: true; value: T } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, value: await fn(changed) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      try {
        await this.waitIdle();
        this.inLock = false;
        if (this.loadError) throw this.loadError;
        await this.flush(lock);
      } catch (err) {
        throw this.breakWith(err, outcome.ok ? undefined : outcome.error);
      }
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    } finally {
      this.inLock = false;
      await lock.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    for (const fh of this.handles.values()) await fh.close().catch(() => {});
    this.handles.clear();
    await this.manifest.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('Bug: the crypto store was used after close()');
    if (this.broken) {
      throw new LocalStateError(`The crypto store ${this.folder} could not be saved earlier in this process: ${this.broken.message}`, {
        cause: this.broken,
      });
    }
  }

  /** Called before anything touches a database: only inside withLock, on a current connection. */
  private assertUsable(binding?: Binding): void {
    this.assertOpen();
    if (!this.inLock) throw new Error('Bug: the crypto store was used outside withLock()');
    if (binding && binding.generation !== this.dbs.get(binding.dbName)?.generation) {
      throw new Error(
        `Bug: a connection to ${binding.dbName} opened before another process changed the crypto store was used; ` +
          `re-create the OlmMachine when withLock() reports changes`,
      );
    }
  }

  private breakWith(err: unknown, fnError?: unknown): Error {
    const e =
      err instanceof LocalStateError
        ? err
        : new LocalStateError(`Cannot save the crypto store ${this.folder}: ${errorMessage(err)}`, { cause: err });
    if (fnError !== undefined && e.cause === undefined) (e as { cause?: unknown }).cause = fnError;
    this.broken ??= e;
    return e;
  }

  // ---- tracking transactions (HookOwner) ----

  private trackOpen(name: string, req: IdbOpenRequest): void {
    this.beginActive();
    req.addEventListener('upgradeneeded', (event) => {
      const db = req.result as IdbDatabase;
      const tx = req.transaction!;
      // A database this process creates (nothing of it on disk) gets its in-memory state here.
      const isNew = !this.dbs.has(name);
      const binding = this.bind(name, db);
      binding.versionchange = tx;
      this.onTransaction(binding, tx);
      const buffer = this.txBuffers.get(tx)!;
      buffer.entries.push({ kind: 'version', version: (event as { newVersion: number }).newVersion });
      if (isNew) buffer.undo.push(() => this.dbs.delete(name));
      const clear = () => {
        binding.versionchange = undefined;
      };
      tx.addEventListener('complete', clear);
      tx.addEventListener('abort', clear);
    });
    req.addEventListener('success', () => {
      const db = req.result as IdbDatabase;
      if (!bindings.has(db)) this.bind(name, db);
      this.endActive();
    });
    req.addEventListener('error', () => this.endActive());
  }

  private bind(name: string, db: IdbDatabase): Binding {
    let mem = this.dbs.get(name);
    const binding: Binding = { owner: this, dbName: name, generation: mem?.generation ?? ++this.generation };
    if (!mem) {
      mem = { generation: binding.generation, stores: new Map() };
      this.dbs.set(name, mem);
    }
    bindings.set(db, binding);
    return binding;
  }

  onTransaction(binding: Binding, tx: IdbTransaction): void {
    this.assertUsable(binding);
    const buffer: TxBuffer = { binding, entries: [], undo: [] };
    this.txBuffers.set(tx, buffer);
    this.beginActive();
    tx.addEventListener('complete', () => {
      this.commit(buffer);
      this.endActive();
    });
    tx.addEventListener('abort', () => {
      for (const undo of buffer.undo.reverse()) undo();
      this.endActive();
    });
  }

  onWrite(_binding: Binding, store: IdbObjectStore, write: CapturedWrite): void {
    this.bufferOf(store.transaction).entries.push({ kind: 'write', store: store.name, write });
  }

  onSchemaChange(binding: Binding, tx: IdbTransaction, change: SchemaChange): void {
    const buffer = this.bufferOf(tx);
    buffer.entries.push({ kind: 'schema', change });
    const db = this.dbs.get(binding.dbName)!;
    if (change.kind === 'store' || change.kind === 'dropStore') {
      const before = db.stores.get(change.name);
      if (change.kind === 'store') db.stores.set(change.name, { live: new LiveMap(), full: true });
      else db.stores.delete(change.name);
      buffer.undo.push(() => {
        if (before) db.stores.set(change.name, before);
        else db.stores.delete(change.name);
      });
    }
  }

  private bufferOf(tx: IdbTransaction): TxBuffer {
    const buffer = this.txBuffers.get(tx);
    if (!buffer) throw new Error('Bug: a change in a transaction the crypto store did not see start');
    return buffer;
  }

  /** A transaction committed: keep what it changed, in order, for the flush. */
  private commit(buffer: TxBuffer): void {
    const db = buffer.binding.dbName;
    for (const e of buffer.entries) {
      if (e.kind === 'version') {
        this.pending.push({ kind: 'version', db, version: e.version });
      } else if (e.kind === 'schema') {
        this.pending.push({ kind: 'schema', db, change: e.change });
      } else {
        const w = e.write;
        // A request that failed (and whose error the caller prevented from aborting) did nothing.
        if (w.request.readyState !== 'done' || w.request.error) continue;
        let rec: LogRecord;
        let payload: Buffer;
        if (w.kind === 'put') {
          const key = w.request.result as IdbKey;
          rec = { op: OP_PUT, key, valueBytes: w.valueBytes };
          payload = encodePut(key, w.valueBytes);
        } else if (w.kind === 'delete') {
          rec = { op: OP_DELETE, key: w.key };
          payload = encodeDelete(w.key);
        } else if (w.kind === 'deleteRange') {
          rec = { op: OP_DELETE_RANGE, range: w.range };
          payload = encodeDeleteRange(w.range);
        } else {
          rec = { op: OP_CLEAR };
          payload = encodeClear();
        }
        this.pending.push({ kind: 'data', db, store: e.store, rec, payload });
      }
    }
  }

  private beginActive(): void {
    this.active++;
  }

  private endActive(): void {
    this.active--;
    if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async waitIdle(): Promise<void> {
    if (this.active === 0) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.idleWaiters.push(resolve);
        timer = setTimeout(
          () => reject(new Error(`IndexedDB transactions still running ${this.opts.idleTimeoutMs} ms after the crypto engine call returned`)),
          this.opts.idleTimeoutMs,
        );
      });
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- loading (HookOwner) ----

  beforeOp(binding: Binding, store: IdbObjectStore, need: Need): void {
    this.assertUsable(binding);
    try {
      this.load(binding, store, need);
    } catch (err) {
      // The engine turns the exception into an error of its own; keep ours (a damaged store
      // must end as a LocalStateError, exit code 8) for withLock to throw.
      if (err instanceof LocalStateError) this.loadError ??= err;
      throw err;
    }
  }

  private load(binding: Binding, store: IdbObjectStore, need: Need): void {
    const mem = this.storeMem(binding.dbName, store.name);
    if (mem.full || need.kind === 'none') return;
    const raw = rawStoreOfHandle(store);
    if (need.kind === 'all') {
      this.loadAll(binding.dbName, store.name, mem, raw);
      return;
    }
    const def = this.storeDef(binding.dbName, store.name);
    if (!mem.live) this.scan(binding.dbName, store.name, mem, def);
    if (mem.full) return;
    const e = mem.live!.entries.get(keyId(need.key));
    if (!e || e.inMemory) return;
    const fd = this.handleSync(def!.file).fd;
    const buf = Buffer.allocUnsafe(e.length);
    if (readSync(fd, buf, 0, e.length, e.offset) !== e.length) throw damaged(this.path(def!.file), `the record at byte ${e.offset} is cut short`);
    this.stats.bytesRead += e.length;
    this.loadRecord(raw, e.key, readOneFrame(buf, e.offset, this.path(def!.file)), e.offset, def!.file);
    e.inMemory = true;
  }

  private storeMem(db: string, store: string): StoreMem {
    const mem = this.dbs.get(db)?.stores.get(store);
    // Every store comes from the manifest (refresh) or from a createObjectStore seen here.
    if (!mem) throw new Error(`Bug: the crypto store does not know the object store ${db}/${store}`);
    return mem;
  }

  private storeDef(db: string, store: string): StoreDef | undefined {
    return this.manifest.state.dbs.get(db)?.stores.get(store);
  }

  /** Reads the log's committed records and notes where each key's current value is. */
  private scan(db: string, store: string, mem: StoreMem, def: StoreDef | undefined): Buffer | undefined {
    const live = new LiveMap();
    if (!def || def.end === FILE_HEADER_LEN) {
      mem.live = live;
      mem.full = true;
      return undefined;
    }
    const buf = this.readLog(def);
    this.stats.scans.push(`${db}/${store}`);
    for (const { rec, offset, length } of logRecords(buf.subarray(FILE_HEADER_LEN), FILE_HEADER_LEN, this.path(def.file))) {
      live.apply(rec, offset, length, false);
    }
    mem.live = live; // only once the whole log was read without damage
    return buf;
  }

  private loadAll(db: string, store: string, mem: StoreMem, raw: RawObjectStore): void {
    const def = this.storeDef(db, store);
    let buf = mem.live ? undefined : this.scan(db, store, mem, def);
    if (mem.full) return;
    for (const e of mem.live!.entries.values()) {
      if (e.inMemory) continue;
      buf ??= this.readLog(def!);
      const payload = readOneFrame(buf.subarray(e.offset, e.offset + e.length), e.offset, this.path(def!.file));
      this.loadRecord(raw, e.key, payload, e.offset, def!.file);
      e.inMemory = true;
    }
    mem.full = true;
  }

  private loadRecord(raw: RawObjectStore, key: IdbKey, payload: Buffer, offset: number, file: string): void {
    const rec = decodeRecord(payload, this.path(file), offset);
    if (rec.op !== OP_PUT || keyId(rec.key) !== keyId(key)) throw damaged(this.path(file), `the record at byte ${offset} is not the one expected`);
    raw.storeRecord({ key: rec.key, value: decodeValue(rec.valueBytes, this.path(file), offset) }, false);
    this.stats.recordsLoaded++;
  }

  /** The whole committed part of a log, header checked. */
  private readLog(def: StoreDef): Buffer {
    const fd = this.handleSync(def.file).fd;
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

  private path(file: string): string {
    return path.join(this.folder, file);
  }

  /** An open handle of a committed log (opened on first use, synchronously: hooks are). */
  private handleSync(file: string): FileHandle {
    const fh = this.handles.get(file);
    if (fh) return fh;
    throw new Error(`Bug: log ${file} was not opened before use`);
  }

  private async openLog(file: string): Promise<void> {
    if (this.handles.has(file)) return;
    try {
      this.handles.set(file, await open(this.path(file), 'r+'));
    } catch (err) {
      throw errorCode(err) === 'ENOENT'
        ? damaged(this.path(file), 'it is missing')
        : new LocalStateError(`Cannot open the crypto store file ${this.path(file)}: ${errorMessage(err)}`, { cause: err });
    }
  }

  private async closeLog(file: string): Promise<void> {
    const fh = this.handles.get(file);
    this.handles.delete(file);
    await fh?.close().catch(() => {});
  }

  // ---- refresh (lock entry) ----

  /** Reads what others committed and brings memory up to date. Returns whether anything changed. */
  private async refresh(): Promise<boolean> {
    if (!this.refreshedOnce) this.checkNoOrphanedData();
    const old = this.manifest.state;
    const first = !this.refreshedOnce;
    this.refreshedOnce = true;
    const read = await this.manifest.refresh();
    if (!read && !first) return false;
    const next = this.manifest.state;
    let changed = false;
    for (const [name, od] of old.dbs) {
      const nd = next.dbs.get(name);
      if (!nd || nd.no !== od.no || !sameSchema(od, nd)) {
        this.forgetDb(name);
        changed = true;
      }
    }
    for (const [name, nd] of next.dbs) {
      const mem = this.dbs.get(name);
      if (!mem) {
        await this.createInMemory(name, nd);
        changed = true;
        continue;
      }
      const od = old.dbs.get(name)!;
      for (const [storeName, ns] of nd.stores) {
        const os = od.stores.get(storeName)!;
        if (os.file === ns.file && os.end === ns.end) continue;
        changed = true;
        const sm = mem.stores.get(storeName)!;
        if (os.file !== ns.file) await this.resetStore(name, storeName, sm, os.file, ns);
        else await this.applyDelta(name, storeName, sm, ns, os.end);
      }
    }
    // Logs the process will read from now on are opened here, where asynchronous I/O is fine.
    for (const db of next.dbs.values()) for (const st of db.stores.values()) if (st.end > FILE_HEADER_LEN) await this.openLog(st.file);
    if (changed) {
      // Connections opened before are refused from now on. The engine caches state (an
      // outbound Megolm session, its next message index) in memory: a machine kept past a
      // change by another process would reuse that index and save its stale session over the
      // newer one. Refusing its connections turns that into an error instead.
      for (const mem of this.dbs.values()) mem.generation = ++this.generation;
    }
    return changed;
  }

  /**
   * A store folder without a manifest, but with logs in it, has lost its manifest: refuse it,
   * rather than start an empty store over keys that are still there.
   */
  private checkNoOrphanedData(): void {
    let entries: string[];
    try {
      entries = readdirSync(this.folder);
    } catch (err) {
      throw new LocalStateError(`Cannot read the crypto store folder ${this.folder}: ${errorMessage(err)}`, { cause: err });
    }
    if (!entries.includes(MANIFEST_NAME) && entries.some((e) => !e.startsWith('lock') && !e.endsWith('.tmp'))) {
      throw new LocalStateError(
        `The crypto store folder ${this.folder} holds data but no ${MANIFEST_NAME}: it is damaged. mx will not change it. ` +
          `Move it aside to start a new one (this device then loses the room keys it holds).`,
      );
    }
  }

  /** Forgets a database's in-memory copy; connections to it stop working. */
  private forgetDb(name: string): void {
    if (!this.dbs.delete(name)) return;
    detachDatabase(this.factory, name);
  }

  /** Creates the database in memory with the schema the manifest gives, and no records. */
  private async createInMemory(name: string, def: DbDef): Promise<void> {
    detachDatabase(this.factory, name);
    const plainOpen = Object.getPrototypeOf(this.factory).open as IdbFactory['open'];
    const db = await new Promise<IdbDatabase>((resolve, reject) => {
      // Not through this.factory.open: this connection is not bound, so nothing it does is
      // captured as a change.
      const req = plainOpen.call(this.factory, name, def.version);
      req.onupgradeneeded = () => {
        const conn = req.result as IdbDatabase;
        for (const [storeName, st] of def.stores) {
          const store = conn.createObjectStore(storeName, { keyPath: st.keyPath, autoIncrement: st.autoIncrement });
          for (const i of st.indexes) store.createIndex(i.name, i.keyPath, { unique: i.unique, multiEntry: i.multiEntry });
        }
      };
      req.onsuccess = () => resolve(req.result as IdbDatabase);
      req.onerror = () => reject(req.error as Error);
    });
    db.close();
    const stores = new Map<string, StoreMem>();
    for (const [storeName, st] of def.stores) {
      stores.set(storeName, st.end === FILE_HEADER_LEN ? { live: new LiveMap(), full: true } : { live: undefined, full: false });
    }
    this.dbs.set(name, { generation: ++this.generation, stores });
  }

  /** The store's log was replaced (compaction by another process): drop it from memory. */
  private async resetStore(db: string, store: string, mem: StoreMem, oldFile: string, def: StoreDef): Promise<void> {
    rawStore(this.factory, db, store)?.clear();
    if (def.end === FILE_HEADER_LEN) {
      mem.live = new LiveMap();
      mem.full = true;
    } else {
      mem.live = undefined;
      mem.full = false;
    }
    await this.closeLog(oldFile);
  }

  /** Applies the records another process appended to a log this process has scanned. */
  private async applyDelta(db: string, store: string, mem: StoreMem, def: StoreDef, from: number): Promise<void> {
    if (!mem.live) return; // not scanned: the next scan reads up to the new end
    await this.openLog(def.file);
    const fd = this.handleSync(def.file).fd;
    const buf = Buffer.allocUnsafe(def.end - from);
    if (readSync(fd, buf, 0, buf.length, from) !== buf.length) throw damaged(this.path(def.file), 'it is shorter than the manifest says');
    this.stats.bytesRead += buf.length;
    const raw = rawStore(this.factory, db, store);
    if (!raw) throw new Error(`Bug: ${db}/${store} is not in memory`);
    for (const { rec, offset, length } of logRecords(buf, from, this.path(def.file))) {
      // A key this process has not loaded stays on disk only; one it has is updated in memory.
      let inMemory = mem.full;
      if (rec.op === OP_PUT) {
        inMemory ||= mem.live.entries.get(keyId(rec.key))?.inMemory === true;
        if (inMemory) {
          raw.storeRecord({ key: rec.key, value: decodeValue(rec.valueBytes, this.path(def.file), offset) }, false);
          this.stats.recordsLoaded++;
        }
      } else if (rec.op === OP_DELETE) {
        raw.deleteRecord(rec.key);
      } else if (rec.op === OP_DELETE_RANGE) {
        raw.deleteRecord(rec.range);
      } else {
        raw.clear();
      }
      mem.live.apply(rec, offset, length, inMemory);
    }
  }

  // ---- flush (lock exit) ----

  private async flush(lock: HeldLock): Promise<void> {
    if (this.pending.length === 0) return;
    const started = performance.now();
    lock.assertHeld();
    const pending = this.pending;
    const { work, ops, targets, dropped, newDirs } = planFlush(this.manifest.state, pending);

    // Logs first, then the manifest record that commits them.
    try {
      await this.manifest.ensureExists();
      for (const dir of newDirs) ensurePrivateDir(this.path(dir));
      await Promise.all([...targets.values()].map((t) => this.writeTarget(t)));
      if (newDirs.size > 0) {
        await fsyncDir(this.folder);
        await Promise.all([...newDirs].map((d) => fsyncDir(this.path(d))));
      }
      lock.assertHeld();
      if (ops.length > 0) await this.manifest.append(this.writer, work, ops);
    } catch (err) {
      if (err instanceof LocalStateError) throw err;
      throw new LocalStateError(`Cannot save the crypto store ${this.folder}: ${errorMessage(err)}`, { cause: err });
    }
    this.pending = [];
    this.stats.flushes++;
    this.stats.lastFlushMs = performance.now() - started;

    // Our records are now at known offsets.
    for (const t of targets.values()) {
      const mem = this.dbs.get(t.db)?.stores.get(t.store);
      if (!mem?.live || work.dbs.get(t.db)?.stores.get(t.store)?.file !== t.file) continue;
      for (const r of t.recs) mem.live.apply(r.rec, t.base + r.rel, r.length, true);
    }
    for (const file of dropped) {
      await this.closeLog(file);
      await rm(this.path(file), { force: true }).catch(() => {});
    }

    for (const t of targets.values()) await this.maybeCompact(lock, t.db, t.store);
    if (this.manifest.size > this.opts.manifestRewriteBytes) await this.rewriteManifest();
  }

  private async writeTarget(t: AppendTarget): Promise<void> {
    const bytes = Buffer.concat(t.isNew ? [fileHeader('log'), ...t.frames] : t.frames);
    this.stats.bytesWritten += bytes.length;
    if (t.isNew) {
      const fh = await createPrivateFile(this.path(t.file));
      // 'w' opened it write-only; reopen for reading too once written.
      try {
        await writeAll(fh, bytes, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await this.openLog(t.file);
      return;
    }
    if (bytes.length === 0) return;
    await this.openLog(t.file);
    const fh = this.handleSync(t.file);
    const size = fstatSync(fh.fd).size;
    if (size < t.base) throw damaged(this.path(t.file), `it is shorter (${size} bytes) than the ${t.base} the manifest says are committed`);
    // Bytes past the committed end are from a flush that never committed (a kill -9).
    if (size > t.base) await fh.truncate(t.base);
    await writeAll(fh, bytes, t.base);
    await fh.datasync();
  }

  /** Rewrites a log that is mostly garbage: its live records, copied as they are, to a new file. */
  private async maybeCompact(lock: HeldLock, db: string, store: string): Promise<void> {
    const mem = this.dbs.get(db)?.stores.get(store);
    const dbDef = this.manifest.state.dbs.get(db);
    const def = dbDef?.stores.get(store);
    if (!mem?.live || !def || !dbDef) return;
    const live = mem.live.liveBytes;
    const garbage = def.end - FILE_HEADER_LEN - live;
    if (garbage <= this.opts.compactMinGarbageBytes || garbage <= live * this.opts.compactGarbageRatio) return;
    const old = this.readLog(def);
    const work = cloneState(this.manifest.state);
    const file = `${dbDef.dir}/${safeName(store)}-${work.nextNo++}.log`;
    const parts = [fileHeader('log')];
    const moves: [LiveEntry, number][] = [];
    let pos = FILE_HEADER_LEN;
    for (const e of mem.live.entries.values()) {
      parts.push(old.subarray(e.offset, e.offset + e.length));
      moves.push([e, pos]);
      pos += e.length;
    }
    const bytes = Buffer.concat(parts);
    try {
      const fh = await createPrivateFile(this.path(file));
      try {
        await writeAll(fh, bytes, 0);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsyncDir(this.path(dbDef.dir));
      lock.assertHeld();
      const op: ManifestOp = { op: 'file', db, store, file, end: pos };
      applyOp(work, op);
      await this.manifest.append(this.writer, work, [op]);
    } catch (err) {
      await rm(this.path(file), { force: true }).catch(() => {});
      if (err instanceof LocalStateError) throw err;
      throw new LocalStateError(`Cannot compact the crypto store file ${this.path(def.file)}: ${errorMessage(err)}`, { cause: err });
    }
    for (const [e, offset] of moves) e.offset = offset;
    this.stats.compactions++;
    this.stats.bytesWritten += bytes.length;
    await this.closeLog(def.file);
    await rm(this.path(def.file), { force: true }).catch(() => {});
    await this.openLog(file);
  }

  /** Replaces the manifest by a snapshot, and removes files no state refers to (crash leftovers). */
  private async rewriteManifest(): Promise<void> {
    await this.manifest.rewrite();
    this.stats.manifestRewrites++;
    const referenced = referencedFiles(this.manifest.state);
    const dirs = new Set([...this.manifest.state.dbs.values()].map((d) => d.dir));
    for (const entry of readdirSync(this.folder, { withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.tmp')) await rm(this.path(entry.name), { force: true }).catch(() => {});
      if (!entry.isDirectory()) continue;
      if (!dirs.has(entry.name)) {
        if (/-\d+$/.test(entry.name)) await rm(this.path(entry.name), { recursive: true, force: true }).catch(() => {});
        continue;
      }
      for (const f of readdirSync(this.path(entry.name))) {
        const rel = `${entry.name}/${f}`;
        if (f.endsWith('.log') && !referenced.has(rel)) await rm(this.path(rel), { force: true }).catch(() => {});
      }
    }
  }
}

/** Two database definitions have the same schema (ignoring log files and ends). */
function sameSchema(a: DbDef, b: DbDef): boolean {
  if (a.version !== b.version || a.stores.size !== b.stores.size) return false;
  for (const [name, sa] of a.stores) {
    const sb = b.stores.get(name);
    if (!sb || JSON.stringify([sa.keyPath, sa.autoIncrement, sortIndexes(sa)]) !== JSON.stringify([sb.keyPath, sb.autoIncrement, sortIndexes(sb)])) return false;
  }
  return true;
}

function sortIndexes(s: StoreDef) {
  return [...s.indexes].sort((x, y) => (x.name < y.name ? -1 : 1));
}


