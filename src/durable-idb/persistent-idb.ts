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
 *   <folder>/lock, lock.owner         the inter-process lock (src/file-lock.ts)
 * None of them, nor the folder and the one it is in, is used through a symbolic link (fs-util.ts).
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
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fakeIndexedDb, loadFakeIndexedDb } from './fake-idb.js';
import { LocalStateError, type MxError } from '../errors.js';
import { ensurePrivateDir } from '../fs-util.js';
import { acquireLock, preloadLockfile, type HeldLock, type LockTarget } from '../file-lock.js';
import { cannotSave, Flusher } from './flush.js';
import { installHooks, type Binding, type CapturedWrite, type HookOwner, type Need, type SchemaChange } from './idb-hooks.js';
import type { IdbFactory, IdbObjectStore, IdbTransaction } from './idb-types.js';
import { InMemoryDbs } from './in-memory.js';
import { LogFiles } from './log-files.js';
import { MANIFEST_NAME, ManifestFile } from './manifest.js';
import { Refresher } from './refresh.js';
import { TransactionCapture } from './tx-capture.js';

export interface PersistentIndexedDbOptions {
  /** A lock not refreshed for this long is taken over (kill -9). Minimum 2000. */
  staleMs?: number;
  /** Give up waiting for the lock after this long. */
  lockTimeoutMs?: number;
  /** Told once when a wait for the lock has lasted a second (a lock left by a killed process). */
  onLockWait?: (message: string) => void;
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
  /**
   * A store was saved in this folder before this instance opened it (its manifest exists,
   * possibly empty): what a lost account is told apart by from a folder never used.
   */
  readonly existedBefore: boolean;
  /** The IDBFactory (fake-indexeddb) whose databases persist in `folder`. */
  readonly factory: IdbFactory;
  /** Makes `factory` globalThis.indexedDB and defines the IDB* classes, as the engine needs. */
  installGlobals(): void;
  withLock<T>(fn: (changedByOthers: boolean) => Promise<T>): Promise<T>;
  /**
   * Inside withLock: makes what the period committed so far durable now, as its end would, and
   * goes on holding the lock. Called before anything made from that state leaves the process
   * (a key upload, an Olm-encrypted to-device message): a crash after it was sent then finds
   * the state that made it on disk.
   */
  checkpoint(): Promise<void>;
  /**
   * Inside withLock: nothing of this period may be saved (the caller found the engine's state
   * wrong, such as a store that lost its account and got a new one): the period ends without a
   * flush, and `error` is what this instance throws from then on.
   */
  refuseToSave(error: MxError): void;
  /**
   * Starts the next lock period now (takes the lock, reads others' changes), for a withLock
   * that will come soon: the waiting and reading overlap with what the caller does meanwhile
   * (the engine's WebAssembly compile). The lock is held from then on.
   */
  lockAhead(): void;
  /** Waits for a running withLock, then closes files. Close OlmMachines (inside withLock) first. */
  close(): Promise<void>;
  readonly stats: PersistenceStats;
}

export async function openPersistentIndexedDb(folder: string, options: PersistentIndexedDbOptions = {}): Promise<PersistentIndexedDb> {
  const folderPath = path.resolve(folder);
  // <state>/crypto/<id> (src/crypto/store-ref.ts): the store's folder and the one it is in are mx's own,
  // and must be real folders of this user; the state folder above may be a link. Checked first,
  // before this function's first await: a caller that reads files of the store meanwhile
  // (CryptoSession.open) meets this error, the one that says what is wrong, first.
  ensurePrivateDir(folderPath, path.dirname(path.dirname(folderPath)));
  await loadFakeIndexedDb();
  installHooks();
  preloadLockfile();
  return new PersistentIdb(folderPath, options);
}

