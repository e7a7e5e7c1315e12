import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, LocalStateError } from '../../src/errors.js';
import { openPersistentIndexedDb, type PersistentIndexedDb, type PersistentIndexedDbOptions } from '../../src/durable-idb/persistent-idb.js';
import { IDBKeyRange } from 'fake-indexeddb';
import { frame } from '../../src/durable-idb/log-format.js';
import { done, get, getAll, keys, openDb, req, write, type Db } from './crypto-idb-helpers.js';

let dir: string;
let open: PersistentIndexedDb[];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mx-crypto-idb-'));
  open = [];
});
afterEach(async () => {
  for (const p of open) await p.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A simulated process: a fresh in-memory IndexedDB persisted in the same folder. */
async function proc(options: PersistentIndexedDbOptions = {}): Promise<PersistentIndexedDb> {
  const p = await openPersistentIndexedDb(path.join(dir, 'store'), options);
  open.push(p);
  return p;
}

/** Version 1 of a test schema: 'plain' (out-of-line keys), 'people' (keyPath id, index byName). */
function schemaV1(db: Db): void {
  db.createObjectStore('plain');
  const people = db.createObjectStore('people', { keyPath: 'id' });
  people.createIndex('byName', 'name');
}

async function seed(p: PersistentIndexedDb): Promise<void> {
  await p.withLock(async () => {
    const db = await openDb(p.factory, 'd', 1, schemaV1);
    await write(db, ['plain', 'people'], (tx) => {
      tx.objectStore('plain').put({ n: 1, bytes: new Uint8Array([1, 2, 3]) }, 'one');
      tx.objectStore('plain').put('two', 2);
      tx.objectStore('plain').put('gone', 'gone');
      tx.objectStore('plain').delete('gone');
      tx.objectStore('people').put({ id: 'a', name: 'Ann' });
      tx.objectStore('people').put({ id: 'b', name: 'Bob' });
    });
    db.close();
  });
}

const storeDir = () => path.join(dir, 'store');
const logsOf = (db: string, store: string) => {
  const dbDir = readdirSync(storeDir()).find((d) => d.startsWith(`${db}-`))!;
  return readdirSync(path.join(storeDir(), dbDir))
    .filter((f) => f.startsWith(`${store}-`))
    .map((f) => path.join(storeDir(), dbDir, f));
};

describe('persistence across processes', () => {
  it('round-trips schema, keys and values (structured clone) into a fresh process', async () => {
    await seed(await proc());
    const b = await proc();
    const seen = await b.withLock(async (changed) => {
      const db = await openDb(b.factory, 'd');
      const r = {
        changed,
        version: db.version,
        stores: [...db.objectStoreNames],
        one: await get(db, 'plain', 'one'),
        plainKeys: await keys(db, 'plain'),
        bob: await req(db.transaction('people').objectStore('people').index('byName').get('Bob')),
      };
      db.close();
      return r;
    });
    expect(seen).toEqual({
      changed: true,
      version: 1,
      stores: ['people', 'plain'],
      one: { n: 1, bytes: new Uint8Array([1, 2, 3]) },
      plainKeys: [2, 'one'],
      bob: { id: 'b', name: 'Bob' },
    });
  });

  it('keeps nothing of an aborted transaction, and nothing of a request that failed', async () => {
    const a = await proc();
    await seed(a);
    await a.withLock(async () => {
      const db = await openDb(a.factory, 'd');
      const tx = db.transaction('plain', 'readwrite');
      tx.objectStore('plain').put('x', 'aborted');
      tx.abort();
      await expect(done(tx)).rejects.toThrow();
      // add() of an existing key fails; the caller stops the abort and the rest commits.
      const tx2 = db.transaction('plain', 'readwrite');
      const failing = tx2.objectStore('plain').add('dup', 2);
      failing.addEventListener('error', (e: { preventDefault(): void }) => e.preventDefault());
      tx2.objectStore('plain').put('kept', 'kept');
      await done(tx2);
      db.close();
    });
    const b = await proc();
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      expect(await keys(db, 'plain')).toEqual([2, 'kept', 'one']);
      expect(await get(db, 'plain', 2)).toBe('two');
      db.close();
    });
  });

  it('persists clear() and range deletes', async () => {
    const a = await proc();
    await seed(a);
    await a.withLock(async () => {
      const db = await openDb(a.factory, 'd');
      await write(db, ['plain', 'people'], (tx) => {
        tx.objectStore('plain').delete(IDBKeyRange.bound(0, 10));
        tx.objectStore('people').clear();
        tx.objectStore('people').put({ id: 'c', name: 'Cy' });
      });
      db.close();
    });
    const b = await proc();
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      expect(await keys(db, 'plain')).toEqual(['one']);
      expect(await getAll(db, 'people')).toEqual([{ id: 'c', name: 'Cy' }]);
      db.close();
    });
  });

  it('tells a process what others changed, and updates what it already holds in memory', async () => {
    const a = await proc();
    const b = await proc();
    await seed(a);
    // b loads 'one' and the whole 'people' store, and keeps its connection between lock periods.
    const dbB = await b.withLock(async (changed) => {
      expect(changed).toBe(true);
      const db = await openDb(b.factory, 'd');
      expect(await get(db, 'plain', 'one')).toMatchObject({ n: 1 });
      expect(await getAll(db, 'people')).toHaveLength(2);
      return db;
    });
    expect(await b.withLock(async (changed) => changed)).toBe(false);
    await b.withLock(async () => expect(await get(dbB, 'plain', 2)).toBe('two')); // still usable
    await a.withLock(async () => {
      const db = await openDb(a.factory, 'd');
      await write(db, ['plain', 'people'], (tx) => {
        tx.objectStore('plain').put('uno', 'one');
        tx.objectStore('plain').put('new', 'new');
        tx.objectStore('people').delete('a');
      });
      db.close();
    });
    const recordsBefore = b.stats.recordsLoaded;
    await b.withLock(async (changed) => {
      expect(changed).toBe(true);
      // A connection from before the change is refused (an engine kept past it would work
      // from stale caches); a new one sees the others' changes.
      expect(() => dbB.transaction('plain')).toThrow(/re-create the OlmMachine/);
      const db = await openDb(b.factory, 'd');
      expect(await get(db, 'plain', 'one')).toBe('uno');
      expect(await get(db, 'plain', 'new')).toBe('new');
      expect(await getAll(db, 'people')).toEqual([{ id: 'b', name: 'Bob' }]);
      expect(await req(db.transaction('people').objectStore('people').index('byName').getAll())).toEqual([{ id: 'b', name: 'Bob' }]);
      db.close();
    });
    // Only the delta was read: 'uno' (held in memory, so updated) and 'new' (loaded by get).
    expect(b.stats.recordsLoaded - recordsBefore).toBe(2);
    expect(b.stats.scans).toEqual(['d/plain', 'd/people']);
    // And b's own changes reach a: nothing of either is lost.
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      await write(db, 'plain', (tx) => tx.objectStore('plain').put('from b', 'b'));
      db.close();
    });
    await a.withLock(async (changed) => {
      expect(changed).toBe(true);
      const db = await openDb(a.factory, 'd');
      expect(await keys(db, 'plain')).toEqual([2, 'b', 'new', 'one']);
      db.close();
    });
  });

  it('refuses to work outside withLock', async () => {
    const a = await proc();
    await seed(a);
    expect(() => a.factory.open('d')).toThrow(/outside withLock/);
    const db = await a.withLock(() => openDb(a.factory, 'd'));
    expect(() => db.transaction('plain')).toThrow(/outside withLock/);
  });

  it('flushes the committed changes also when fn throws', async () => {
    const a = await proc();
    await seed(a);
    await expect(
      a.withLock(async () => {
        const db = await openDb(a.factory, 'd');
        await write(db, 'plain', (tx) => tx.objectStore('plain').put('saved', 'saved'));
        db.close();
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const b = await proc();
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      expect(await get(db, 'plain', 'saved')).toBe('saved');
      db.close();
    });
  });
});

