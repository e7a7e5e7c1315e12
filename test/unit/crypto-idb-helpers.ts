/** Promise helpers over the IndexedDB API, for the crypto store tests. */
import type { IdbFactory, IdbRequest } from '../../src/durable-idb/idb-types.js';

// The tests use more of the API than src/crypto/idb-types.ts describes; loosely typed on purpose.
export type Store = any;
export interface Tx {
  readonly error: unknown;
  objectStore(name: string): Store;
  abort(): void;
  addEventListener(type: string, listener: (event: unknown) => void): void;
}
export interface Db {
  readonly name: string;
  readonly version: number;
  readonly objectStoreNames: Iterable<string>;
  createObjectStore(name: string, options?: { keyPath?: string | string[] | null; autoIncrement?: boolean }): Store;
  deleteObjectStore(name: string): void;
  transaction(names: string | string[], mode?: 'readonly' | 'readwrite'): Tx;
  close(): void;
}

export function req<T = unknown>(r: IdbRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    r.addEventListener('success', () => resolve(r.result as T));
    r.addEventListener('error', () => reject(r.error as Error));
  });
}

export function done(tx: Tx): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.addEventListener('complete', () => resolve());
    tx.addEventListener('abort', () => reject((tx.error as Error | null) ?? new Error('aborted')));
  });
}

export function openDb(factory: IdbFactory, name: string, version?: number, upgrade?: (db: Db, tx: Tx, oldVersion: number) => void): Promise<Db> {
  return new Promise((resolve, reject) => {
    const r = version === undefined ? factory.open(name) : factory.open(name, version);
    r.onupgradeneeded = (e) => upgrade?.(r.result as Db, r.transaction as unknown as Tx, (e as { oldVersion: number }).oldVersion);
    r.onsuccess = () => resolve(r.result as Db);
    r.onerror = () => reject(r.error as Error);
  });
}

/** Runs `fn` on the named stores in one readwrite transaction and waits for it to commit. */
export async function write(db: Db, names: string | string[], fn: (tx: Tx) => void): Promise<void> {
  const tx = db.transaction(names, 'readwrite');
  fn(tx);
  await done(tx);
}

export async function get(db: Db, store: string, key: unknown): Promise<unknown> {
  return req(db.transaction(store).objectStore(store).get(key));
}

export async function getAll(db: Db, store: string): Promise<unknown[]> {
  return req(db.transaction(store).objectStore(store).getAll());
}

export async function keys(db: Db, store: string): Promise<unknown[]> {
  return req(db.transaction(store).objectStore(store).getAllKeys());
}
