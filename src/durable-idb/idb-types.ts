/**
 * The parts of the IndexedDB API that the crypto store's persistence uses, typed structurally:
 * mx compiles without the DOM library, and fake-indexeddb's own typings refer to it.
 */

/** A valid IndexedDB key after conversion (fake-indexeddb turns binary keys into ArrayBuffers). */
export type IdbKey = number | string | Date | ArrayBuffer | IdbKey[];

export type KeyPath = string | string[] | null;

export interface IdbKeyRange {
  readonly lower: unknown;
  readonly upper: unknown;
  readonly lowerOpen: boolean;
  readonly upperOpen: boolean;
  includes(key: unknown): boolean;
}

export interface IdbKeyRangeClass {
  only(value: unknown): IdbKeyRange;
  lowerBound(lower: unknown, open?: boolean): IdbKeyRange;
  upperBound(upper: unknown, open?: boolean): IdbKeyRange;
  bound(lower: unknown, upper: unknown, lowerOpen?: boolean, upperOpen?: boolean): IdbKeyRange;
}

export interface IdbEventTarget {
  addEventListener(type: string, listener: (event: unknown) => void): void;
}

export interface IdbRequest extends IdbEventTarget {
  readonly result: unknown;
  readonly error: unknown;
  readonly readyState: 'pending' | 'done';
  readonly transaction: IdbTransaction | null;
}

export interface IdbOpenRequest extends IdbRequest {
  onupgradeneeded: ((event: unknown) => void) | null;
  onsuccess: ((event: unknown) => void) | null;
  onerror: ((event: unknown) => void) | null;
}

export interface IdbDatabase extends IdbEventTarget {
  readonly name: string;
  readonly version: number;
  readonly objectStoreNames: ArrayLike<string> & Iterable<string>;
  createObjectStore(name: string, options?: { keyPath?: KeyPath; autoIncrement?: boolean }): IdbObjectStore;
  transaction(names: string | string[], mode?: 'readonly' | 'readwrite'): IdbTransaction;
  close(): void;
}

export interface IdbTransaction extends IdbEventTarget {
  readonly db: IdbDatabase;
  readonly mode: 'readonly' | 'readwrite' | 'versionchange';
  readonly error: unknown;
  objectStore(name: string): IdbObjectStore;
}

export interface IdbIndex {
  readonly name: string;
  readonly objectStore: IdbObjectStore;
  readonly keyPath: string | string[];
  readonly unique: boolean;
  readonly multiEntry: boolean;
  get(query: unknown): IdbRequest;
}

export interface IdbObjectStore {
  readonly name: string;
  readonly keyPath: KeyPath;
  readonly autoIncrement: boolean;
  readonly indexNames: ArrayLike<string> & Iterable<string>;
  readonly transaction: IdbTransaction;
  index(name: string): IdbIndex;
  createIndex(name: string, keyPath: string | string[], options?: { unique?: boolean; multiEntry?: boolean }): IdbIndex;
  put(value: unknown, key?: unknown): IdbRequest;
  get(query: unknown): IdbRequest;
}

export interface IdbCursor {
  readonly source: IdbObjectStore | IdbIndex;
  readonly primaryKey: unknown;
}

export interface IdbFactory {
  open(name: string, version?: number): IdbOpenRequest;
  deleteDatabase(name: string): IdbOpenRequest;
  databases(): Promise<{ name: string; version: number }[]>;
  cmp(a: unknown, b: unknown): number;
}