describe('within a lock period', () => {
  it('a checkpoint makes what the period committed so far durable; refuseToSave keeps the rest off the disk', async () => {
    const a = await proc();
    await seed(a);
    const refusal = new LocalStateError('refused for the test');
    await expect(
      a.withLock(async () => {
        const db = await openDb(a.factory, 'd');
        await write(db, 'plain', (tx) => tx.objectStore('plain').put('before', 'checkpoint'));
        await a.checkpoint();
        await write(db, 'plain', (tx) => tx.objectStore('plain').put('after', 'refused'));
        db.close();
        a.refuseToSave(refusal);
      }),
    ).rejects.toBe(refusal);
    // The instance is done: it would hold state the disk has not.
    await expect(a.withLock(async () => 'never')).rejects.toBeInstanceOf(LocalStateError);
    const b = await proc();
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      expect(await get(db, 'plain', 'checkpoint')).toBe('before');
      expect(await get(db, 'plain', 'refused')).toBeUndefined();
      db.close();
    });
  });

  it('a checkpoint outside withLock is a bug, said as one', async () => {
    const a = await proc();
    await seed(a);
    await expect(a.checkpoint()).rejects.toThrow(/Bug: a crypto store checkpoint outside withLock/);
  });

  it('an empty MANIFEST is damage, never a new empty store', async () => {
    await seed(await proc());
    const manifest = path.join(storeDir(), 'MANIFEST');
    writeFileSync(manifest, '');
    const b = await proc();
    const error = await b.withLock(async () => 'never').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalStateError);
    expect((error as LocalStateError).message).toMatch(/MANIFEST is damaged: it is empty/);
    expect(readFileSync(manifest)).toHaveLength(0);
  });
});