/** The inter-process lock of the store in `folder`: its `lock` folder, for the MANIFEST. */
export function storeLock(folder: string, timing: Pick<LockTarget, 'staleMs' | 'timeoutMs' | 'onWait'>): LockTarget {
  return {
    what: `the crypto store ${folder}`,
    file: path.join(folder, MANIFEST_NAME),
    lockPath: path.join(folder, 'lock'),
    unsaved: "this command's crypto changes were not saved",
    ...timing,
  };
}

/** Defines the IndexedDB globals the WebAssembly glue uses (`instanceof IDBDatabase`, ...). */
function installIndexedDbGlobals(factory: IdbFactory): void {
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

const DEFAULTS = {
  staleMs: 10_000,
  lockTimeoutMs: 30_000,
  compactMinGarbageBytes: 256 * 1024,
  compactGarbageRatio: 1,
  manifestRewriteBytes: 256 * 1024,
  idleTimeoutMs: 30_000,
};

/**
 * Lock periods and the guards of the contract above. The work is done by its parts: capturing
 * committed changes (tx-capture.ts), loading logs into memory (in-memory.ts, log-files.ts),
 * taking in other processes' changes at lock entry (refresh.ts), and writing at lock exit
 * (flush.ts).
 */
class PersistentIdb implements PersistentIndexedDb, HookOwner {
  readonly factory: IdbFactory;
  readonly existedBefore: boolean;
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
  private readonly opts: typeof DEFAULTS & Pick<PersistentIndexedDbOptions, 'onLockWait'>;
  private readonly manifest: ManifestFile;
  private readonly logs: LogFiles;
  private readonly memory: InMemoryDbs;
  private readonly capture: TransactionCapture;
  private readonly refresher: Refresher;
  private readonly flusher: Flusher;
  private inLock = false;
  private queue: Promise<void> = Promise.resolve();
  private broken: Error | undefined;
  /**
   * A damaged log found while loading inside fn, or a period refused (refuseToSave): nothing
   * may be written after that, and this is what the instance throws.
   */
  private loadError: MxError | undefined;
  private closed = false;
  /** A lock period's start taken ahead of its withLock (lockAhead). */
  private ahead: Promise<{ lock: HeldLock; changed: boolean }> | undefined;
  /** The lock of the running period, for its checkpoints. */
  private held: HeldLock | undefined;

  constructor(
    readonly folder: string,
    options: PersistentIndexedDbOptions,
  ) {
    this.opts = { ...DEFAULTS, ...options };
    this.opts.staleMs = Math.max(this.opts.staleMs, 2000);
    this.manifest = new ManifestFile(folder);
    this.existedBefore = existsSync(this.manifest.file);
    this.factory = new (fakeIndexedDb().IDBFactory)() as IdbFactory;
    this.logs = new LogFiles(folder, this.stats);
    this.memory = new InMemoryDbs(this.factory, this.manifest, this.logs, this.stats);
    this.capture = new TransactionCapture(this, this.memory, (binding) => this.assertUsable(binding), this.opts.idleTimeoutMs);
    this.refresher = new Refresher(folder, this.factory, this.manifest, this.memory, this.logs, this.stats);
    this.flusher = new Flusher(folder, this.manifest, this.memory, this.logs, this.stats, this.opts);
    const plainOpen = this.factory.open;
    const plainDelete = this.factory.deleteDatabase;
    const factory = this.factory as { open: IdbFactory['open']; deleteDatabase: IdbFactory['deleteDatabase'] };
    factory.open = (name: string, version?: number) => {
      this.assertUsable();
      const req = version === undefined ? plainOpen.call(this.factory, name) : plainOpen.call(this.factory, name, version);
      this.capture.trackOpen(name, req);
      return req;
    };
    factory.deleteDatabase = (name: string) => {
      this.assertUsable();
      const req = plainDelete.call(this.factory, name);
      this.capture.trackDelete(name, req);
      return req;
    };
  }

  installGlobals(): void {
    installIndexedDbGlobals(this.factory);
  }

  withLock<T>(fn: (changedByOthers: boolean) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => this.locked(fn));
    this.queue = run.then(
      () => {},
      () => {},
    );
    return run;
  }

  lockAhead(): void {
    if (this.ahead || this.inLock) return;
    this.ahead = this.enter();
    this.ahead.catch(() => {}); // thrown by the withLock that uses it
  }

  /** Takes the lock and reads what others committed since: the start of a lock period. */
  private async enter(): Promise<{ lock: HeldLock; changed: boolean }> {
    this.assertOpen();
    const lock = await acquireLock(storeLock(this.folder, { staleMs: this.opts.staleMs, timeoutMs: this.opts.lockTimeoutMs, onWait: this.opts.onLockWait }));
    try {
      return { lock, changed: await this.refresher.refresh() };
    } catch (err) {
      await lock.release();
      throw this.breakWith(err);
    }
  }

  private async locked<T>(fn: (changedByOthers: boolean) => Promise<T>): Promise<T> {
    const ahead = this.ahead;
    this.ahead = undefined;
    const { lock, changed } = await (ahead ?? this.enter());
    try {
      this.inLock = true;
      this.held = lock;
      let outcome: { ok: true; value: T } | { ok: false; error: unknown };
      try {
        outcome = { ok: true, value: await fn(changed) };
      } catch (error) {
        outcome = { ok: false, error };
      }
      try {
        await this.capture.waitIdle();
        // Nothing may touch the databases while their changes are written.
        this.inLock = false;
        await this.saveCommitted(lock);
      } catch (err) {
        throw this.breakWith(err, outcome.ok ? undefined : outcome.error);
      }
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    } finally {
      this.inLock = false;
      this.held = undefined;
      await lock.release();
    }
  }

  async checkpoint(): Promise<void> {
    const lock = this.held;
    if (!this.inLock || !lock) throw new Error('Bug: a crypto store checkpoint outside withLock()');
    try {
      await this.capture.waitIdle();
      await this.saveCommitted(lock);
    } catch (err) {
      throw this.breakWith(err);
    }
  }

  refuseToSave(error: MxError): void {
    this.loadError ??= error;
  }

  /** Appends what the finished transactions committed, and fsyncs; unless the period must not save. */
  private async saveCommitted(lock: HeldLock): Promise<void> {
    if (this.loadError) throw this.loadError;
    await this.flusher.flush(lock, this.capture.takeCommitted());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead) await (await ahead.catch(() => undefined))?.lock.release();
    this.closed = true;
    await this.logs.closeAll();
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
    if (binding && binding.generation !== this.memory.dbs.get(binding.dbName)?.generation) {
      throw new Error(
        `Bug: a connection to ${binding.dbName} opened before another process changed the crypto store was used; ` +
          `re-create the OlmMachine when withLock() reports changes`,
      );
    }
  }

  private breakWith(err: unknown, fnError?: unknown): Error {
    const e = cannotSave(this.folder, err);
    if (fnError !== undefined && e.cause === undefined) (e as { cause?: unknown }).cause = fnError;
    this.broken ??= e;
    return e;
  }

  // ---- HookOwner: what the IndexedDB hooks (idb-hooks.ts) call ----

  onTransaction(binding: Binding, tx: IdbTransaction): void {
    this.capture.onTransaction(binding, tx);
  }

  beforeOp(binding: Binding, store: IdbObjectStore, need: Need): void {
    this.assertUsable(binding);
    try {
      this.memory.load(binding.dbName, store, need);
    } catch (err) {
      // The engine turns the exception into an error of its own; keep ours (a damaged store
      // must end as a LocalStateError, exit code 8) for withLock to throw.
      if (err instanceof LocalStateError) this.loadError ??= err;
      throw err;
    }
  }

  onWrite(store: IdbObjectStore, write: CapturedWrite): void {
    this.capture.onWrite(store, write);
  }

  onSchemaChange(binding: Binding, tx: IdbTransaction, change: SchemaChange): void {
    this.capture.onSchemaChange(binding, tx, change);
  }
}
