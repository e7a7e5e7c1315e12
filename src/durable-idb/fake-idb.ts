/**
 * fake-indexeddb, the in-memory IndexedDB the engine's store runs on, loaded on demand: it is
 * ~1,600 lines of JavaScript that plain commands must not pay for at start-up (build.mjs puts it
 * in dist/lazy/). openPersistentIndexedDb loads it before anything here uses it.
 */
import type * as FakeIndexedDb from 'fake-indexeddb';

let loaded: typeof FakeIndexedDb | undefined;

export async function loadFakeIndexedDb(): Promise<typeof FakeIndexedDb> {
  return (loaded ??= await import('fake-indexeddb'));
}

/** The loaded module; using it before loadFakeIndexedDb() resolved is a bug in mx. */
export function fakeIndexedDb(): typeof FakeIndexedDb {
  if (!loaded) throw new Error('Bug: fake-indexeddb used before it was loaded');
  return loaded;
}
