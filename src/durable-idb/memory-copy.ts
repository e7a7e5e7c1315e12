/**
 * A copy of a factory's databases in a plain in-memory IndexedDB (fake-indexeddb's own, which
 * nothing persists): for code that must work on the data as it is now, for minutes, without
 * holding the folder's lock, and whose changes must never reach the folder (a verification's
 * engine: src/crypto/verification/fork.ts). Made through the public IndexedDB API, inside a
 * lock period of the source, so it is one consistent state.
 */
import { fakeIndexedDb } from './fake-idb.js';
import type { IdbDatabase, IdbFactory, IdbObjectStore, IdbRequest, KeyPath } from './idb-types.js';

interface StoreCopy {
  name: string;
  keyPath: KeyPath;
  autoIncrement: boolean;
  indexes: { name: string; keyPath: string | string[]; unique: boolean; multiEntry: boolean }[];
  keys: unknown[];
  values: unknown[];
}

type ReadableStore = IdbObjectStore & { getAll(): IdbRequest; getAllKeys(): IdbRequest };

/**
 * Copies every database of `source` into a new in-memory factory. `leaveEmpty(db, store)`:
 * object stores copied with their schema but without their records (what the copy's user
 * never reads: it saves reading a large store).
 */
export async function copyToMemory(source: IdbFactory, leaveEmpty: (db: string, store: string) => boolean = () => false): Promise<IdbFactory> {
  const target = new (fakeIndexedDb().IDBFactory)() as unknown as IdbFactory;
  for (const { name, version } of await source.databases()) {
    const from = await openDatabase(source, name);
    const stores = await readStores(from, (store) => leaveEmpty(name, store));
    from.close();
    const to = await openDatabase(target, name, version, (db) => {
      for (const store of stores) {
        const made = db.createObjectStore(store.name, { keyPath: store.keyPath, autoIncrement: store.autoIncrement });
        for (const index of store.indexes) made.createIndex(index.name, index.keyPath, { unique: index.unique, multiEntry: index.multiEntry });
      }
    });
    await writeStores(to, stores);
    to.close();
  }
  return target;
}

async function readStores(db: IdbDatabase, leaveEmpty: (store: string) => boolean): Promise<StoreCopy[]> {
  const names = [...db.objectStoreNames];
  if (names.length === 0) return [];
  const tx = db.transaction(names, 'readonly');
  return Promise.all(
    names.map(async (name) => {
      const store = tx.objectStore(name) as ReadableStore;
      const indexes = [...store.indexNames].map((indexName) => {
        const { keyPath, unique, multiEntry } = store.index(indexName);
        return { name: indexName, keyPath, unique, multiEntry };
      });
      const empty = leaveEmpty(name);
      const [keys, values] = empty ? [[], []] : await Promise.all([result<unknown[]>(store.getAllKeys()), result<unknown[]>(store.getAll())]);
      return { name, keyPath: store.keyPath, autoIncrement: store.autoIncrement, indexes, keys, values };
    }),
  );
}

async function writeStores(db: IdbDatabase, stores: StoreCopy[]): Promise<void> {
  if (stores.length === 0) return;
  const tx = db.transaction(stores.map((s) => s.name), 'readwrite');
  const done = completion(tx);
  for (const store of stores) {
    const to = tx.objectStore(store.name);
    // A store with a key path takes its keys from the values; one without gets them apart.
    store.values.forEach((value, i) => (store.keyPath === null ? to.put(value, store.keys[i]) : to.put(value)));
  }
  await done;
}

function openDatabase(factory: IdbFactory, name: string, version?: number, upgrade?: (db: IdbDatabase) => void): Promise<IdbDatabase> {
  return new Promise((resolve, reject) => {
    const request = version === undefined ? factory.open(name) : factory.open(name, version);
    request.onupgradeneeded = () => upgrade?.(request.result as IdbDatabase);
    request.onsuccess = () => resolve(request.result as IdbDatabase);
    request.onerror = () => reject(request.error);
  });
}

function result<T>(request: IdbRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    request.addEventListener('success', () => resolve(request.result as T));
    request.addEventListener('error', () => reject(request.error));
  });
}

function completion(tx: { addEventListener(type: string, listener: (event: unknown) => void): void; error: unknown }): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.addEventListener('complete', () => resolve());
    tx.addEventListener('abort', () => reject(tx.error ?? new Error('the copy\'s transaction was aborted')));
    tx.addEventListener('error', () => reject(tx.error));
  });
}
