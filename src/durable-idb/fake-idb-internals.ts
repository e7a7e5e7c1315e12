import { fakeIndexedDb } from './fake-idb.js';
import type { IdbDatabase, IdbFactory, IdbKey, IdbKeyRange, IdbObjectStore, IdbRequest } from './idb-types.js';

/**
 * The only place that reaches into fake-indexeddb's internals (its version is pinned exactly in
 * package.json for that reason; test/unit/crypto-fake-idb-internals.test.ts fails when they
 * move, and `checkFakeIndexedDbInternals` refuses to run on a layout it does not know).
 *
 * Why internals at all: records read from disk must be put into the in-memory database
 * without a transaction of their own. They are loaded on demand, from inside a call such as
 * `store.get(key)` of a transaction that may be read-only, and a record loaded that way is not
 * a change (the public API would make it one, and could not write in a read-only transaction).
 * Changes made by other processes are applied the same way between lock periods, when no
 * transaction is running. It is also faster than a put per record, which matters when a store
 * holds many thousands of room keys (the bench's 10,000-key figures).
 */

/** fake-indexeddb's ObjectStore (lib/ObjectStore.js): the records and indexes of one store. */
export interface RawObjectStore {
  storeRecord(record: { key: IdbKey; value: unknown }, noOverwrite: boolean, rollbackLog?: unknown): unknown;
  deleteRecord(key: IdbKey | IdbKeyRange, rollbackLog?: unknown): void;
  clear(rollbackLog?: unknown): void;
}

interface RawDatabase {
  version: number;
  rawObjectStores: Map<string, RawObjectStore>;
}

interface FactoryInternals {
  _databases: Map<string, RawDatabase>;
}

/** The raw store behind a store handle of any transaction. */
export function rawStoreOfHandle(store: IdbObjectStore): RawObjectStore {
  const raw = (store as unknown as { _rawObjectStore?: RawObjectStore })._rawObjectStore;
  if (!raw) throw internalsMoved('IDBObjectStore._rawObjectStore');
  return raw;
}

/** The raw store of a database in this factory, found without any connection. */
export function rawStore(factory: IdbFactory, dbName: string, storeName: string): RawObjectStore | undefined {
  return databases(factory).get(dbName)?.rawObjectStores.get(storeName);
}

function hasDatabase(factory: IdbFactory, dbName: string): boolean {
  return databases(factory).has(dbName);
}

/**
 * Forgets a database without the versionchange dance that deleteDatabase() does (which waits
 * for every open connection to close). Connections still open keep the old, now detached,
 * database; the next open() gets a new one.
 */
export function detachDatabase(factory: IdbFactory, dbName: string): void {
  databases(factory).delete(dbName);
}

function databases(factory: IdbFactory): Map<string, RawDatabase> {
  const map = (factory as unknown as FactoryInternals)._databases;
  if (!(map instanceof Map)) throw internalsMoved('IDBFactory._databases');
  return map;
}

function internalsMoved(what: string): Error {
  return new Error(
    `Bug: fake-indexeddb's internals have moved (${what} not found). ` +
      `mx needs the exact fake-indexeddb version it was built with.`,
  );
}

/**
 * Checks, on a throw-away database, that the internals used here exist and behave as expected:
 * a raw insert is seen by the public API and by indexes, a raw delete removes it, detaching
 * makes the next open() start afresh. Throws an Error naming what moved.
 */
export async function checkFakeIndexedDbInternals(): Promise<void> {
  const factory = new (fakeIndexedDb().IDBFactory)() as IdbFactory;
  const db = await openWith(factory, 'check', 1, (d) => {
    d.createObjectStore('s').createIndex('byName', 'name');
  });
  try {
    const raw = rawStore(factory, 'check', 's');
    if (!raw || typeof raw.storeRecord !== 'function' || typeof raw.deleteRecord !== 'function' || typeof raw.clear !== 'function') {
      throw internalsMoved('Database.rawObjectStores / ObjectStore.storeRecord, deleteRecord, clear');
    }
    raw.storeRecord({ key: 'k', value: { name: 'n' } }, false);
    const tx = db.transaction('s');
    const store = tx.objectStore('s');
    if (rawStoreOfHandle(store) !== raw) throw internalsMoved('IDBObjectStore._rawObjectStore');
    const byKey = await request(store.get('k'));
    const byIndex = await request(store.index('byName').get('n'));
    if ((byKey as { name?: string } | undefined)?.name !== 'n' || (byIndex as { name?: string } | undefined)?.name !== 'n') {
      throw internalsMoved('ObjectStore.storeRecord (a raw insert is not seen by get() or by an index)');
    }
    raw.deleteRecord('k');
    if ((await request(db.transaction('s').objectStore('s').get('k'))) !== undefined) {
      throw internalsMoved('ObjectStore.deleteRecord (a raw delete is still seen)');
    }
  } finally {
    db.close();
  }
  detachDatabase(factory, 'check');
  if (hasDatabase(factory, 'check') || (await factory.databases()).length !== 0) throw internalsMoved('IDBFactory._databases (detach)');
}

function openWith(factory: IdbFactory, name: string, version: number, upgrade: (db: IdbDatabase) => void): Promise<IdbDatabase> {
  return new Promise((resolve, reject) => {
    const req = factory.open(name, version);
    req.onupgradeneeded = () => upgrade(req.result as IdbDatabase);
    req.onsuccess = () => resolve(req.result as IdbDatabase);
    req.onerror = () => reject(req.error as Error);
  });
}

function request(req: IdbRequest): Promise<unknown> {
  return new Promise((resolve, reject) => {
    req.addEventListener('success', () => resolve(req.result));
    req.addEventListener('error', () => reject(req.error as Error));
  });
}
