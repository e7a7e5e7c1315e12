import type { Committed } from './flush-plan.js';
import { bindings, type Binding, type CapturedWrite, type HookOwner, type SchemaChange } from './idb-hooks.js';
import type { IdbDatabase, IdbKey, IdbObjectStore, IdbOpenRequest, IdbTransaction } from './idb-types.js';
import type { InMemoryDbs } from './in-memory.js';
import { encodeClear, encodeDelete, encodeDeleteRange, encodePut, LiveMap, OP_CLEAR, OP_DELETE, OP_DELETE_RANGE, OP_PUT, type LogRecord } from './store-log.js';

/** One change of a transaction, in call order. */
type TxEntry =
  | { kind: 'write'; store: string; write: CapturedWrite }
  | { kind: 'schema'; change: SchemaChange }
  | { kind: 'version'; version: number };

interface TxBuffer {
  binding: Binding;
  entries: TxEntry[];
  /** Undoes, on abort, what a schema change did to the in-memory databases. */
  undo: (() => void)[];
}

/**
 * Follows the connections, transactions and open/delete requests of the persistent factory:
 * keeps what each transaction changed until it commits (an aborted one changed nothing), then
 * queues its changes, in commit order, for the next flush. It also counts what is still
 * running, so that the flush can wait until it has finished.
 */
export class TransactionCapture {
  private readonly txBuffers = new WeakMap<object, TxBuffer>();
  private committed: Committed[] = [];
  /** Transactions and open/delete requests not finished yet. */
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly owner: HookOwner,
    private readonly memory: InMemoryDbs,
    /** Throws when the connection may not be used now (outside withLock, or stale). */
    private readonly assertUsable: (binding: Binding) => void,
    private readonly idleTimeoutMs: number,
  ) {}

  /** The changes committed since the last call, for the flush. */
  takeCommitted(): Committed[] {
    const committed = this.committed;
    this.committed = [];
    return committed;
  }

  trackOpen(name: string, req: IdbOpenRequest): void {
    this.beginActive();
    req.addEventListener('upgradeneeded', (event) => {
      const db = req.result as IdbDatabase;
      const tx = req.transaction!;
      // A database this process creates (nothing of it on disk) gets its in-memory state here.
      const isNew = !this.memory.dbs.has(name);
      const binding = this.bind(name, db);
      binding.versionchange = tx;
      this.onTransaction(binding, tx);
      const buffer = this.txBuffers.get(tx)!;
      buffer.entries.push({ kind: 'version', version: (event as { newVersion: number }).newVersion });
      if (isNew) buffer.undo.push(() => this.memory.dbs.delete(name));
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

  trackDelete(name: string, req: IdbOpenRequest): void {
    this.beginActive();
    req.addEventListener('success', () => {
      this.committed.push({ kind: 'dropDb', db: name });
      this.memory.forget(name);
      this.endActive();
    });
    req.addEventListener('error', () => this.endActive());
  }

  private bind(name: string, db: IdbDatabase): Binding {
    let mem = this.memory.dbs.get(name);
    const binding: Binding = { owner: this.owner, dbName: name, generation: mem?.generation ?? this.memory.nextGeneration() };
    if (!mem) {
      mem = { generation: binding.generation, stores: new Map() };
      this.memory.dbs.set(name, mem);
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

  onWrite(store: IdbObjectStore, write: CapturedWrite): void {
    this.bufferOf(store.transaction).entries.push({ kind: 'write', store: store.name, write });
  }

  onSchemaChange(binding: Binding, tx: IdbTransaction, change: SchemaChange): void {
    const buffer = this.bufferOf(tx);
    buffer.entries.push({ kind: 'schema', change });
    const db = this.memory.dbs.get(binding.dbName)!;
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
        this.committed.push({ kind: 'version', db, version: e.version });
      } else if (e.kind === 'schema') {
        this.committed.push({ kind: 'schema', db, change: e.change });
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
        this.committed.push({ kind: 'data', db, store: e.store, rec, payload });
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

  /** Waits until every transaction and request has finished (all commits are queued). */
  async waitIdle(): Promise<void> {
    if (this.active === 0) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.idleWaiters.push(resolve);
        timer = setTimeout(
          () => reject(new Error(`IndexedDB transactions still running ${this.idleTimeoutMs} ms after the crypto engine call returned`)),
          this.idleTimeoutMs,
        );
      });
    } finally {
      clearTimeout(timer);
    }
  }
}