describe('a lock period taken ahead', () => {
  it('holds the lock from lockAhead on, and the next withLock sees what others changed before', async () => {
    await seed(await proc());
    const a = await proc();
    const b = await proc({ lockTimeoutMs: 300 });
    a.lockAhead();
    // Once a holds the lock, b cannot take it.
    await expect.poll(() => b.withLock(async () => 'got it').catch((e: unknown) => e)).toBeInstanceOf(LocalStateError);
    await a.withLock(async (changed) => {
      expect(changed).toBe(true);
      const db = await openDb(a.factory, 'd');
      await write(db, 'plain', (tx) => tx.objectStore('plain').put('ahead', 'ahead'));
      db.close();
    });
    // Released at the end of that period, with its changes on disk.
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      expect(await get(db, 'plain', 'ahead')).toBe('ahead');
      db.close();
    });
  });

  it('is let go by close() when no withLock came', async () => {
    const a = await proc();
    await seed(a);
    const b = await proc({ lockTimeoutMs: 1000 });
    b.lockAhead();
    await b.close();
    await a.withLock(async (changed) => expect(changed).toBe(false));
  });

  it('reports damage found ahead from the withLock that uses it, and writes nothing', async () => {
    await seed(await proc());
    const manifest = path.join(storeDir(), 'MANIFEST');
    writeFileSync(manifest, Buffer.concat([Buffer.from('garbage that is not a manifest record\n'), readFileSync(manifest)]));
    const before = readFileSync(manifest);
    const b = await proc();
    b.lockAhead();
    await expect(b.withLock(async () => 'never')).rejects.toBeInstanceOf(LocalStateError);
    expect(readFileSync(manifest)).toEqual(before);
  });
});

describe('lazy loading', () => {
  it('reads a store only when an operation touches it, and for get(key) only that record', async () => {
    await seed(await proc());
    const b = await proc();
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      // A transaction over both stores that only reads one key of one of them.
      const tx = db.transaction(['plain', 'people']);
      expect(await req(tx.objectStore('plain').get(2))).toBe('two');
      db.close();
    });
    expect(b.stats.scans).toEqual(['d/plain']);
    expect(b.stats.recordsLoaded).toBe(1);
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      expect(await getAll(db, 'people')).toHaveLength(2);
      db.close();
    });
    expect(b.stats.scans).toEqual(['d/plain', 'd/people']);
    expect(b.stats.recordsLoaded).toBe(3);
  });

  it('writes a key of a store it has not loaded without losing the others', async () => {
    await seed(await proc());
    const b = await proc();
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      await write(db, 'plain', (tx) => tx.objectStore('plain').put('dos', 2));
      expect(await getAll(db, 'plain')).toEqual(['dos', { n: 1, bytes: new Uint8Array([1, 2, 3]) }]);
      db.close();
    });
    expect(b.stats.recordsLoaded).toBe(2);
  });
});

