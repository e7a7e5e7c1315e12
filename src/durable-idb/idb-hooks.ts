import v8 from 'node:v8';
import { fakeIndexedDb } from './fake-idb.js';
import type { IdbCursor, IdbDatabase, IdbIndex, IdbKey, IdbKeyRange, IdbObjectStore, IdbRequest, IdbTransaction, KeyPath } from './idb-types.js';
import { canonicalKey, isKeyRange } from './store-log.js';

/**
 * Observes, through the public IndexedDB API of fake-indexeddb, what code running in this
 * process (the Rust crypto store) does to databases opened through a persistent factory:
 *
 * - before an operation reads or writes an object store, what of its on-disk data must be in
 *   memory first (one key, or all of it), so that stores are loaded lazily and in part;
 * - every write (put, add, delete, clear, cursor update/delete) and schema change, so that the
 *   changes of committed transactions can be appended to disk.
 *
 * The methods are patched on the shared prototypes once per process; a call on a connection
 * that no persistent factory opened passes straight through. Only public, specified behaviour
 * is relied on here: a request's `result` is the effective key of a put, `error` is set when it
 * failed, `complete`/`abort` on the transaction tell which changes happened.
 */

/** What an operation needs in memory before it runs. */
export type Need = { kind: 'key'; key: IdbKey } | { kind: 'all' } | { kind: 'none' };

export type CapturedWrite =
  | { kind: 'put'; request: IdbRequest; valueBytes: Buffer }
  | { kind: 'delete'; request: IdbRequest; key: IdbKey }
  | { kind: 'deleteRange'; request: IdbRequest; range: IdbKeyRange }
  | { kind: 'clear'; request: IdbRequest };

export type SchemaChange =
  | { kind: 'store'; name: string; keyPath: KeyPath; autoIncrement: boolean }
  | { kind: 'dropStore'; name: string }
  | { kind: 'index'; store: string; name: string; keyPath: string | string[]; unique: boolean; multiEntry: boolean }
  | { kind: 'dropIndex'; store: string; name: string };

/** Implemented by the persistence layer; every method may throw to refuse the operation. */
export interface HookOwner {
  onTransaction(binding: Binding, tx: IdbTransaction): void;
  beforeOp(binding: Binding, store: IdbObjectStore, need: Need): void;
  onWrite(store: IdbObjectStore, write: CapturedWrite): void;
  onSchemaChange(binding: Binding, tx: IdbTransaction, change: SchemaChange): void;
}

export interface Binding {
  owner: HookOwner;
  dbName: string;
  /** The owner's generation of this database when the connection was opened. */
  generation: number;
  /** The running upgrade transaction of this connection, if any. */
  versionchange?: IdbTransaction;
}

/** Connections opened through a persistent factory. */
export const bindings = new WeakMap<object, Binding>();

type AnyFn = (this: unknown, ...args: unknown[]) => unknown;

let installed = false;

