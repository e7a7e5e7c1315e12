import { detachDatabase, rawStoreOfHandle, type RawObjectStore } from './fake-idb-internals.js';
import type { Need } from './idb-hooks.js';
import type { IdbFactory, IdbKey, IdbObjectStore } from './idb-types.js';
import { damaged, FILE_HEADER_LEN, readOneFrame } from './log-format.js';
import type { LogFiles } from './log-files.js';
import type { ManifestFile, StoreDef } from './manifest.js';
import type { PersistenceStats } from './persistent-idb.js';
import { decodeRecord, decodeValue, keyId, LiveMap, logRecords, OP_PUT } from './store-log.js';

/** An object store as this process has it in memory. */
export interface StoreMem {
  /** The log's keys, once scanned. */
  live: LiveMap | undefined;
  /** Every record is in memory (no need to look at the log again). */
  full: boolean;
}

export interface DbMem {
  /** Connections opened under an older generation are refused (see Refresher.refresh). */
  generation: number;
  stores: Map<string, StoreMem>;
}

/** A store whose committed log holds `def.end` bytes, none of them read yet. */
export function unread(def: StoreDef): StoreMem {
  // An empty log has nothing to read: the store is already complete in memory.
  return def.end === FILE_HEADER_LEN ? { live: new LiveMap(), full: true } : { live: undefined, full: false };
}

/**
 * The databases of the persistent factory as this process holds them in memory, and the lazy
 * loading of their object stores (see persistent-idb.ts): a store's log is scanned for its keys
 * the first time an operation touches the store, then single records or the whole store are
 * read into fake-indexeddb's in-memory store as operations need them.
 */
export class InMemoryDbs {
  readonly dbs = new Map<string, DbMem>();
  private generation = 0;

  constructor(
    private readonly factory: IdbFactory,
    private readonly manifest: ManifestFile,
    private readonly logs: LogFiles,
    private readonly stats: PersistenceStats,
  ) {}

  nextGeneration(): number {
    return ++this.generation;
  }

  /** Forgets a database's in-memory copy; connections to it stop working. */
  forget(name: string): void {
    if (!this.dbs.delete(name)) return;
    detachDatabase(this.factory, name);
  }

  /** Brings into memory what an operation on `store` needs (called before it runs). */
  load(db: string, store: IdbObjectStore, need: Need): void {
    const mem = this.storeMem(db, store.name);
    if (mem.full || need.kind === 'none') return;
    const raw = rawStoreOfHandle(store);
    if (need.kind === 'all') {
      this.loadAll(db, store.name, mem, raw);
      return;
    }
    const def = this.storeDef(db, store.name);
    if (!mem.live) this.scan(db, store.name, mem, def);
    if (mem.full) return;
    const e = mem.live!.entries.get(keyId(need.key));
    if (!e || e.inMemory) return;
    const buf = this.logs.readAt(def!.file, e.offset, e.length, `the record at byte ${e.offset} is cut short`);
    this.loadRecord(raw, e.key, readOneFrame(buf, e.offset, this.logs.path(def!.file)), e.offset, def!.file);
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
    const buf = this.logs.readCommitted(def);
    this.stats.scans.push(`${db}/${store}`);
    for (const { rec, offset, length } of logRecords(buf.subarray(FILE_HEADER_LEN), FILE_HEADER_LEN, this.logs.path(def.file))) {
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
      buf ??= this.logs.readCommitted(def!);
      const payload = readOneFrame(buf.subarray(e.offset, e.offset + e.length), e.offset, this.logs.path(def!.file));
      this.loadRecord(raw, e.key, payload, e.offset, def!.file);
      e.inMemory = true;
    }
    mem.full = true;
  }

  private loadRecord(raw: RawObjectStore, key: IdbKey, payload: Buffer, offset: number, file: string): void {
    const rec = decodeRecord(payload, this.logs.path(file), offset);
    if (rec.op !== OP_PUT || keyId(rec.key) !== keyId(key)) throw damaged(this.logs.path(file), `the record at byte ${offset} is not the one expected`);
    raw.storeRecord({ key: rec.key, value: decodeValue(rec.valueBytes, this.logs.path(file), offset) }, false);
    this.stats.recordsLoaded++;
  }
}
