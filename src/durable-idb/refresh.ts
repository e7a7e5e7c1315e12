import { readdirSync } from 'node:fs';
import { LocalStateError } from '../errors.js';
import { errorMessage } from '../fs-util.js';
import { detachDatabase, rawStore } from './fake-idb-internals.js';
import type { IdbDatabase, IdbFactory } from './idb-types.js';
import { unread, type InMemoryDbs, type StoreMem } from './in-memory.js';
import type { LogFiles } from './log-files.js';
import { FILE_HEADER_LEN, StoreDamaged } from './log-format.js';
import { MANIFEST_NAME, type DbDef, type ManifestFile, type StoreDef } from './manifest.js';
import type { PersistenceStats } from './persistent-idb.js';
import { decodeValue, keyId, logRecords, OP_DELETE, OP_DELETE_RANGE, OP_PUT } from './store-log.js';

/**
 * Lock entry: reads what other processes committed since this process last held the lock, and
 * brings the in-memory databases up to date with it, loading no more than this process had
 * loaded already.
 */
export class Refresher {
  private refreshedOnce = false;

  constructor(
    private readonly folder: string,
    private readonly factory: IdbFactory,
    private readonly manifest: ManifestFile,
    private readonly memory: InMemoryDbs,
    private readonly logs: LogFiles,
    private readonly stats: PersistenceStats,
  ) {}

  /** Reads what others committed and brings memory up to date. Returns whether anything changed. */
  async refresh(): Promise<boolean> {
    const first = !this.refreshedOnce;
    if (first) this.checkNoOrphanedData();
    const old = this.manifest.state;
    this.refreshedOnce = true;
    const read = await this.manifest.refresh();
    if (!read && !first) return false;
    const next = this.manifest.state;
    let changed = false;
    for (const [name, od] of old.dbs) {
      const nd = next.dbs.get(name);
      if (!nd || nd.no !== od.no || !sameSchema(od, nd)) {
        this.memory.forget(name);
        changed = true;
      }
    }
    for (const [name, nd] of next.dbs) {
      const mem = this.memory.dbs.get(name);
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
    for (const db of next.dbs.values()) for (const st of db.stores.values()) if (st.end > FILE_HEADER_LEN) await this.logs.open(st.file);
    if (changed) {
      // Connections opened before are refused from now on. The engine caches state (an
      // outbound Megolm session, its next message index) in memory: a machine kept past a
      // change by another process would reuse that index and save its stale session over the
      // newer one. Refusing its connections turns that into an error instead.
      for (const mem of this.memory.dbs.values()) mem.generation = this.memory.nextGeneration();
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
      throw new StoreDamaged(`The crypto store folder ${this.folder} holds data but no ${MANIFEST_NAME}: it is damaged. mx will not change it.`);
    }
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
    for (const [storeName, st] of def.stores) stores.set(storeName, unread(st));
    this.memory.dbs.set(name, { generation: this.memory.nextGeneration(), stores });
  }

  /** The store's log was replaced (compaction by another process): drop it from memory. */
  private async resetStore(db: string, store: string, mem: StoreMem, oldFile: string, def: StoreDef): Promise<void> {
    rawStore(this.factory, db, store)?.clear();
    Object.assign(mem, unread(def));
    await this.logs.close(oldFile);
  }

  /** Applies the records another process appended to a log this process has scanned. */
  private async applyDelta(db: string, store: string, mem: StoreMem, def: StoreDef, from: number): Promise<void> {
    if (!mem.live) return; // not scanned: the next scan reads up to the new end
    await this.logs.open(def.file);
    const buf = this.logs.readAt(def.file, from, def.end - from, 'it is shorter than the manifest says');
    const raw = rawStore(this.factory, db, store);
    if (!raw) throw new Error(`Bug: ${db}/${store} is not in memory`);
    for (const { rec, offset, length } of logRecords(buf, from, this.logs.path(def.file))) {
      // A key this process has not loaded stays on disk only; one it has is updated in memory.
      let inMemory = mem.full;
      if (rec.op === OP_PUT) {
        inMemory ||= mem.live.entries.get(keyId(rec.key))?.inMemory === true;
        if (inMemory) {
          raw.storeRecord({ key: rec.key, value: decodeValue(rec.valueBytes, this.logs.path(def.file), offset) }, false);
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