export function installHooks(): void {
  if (installed) return;
  installed = true;
  const Store = (fakeIndexedDb().IDBObjectStore as { prototype: Record<string, AnyFn> }).prototype;
  const Cursor = (fakeIndexedDb().IDBCursor as { prototype: Record<string, AnyFn> }).prototype;
  const Database = (fakeIndexedDb().IDBDatabase as { prototype: Record<string, AnyFn> }).prototype;
  const Index = (fakeIndexedDb().IDBIndex as { prototype: object }).prototype;

  const storeBinding = (store: IdbObjectStore) => bindings.get(store.transaction.db);
  // Looking at a store's indexes must not count as using them (which loads the whole store).
  const plainIndex = Store.index!;
  const hasUniqueIndex = (store: IdbObjectStore): boolean => {
    for (const name of Array.from(store.indexNames)) if ((plainIndex.call(store, name) as IdbIndex).unique) return true;
    return false;
  };

  // Reads: a key, or everything (ranges, cursors, counts and indexes need the whole store).
  for (const name of ['get', 'getKey']) {
    wrap(Store, name, (orig) =>
      function (this: IdbObjectStore, ...args: unknown[]) {
        const b = storeBinding(this);
        if (b) b.owner.beforeOp(b, this, needFor(args[0]));
        return orig.apply(this, args);
      },
    );
  }
  for (const name of ['getAll', 'getAllKeys', 'getAllRecords', 'count', 'openCursor', 'openKeyCursor', 'index']) {
    wrap(Store, name, (orig) =>
      function (this: IdbObjectStore, ...args: unknown[]) {
        const b = storeBinding(this);
        if (b) b.owner.beforeOp(b, this, { kind: 'all' });
        return orig.apply(this, args);
      },
    );
  }

  for (const name of ['put', 'add']) {
    wrap(Store, name, (orig) =>
      function (this: IdbObjectStore, ...args: unknown[]) {
        const b = storeBinding(this);
        if (!b) return orig.apply(this, args);
        // The old value of the key must be in memory: an overwrite updates the indexes from it,
        // add() checks that it does not exist. A unique index is checked against every record.
        const key = args.length > 1 ? canonicalKey(args[1]) : keyFromValue(args[0], this.keyPath);
        const need: Need = key === undefined || hasUniqueIndex(this) ? { kind: 'all' } : { kind: 'key', key };
        b.owner.beforeOp(b, this, need);
        const request = orig.apply(this, args) as IdbRequest;
        // The value as given now; the caller may change the object once put() returns.
        b.owner.onWrite(this, { kind: 'put', request, valueBytes: v8.serialize(args[0]) });
        return request;
      },
    );
  }

  wrap(Store, 'delete', (orig) =>
    function (this: IdbObjectStore, ...args: unknown[]) {
      const b = storeBinding(this);
      if (!b) return orig.apply(this, args);
      const query = args[0];
      b.owner.beforeOp(b, this, needFor(query));
      const request = orig.apply(this, args) as IdbRequest;
      if (isKeyRange(query)) b.owner.onWrite(this, { kind: 'deleteRange', request, range: query });
      else b.owner.onWrite(this, { kind: 'delete', request, key: canonicalKey(query)! });
      return request;
    },
  );

  wrap(Store, 'clear', (orig) =>
    function (this: IdbObjectStore, ...args: unknown[]) {
      const b = storeBinding(this);
      if (!b) return orig.apply(this, args);
      // Loaded first: the in-memory store must end up equal to the disk's, and a clear() of a
      // store only partly in memory would leave records on disk that memory does not know of
      // until the flush.
      b.owner.beforeOp(b, this, { kind: 'all' });
      const request = orig.apply(this, args) as IdbRequest;
      b.owner.onWrite(this, { kind: 'clear', request });
      return request;
    },
  );

  // Cursors exist only after openCursor(), which loaded the whole store.
  wrap(Cursor, 'update', (orig) =>
    function (this: IdbCursor, ...args: unknown[]) {
      const store = cursorStore(this);
      const b = storeBinding(store);
      if (!b) return orig.apply(this, args);
      b.owner.beforeOp(b, store, { kind: 'all' });
      const request = orig.apply(this, args) as IdbRequest;
      b.owner.onWrite(store, { kind: 'put', request, valueBytes: v8.serialize(args[0]) });
      return request;
    },
  );
  wrap(Cursor, 'delete', (orig) =>
    function (this: IdbCursor, ...args: unknown[]) {
      const store = cursorStore(this);
      const b = storeBinding(store);
      if (!b) return orig.apply(this, args);
      b.owner.beforeOp(b, store, { kind: 'all' });
      const key = canonicalKey(this.primaryKey)!;
      const request = orig.apply(this, args) as IdbRequest;
      b.owner.onWrite(store, { kind: 'delete', request, key });
      return request;
    },
  );

  wrap(Database, 'transaction', (orig) =>
    function (this: IdbDatabase, ...args: unknown[]) {
      const tx = orig.apply(this, args) as IdbTransaction;
      const b = bindings.get(this);
      if (b) {
        try {
          b.owner.onTransaction(b, tx);
        } catch (err) {
          abortQuietly(tx);
          throw err;
        }
      }
      return tx;
    },
  );

  // Schema changes (only possible in an upgrade transaction).
  wrap(Database, 'createObjectStore', (orig) =>
    function (this: IdbDatabase, ...args: unknown[]) {
      const b = bindings.get(this);
      const options = args[1] as { autoIncrement?: boolean } | undefined;
      if (b && options?.autoIncrement) {
        // The key generator's state is not part of the records, and would go back after a
        // compaction. The Rust crypto store does not use it; fail loudly if that changes.
        throw new Error('mx crypto store: object stores with autoIncrement are not supported');
      }
      const store = orig.apply(this, args) as IdbObjectStore;
      if (b) {
        b.owner.onSchemaChange(b, store.transaction, { kind: 'store', name: store.name, keyPath: store.keyPath, autoIncrement: store.autoIncrement });
      }
      return store;
    },
  );
  wrap(Database, 'deleteObjectStore', (orig) =>
    function (this: IdbDatabase, ...args: unknown[]) {
      const result = orig.apply(this, args);
      const b = bindings.get(this);
      if (b) b.owner.onSchemaChange(b, upgradeTx(b), { kind: 'dropStore', name: String(args[0]) });
      return result;
    },
  );
  wrap(Store, 'createIndex', (orig) =>
    function (this: IdbObjectStore, ...args: unknown[]) {
      const b = storeBinding(this);
      // A new index is built from the records in memory: all of them must be there.
      if (b) b.owner.beforeOp(b, this, { kind: 'all' });
      const index = orig.apply(this, args) as IdbIndex;
      if (b) {
        b.owner.onSchemaChange(b, this.transaction, {
          kind: 'index',
          store: this.name,
          name: index.name,
          keyPath: index.keyPath,
          unique: index.unique,
          multiEntry: index.multiEntry,
        });
      }
      return index;
    },
  );
  wrap(Store, 'deleteIndex', (orig) =>
    function (this: IdbObjectStore, ...args: unknown[]) {
      const result = orig.apply(this, args);
      const b = storeBinding(this);
      if (b) b.owner.onSchemaChange(b, this.transaction, { kind: 'dropIndex', store: this.name, name: String(args[0]) });
      return result;
    },
  );
  // Renames would need the manifest to move a store's file to another name; unused by the Rust
  // store, so refused rather than half supported.
  refuseRename(Store, (s: IdbObjectStore) => storeBinding(s));
  refuseRename(Index, (i: IdbIndex) => storeBinding(i.objectStore));
}