describe('damage', () => {
  it('ignores a torn last record (kill -9 mid-append), and cuts it off at the next append', async () => {
    await seed(await proc());
    const [log] = logsOf('d', 'plain');
    const manifest = path.join(storeDir(), 'MANIFEST');
    const logSize = statSync(log!).size;
    // A flush killed after appending to the log, and while appending its commit record: what
    // reaches the files is a prefix of what was written.
    appendFileSync(log!, frame(Buffer.from('never committed')));
    const commit = frame(Buffer.from(JSON.stringify({ t: 'commit', writer: 'x', nextNo: 99, ops: [] })));
    appendFileSync(manifest, commit.subarray(0, commit.length - 5));
    const b = await proc();
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      expect(await keys(db, 'plain')).toEqual([2, 'one']);
      await write(db, 'plain', (tx) => tx.objectStore('plain').put('three', 3));
      db.close();
    });
    expect(statSync(log!).size).toBeGreaterThan(logSize);
    const c = await proc();
    await c.withLock(async () => {
      const db = await openDb(c.factory, 'd');
      expect(await keys(db, 'plain')).toEqual([2, 3, 'one']);
      db.close();
    });
    // A header cut short is torn too.
    appendFileSync(manifest, commit.subarray(0, 7));
    const d = await proc();
    await d.withLock(async () => {
      const db = await openDb(d.factory, 'd');
      expect(await keys(db, 'plain')).toEqual([2, 3, 'one']);
      db.close();
    });
  });

  it('treats damage inside committed data as exit-8 LocalStateError and leaves the files alone', async () => {
    await seed(await proc());
    const [log] = logsOf('d', 'people');
    const bytes = readFileSync(log!);
    bytes[bytes.length - 3]! ^= 0xff; // inside the last committed record's value
    writeFileSync(log!, bytes);
    const before = readFileSync(log!);
    const b = await proc();
    const err = await b
      .withLock(async () => {
        const db = await openDb(b.factory, 'd');
        await write(db, ['plain', 'people'], (tx) => {
          tx.objectStore('plain').put('not saved', 'x');
          tx.objectStore('people').put({ id: 'z', name: 'Zed' });
        });
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalStateError);
    expect((err as LocalStateError).exitCode).toBe(ExitCode.localState);
    expect((err as Error).message).toMatch(/damaged: the record fails its checksum at byte \d+/);
    expect(readFileSync(log!)).toEqual(before);
    // The instance is unusable from then on, and nothing was written.
    await expect(b.withLock(async () => {})).rejects.toBeInstanceOf(LocalStateError);
    const c = await proc();
    await c.withLock(async () => {
      const db = await openDb(c.factory, 'd');
      expect(await keys(db, 'plain')).toEqual([2, 'one']);
      db.close();
    });
  });

  it('treats a damaged manifest record that is not the last as damage', async () => {
    const a = await proc();
    await seed(a);
    await a.withLock(async () => {
      const db = await openDb(a.factory, 'd');
      await write(db, 'plain', (tx) => tx.objectStore('plain').put('more', 'more'));
      db.close();
    });
    const manifest = path.join(storeDir(), 'MANIFEST');
    const bytes = readFileSync(manifest);
    bytes[16 + 12 + 5]! ^= 0x20; // inside the first record's payload
    writeFileSync(manifest, bytes);
    const b = await proc();
    const err = await b.withLock(async () => {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalStateError);
    expect((err as Error).message).toMatch(/MANIFEST is damaged/);
    expect(readFileSync(manifest)).toEqual(bytes);
  });

  it('opens a store whose first flush was killed after writing logs (nothing committed)', async () => {
    await seed(await proc());
    // What a kill -9 between the logs and the first commit record leaves: logs, and a
    // manifest with no record yet.
    const manifest = path.join(storeDir(), 'MANIFEST');
    writeFileSync(manifest, readFileSync(manifest).subarray(0, 16));
    const b = await proc();
    expect(await b.withLock(async (changed) => changed)).toBe(false);
    await seed(b); // creates it all again, over the leftovers
    const c = await proc();
    await c.withLock(async () => {
      const db = await openDb(c.factory, 'd');
      expect(await keys(db, 'plain')).toEqual([2, 'one']);
      db.close();
    });
  });

  it('refuses a folder with logs but no manifest instead of starting afresh', async () => {
    await seed(await proc());
    rmSync(path.join(storeDir(), 'MANIFEST'));
    const b = await proc();
    await expect(b.withLock(async () => {})).rejects.toThrow(/holds data but no MANIFEST/);
  });
});

