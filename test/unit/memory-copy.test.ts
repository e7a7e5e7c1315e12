// A copy of a durable store's databases in plain memory (what a verification's engine runs on):
// the same schema and records, taken in one lock period, and nothing done to it reaches the folder.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { copyToMemory } from '../../src/durable-idb/memory-copy.js';
import { openPersistentIndexedDb } from '../../src/durable-idb/persistent-idb.js';
import { done, openDb, req } from './crypto-idb-helpers.js';
import { tempDirMaker } from './fake-io.js';

const tempDir = tempDirMaker('mx-memory-copy-');

async function durableStore() {
  const folder = path.join(tempDir(), 'crypto', 'store');
  mkdirSync(path.dirname(folder), { recursive: true, mode: 0o700 });
  const idb = await openPersistentIndexedDb(folder);
  await idb.withLock(async () => {
    const db = await openDb(idb.factory, 'engine', 3, (d) => {
      const keyed = d.createObjectStore('devices', { keyPath: ['user', 'id'] });
      keyed.createIndex('by_user', 'user', { unique: false });
      d.createObjectStore('sessions');
      d.createObjectStore('room_keys');
    });
    const tx = db.transaction(['devices', 'sessions', 'room_keys'], 'readwrite');
    tx.objectStore('devices').put({ user: '@a:hs', id: 'A1', key: new Uint8Array([1, 2, 3]) });
    tx.objectStore('devices').put({ user: '@b:hs', id: 'B1' });
    tx.objectStore('sessions').put({ pickle: 'p' }, 'session-1');
    tx.objectStore('room_keys').put('big', 'k');
    await done(tx);
    db.close();
  });
  return idb;
}

describe('copyToMemory', () => {
  it('copies every database with its schema, indexes and records; stores named are left empty', async () => {
    const idb = await durableStore();
    const copy = await idb.withLock(() => copyToMemory(idb.factory, (_db, store) => store === 'room_keys'));
    const db = await openDb(copy, 'engine');
    expect(db.version).toBe(3);
    expect([...db.objectStoreNames].sort()).toEqual(['devices', 'room_keys', 'sessions']);
    const tx = db.transaction(['devices', 'sessions', 'room_keys']);
    expect(await req(tx.objectStore('devices').index('by_user').getAll('@a:hs'))).toEqual([{ user: '@a:hs', id: 'A1', key: new Uint8Array([1, 2, 3]) }]);
    expect(await req(tx.objectStore('sessions').get('session-1'))).toEqual({ pickle: 'p' });
    expect(await req(tx.objectStore('room_keys').count())).toBe(0);
    db.close();
    await idb.close();
  });

  it('changes to the copy never reach the store, and work outside its lock', async () => {
    const idb = await durableStore();
    const copy = await idb.withLock(() => copyToMemory(idb.factory));
    const db = await openDb(copy, 'engine');
    const tx = db.transaction(['sessions'], 'readwrite');
    tx.objectStore('sessions').put({ pickle: 'changed' }, 'session-1');
    await done(tx);
    db.close();
    await idb.close();
    const again = await openPersistentIndexedDb(idb.folder);
    const value = await again.withLock(async () => {
      const original = await openDb(again.factory, 'engine');
      const v = await req(original.transaction(['sessions']).objectStore('sessions').get('session-1'));
      original.close();
      return v;
    });
    expect(value).toEqual({ pickle: 'p' });
    await again.close();
  });
});