/** Replaces a method; `make` gets the original (whose `this` is whatever the caller's is). */
function wrap(proto: Record<string, AnyFn>, name: string, make: (orig: AnyFn) => (this: never, ...args: unknown[]) => unknown): void {
  const orig = proto[name];
  if (typeof orig !== 'function') throw new Error(`Bug: fake-indexeddb has no ${name}() to observe`);
  proto[name] = make(orig) as AnyFn;
}

function refuseRename<T>(proto: object, bindingOf: (self: T) => Binding | undefined): void {
  const desc = Object.getOwnPropertyDescriptor(proto, 'name');
  if (!desc?.set || !desc.get) throw new Error('Bug: fake-indexeddb has no name setter to observe');
  const set = desc.set;
  Object.defineProperty(proto, 'name', {
    ...desc,
    set(this: T, value: unknown) {
      if (bindingOf(this)) throw new Error('mx crypto store: renaming object stores or indexes is not supported');
      set.call(this, value);
    },
  });
}

function needFor(query: unknown): Need {
  if (isKeyRange(query)) return { kind: 'all' };
  const key = canonicalKey(query);
  // Not a valid key: the operation itself will throw, nothing to load.
  return key === undefined ? { kind: 'none' } : { kind: 'key', key };
}

/** The key a keyPath gives for `value`, or undefined (then everything is loaded: always safe). */
function keyFromValue(value: unknown, keyPath: KeyPath): IdbKey | undefined {
  if (keyPath === null) return undefined;
  const one = (p: string): unknown => {
    let v: unknown = value;
    for (const part of p === '' ? [] : p.split('.')) {
      if (typeof v !== 'object' || v === null || !(part in v)) return undefined;
      v = (v as Record<string, unknown>)[part];
    }
    return v;
  };
  return canonicalKey(Array.isArray(keyPath) ? keyPath.map(one) : one(keyPath));
}

function cursorStore(cursor: IdbCursor): IdbObjectStore {
  const source = cursor.source as IdbObjectStore | IdbIndex;
  return 'objectStore' in source ? source.objectStore : source;
}

function upgradeTx(b: Binding): IdbTransaction {
  if (!b.versionchange) throw new Error('Bug: a schema change outside an upgrade transaction');
  return b.versionchange;
}

function abortQuietly(tx: IdbTransaction): void {
  try {
    (tx as unknown as { abort(): void }).abort();
  } catch {
    // already finished
  }
}