describe('compaction', () => {
  it('rewrites a log that is mostly garbage; another process notices and reloads it', async () => {
    const opts = { compactMinGarbageBytes: 1000, compactGarbageRatio: 1 };
    const a = await proc(opts);
    const b = await proc(opts);
    await seed(a);
    const dbB = await b.withLock(async () => {
      const db = await openDb(b.factory, 'd');
      expect(await get(db, 'plain', 'one')).toMatchObject({ n: 1 });
      return db;
    });
    const [oldLog] = logsOf('d', 'plain');
    await a.withLock(async () => {
      const db = await openDb(a.factory, 'd');
      for (let i = 0; i < 40; i++) await write(db, 'plain', (tx) => tx.objectStore('plain').put('x'.repeat(100) + i, 'hot'));
      db.close();
    });
    expect(a.stats.compactions).toBeGreaterThan(0);
    const logs = logsOf('d', 'plain');
    expect(logs).toHaveLength(1);
    expect(logs[0]).not.toBe(oldLog);
    expect(statSync(logs[0]!).size).toBeLessThan(1000);
    await b.withLock(async (changed) => {
      expect(changed).toBe(true);
      dbB.close();
      const db = await openDb(b.factory, 'd');
      expect(await get(db, 'plain', 'hot')).toBe('x'.repeat(100) + 39);
      expect(await keys(db, 'plain')).toEqual([2, 'hot', 'one']);
      db.close();
    });
  });

  it('rewrites the manifest as a snapshot when it grows, and others follow', async () => {
    const opts = { manifestRewriteBytes: 2000 };
    const a = await proc(opts);
    const b = await proc(opts);
    await seed(a);
    await b.withLock(async () => {});
    for (let i = 0; i < 30; i++) {
      await a.withLock(async () => {
        const db = await openDb(a.factory, 'd');
        await write(db, 'plain', (tx) => tx.objectStore('plain').put(i, `k${i}`));
        db.close();
      });
    }
    expect(a.stats.manifestRewrites).toBeGreaterThan(0);
    expect(statSync(path.join(storeDir(), 'MANIFEST')).size).toBeLessThan(4000);
    await b.withLock(async (changed) => {
      expect(changed).toBe(true);
      const db = await openDb(b.factory, 'd');
      expect(await get(db, 'plain', 'k29')).toBe(29);
      expect((await keys(db, 'plain')).length).toBe(32);
      db.close();
    });
  });
});

describe('schema upgrades', () => {
  it('persists an upgrade that adds a store and an index over existing records; old connections are refused', async () => {
    const a = await proc();
    await seed(a);
    const dbA = await a.withLock(() => openDb(a.factory, 'd'));
    const b = await proc();
    await b.withLock(async () => {
      const db = await openDb(b.factory, 'd', 2, (_db, tx) => {
        _db.createObjectStore('extra').put('e', 'e');
        tx.objectStore('people').createIndex('byId', 'id', { unique: true });
        _db.deleteObjectStore('plain');
      });
      db.close();
    });
    await a.withLock(async (changed) => {
      expect(changed).toBe(true);
      expect(() => dbA.transaction('people')).toThrow(/re-create the OlmMachine/);
      const db = await openDb(a.factory, 'd');
      expect(db.version).toBe(2);
      expect([...db.objectStoreNames]).toEqual(['extra', 'people']);
      expect(await req(db.transaction('people').objectStore('people').index('byId').get('b'))).toEqual({ id: 'b', name: 'Bob' });
      expect(await get(db, 'extra', 'e')).toBe('e');
      db.close();
    });
    expect(logsOf('d', 'plain')).toEqual([]);
  });
});

describe('files', () => {
  it('are 0600 in 0700 folders', async () => {
    mkdirSync(storeDir(), { mode: 0o755 });
    await seed(await proc());
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(storeDir())).toBe(0o700);
    for (const entry of readdirSync(storeDir(), { recursive: true }) as string[]) {
      const p = path.join(storeDir(), entry);
      if (entry === 'lock') continue;
      expect([entry, mode(p)]).toEqual([entry, statSync(p).isDirectory() ? 0o700 : 0o600]);
    }
  });
});
