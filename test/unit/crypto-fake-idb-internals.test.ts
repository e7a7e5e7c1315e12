import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadFakeIndexedDb } from '../../src/durable-idb/fake-idb.js';
import * as fake from 'fake-indexeddb';
import { checkFakeIndexedDbInternals } from '../../src/durable-idb/fake-idb-internals.js';
import { installHooks } from '../../src/durable-idb/idb-hooks.js';

// The crypto store reaches into fake-indexeddb's internals (src/crypto/fake-idb-internals.ts) and
// patches its public prototypes (src/crypto/idb-hooks.ts). These tests fail when an upgrade of
// fake-indexeddb moves what that code relies on.

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { devDependencies: Record<string, string> };

describe('fake-indexeddb internals used by the crypto store', () => {
  // The crypto store loads fake-indexeddb on demand (openPersistentIndexedDb does it).
  beforeAll(loadFakeIndexedDb);

  it('is pinned to one exact version', () => {
    const wanted = pkg.devDependencies['fake-indexeddb'];
    expect(wanted).toMatch(/^\d+\.\d+\.\d+$/);
    // The package's exports do not include package.json: find it from the entry point.
    const entry = createRequire(import.meta.url).resolve('fake-indexeddb');
    const pkgFile = path.join(entry.slice(0, entry.lastIndexOf(`${path.sep}fake-indexeddb${path.sep}`)), 'fake-indexeddb', 'package.json');
    const installed = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string }).version;
    expect(installed).toBe(wanted);
  });

  it('still has the raw stores, raw inserts and deletes, and the factory database map', async () => {
    await expect(checkFakeIndexedDbInternals()).resolves.toBeUndefined();
  });

  it('still has every public method the hooks observe', () => {
    const store = fake.IDBObjectStore.prototype as Record<string, unknown>;
    for (const m of ['get', 'getKey', 'getAll', 'getAllKeys', 'getAllRecords', 'count', 'openCursor', 'openKeyCursor', 'index', 'put', 'add', 'delete', 'clear', 'createIndex', 'deleteIndex']) {
      expect([m, typeof store[m]]).toEqual([m, 'function']);
    }
    expect(typeof (fake.IDBCursor.prototype as Record<string, unknown>).update).toBe('function');
    expect(typeof (fake.IDBDatabase.prototype as Record<string, unknown>).createObjectStore).toBe('function');
    expect(() => installHooks()).not.toThrow();
  });
});
