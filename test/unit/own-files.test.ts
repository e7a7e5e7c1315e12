// mx never uses a file or folder of its own through a symbolic link (nor a FIFO where a file
// should be): what a link points to is never written, truncated, chmodded, locked or deleted.
// Each store, through the interfaces the commands use (the primitives: no-follow.test.ts).
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keepCiphertext, pendingCiphertext } from '../../src/crypto/outbox.js';
import { openPersistentIndexedDb, storeLock } from '../../src/durable-idb/persistent-idb.js';
import { readCryptoPosition, saveCryptoPosition } from '../../src/crypto/position.js';
import { saveBackupTarget } from '../../src/crypto/backup.js';
import { cryptoStoreFolder, deleteCryptoStore } from '../../src/crypto/store-ref.js';
import { acquireLock } from '../../src/file-lock.js';
import { ExitCode, MxError } from '../../src/errors.js';
import { main } from '../../src/main.js';
import { openPrivateFile } from '../../src/output/files.js';
import { ProfileStore } from '../../src/profiles/store.js';
import { openDb, write } from './crypto-idb-helpers.js';
import { fakeIo } from './fake-io.js';
import { expectRefused, outsideFile, outsideFolder, PLANTS, snapshot, tempDir } from './planted-links.js';

describe('the profile store', () => {
  const storeText = JSON.stringify({ version: 1, profiles: { a: { homeserver: 'https://hs.test' } } });

  it.each(PLANTS)('refuses %s in the place of profiles.json: mx whoami exits 8 naming it', async (_name, plant) => {
    const dir = tempDir();
    const file = path.join(dir, 'profiles.json');
    const planted = plant(file);
    if (planted.target && statSync(planted.target).isFile()) {
      writeFileSync(planted.target, storeText); // a store mx would take...
      chmodSync(planted.target, 0o644); // ...and chmod to 0600
    }
    const before = planted.target && snapshot(planted.target);
    const io = fakeIo({ env: { MX_CONFIG_DIR: dir } });
    expect(await main(['whoami', '-p', 'a', '-o', 'text'], io)).toBe(ExitCode.localState);
    expect(io.err()).toBe(`mx: ${file} ${planted.what}${planted.what === 'is a FIFO' ? ' where mx keeps a file of its own: remove it' : '; mx does not follow links in its own folders: remove it'}\n`);
    if (planted.target) expect(snapshot(planted.target)).toEqual(before);
    expect(io.requests()).toEqual([]);
  }, 5000);

  it.each(PLANTS)('refuses %s in the place of profiles.json for a write, and leaves it', async (_name, plant) => {
    const file = path.join(tempDir(), 'profiles.json');
    const planted = plant(file);
    await expectRefused(file, planted, () => new ProfileStore(file).update((d) => void (d.defaultProfile = 'a')));
  }, 5000);

  it.each(PLANTS.filter(([name]) => name !== 'a FIFO'))('refuses %s in the place of its lock folder, at once', async (_name, plant) => {
    const file = path.join(tempDir(), 'profiles.json');
    const planted = plant(`${file}.lock`);
    // An old target: proper-lockfile takes it for a stale lock and tries to remove it.
    if (planted.target) utimesSync(planted.target, new Date(2001, 0, 1), new Date(2001, 0, 1));
    const started = Date.now();
    await expectRefused(`${file}.lock`, planted, () => new ProfileStore(file, { lockTimeoutMs: 3000 }).update(() => {}));
    expect(Date.now() - started).toBeLessThan(2000); // not a wait for the time-out
    expect(existsSync(file)).toBe(false);
  }, 10_000);

  it('works in a folder that is itself a link (MX_CONFIG_DIR in a dotfiles repository)', async () => {
    const real = tempDir();
    const linked = path.join(tempDir(), 'mx-link');
    symlinkSync(real, linked);
    await new ProfileStore(path.join(linked, 'profiles.json')).update((d) => void (d.profiles.a = { homeserver: 'https://hs.test' }));
    expect(JSON.parse(readFileSync(path.join(real, 'profiles.json'), 'utf8')).profiles.a).toEqual({ homeserver: 'https://hs.test' });
    expect(new ProfileStore(path.join(linked, 'profiles.json')).exposure()).toBeUndefined();
  });
});

describe('a crypto store', () => {
  /** A store with data (MANIFEST, a database folder, logs, lock.owner) in <state>/crypto/<id>. */
  async function seededStore(): Promise<string> {
    const folder = path.join(tempDir(), 'crypto', 'id');
    const p = await openPersistentIndexedDb(folder);
    await p.withLock(async () => {
      const db = await openDb(p.factory, 'd', 1, (d) => d.createObjectStore('plain'));
      await write(db, 'plain', (tx) => tx.objectStore('plain').put('value', 'key'));
      db.close();
    });
    await p.close();
    return folder;
  }

  /** Opens the store in a fresh "process" and writes to it. */
  async function writeToStore(folder: string): Promise<void> {
    const p = await openPersistentIndexedDb(folder);
    try {
      await p.withLock(async () => {
        const db = await openDb(p.factory, 'd', 1);
        await write(db, 'plain', (tx) => tx.objectStore('plain').put('other', 'key2'));
        db.close();
      });
    } finally {
      await p.close();
    }
  }

  const dbFolder = (folder: string) => readdirSync(folder).find((f) => f.startsWith('d-'))!;
  const places: [string, (folder: string) => string][] = [
    ['MANIFEST', (folder) => path.join(folder, 'MANIFEST')],
    ['a log', (folder) => path.join(folder, dbFolder(folder), readdirSync(path.join(folder, dbFolder(folder)))[0]!)],
    ['lock.owner', (folder) => path.join(folder, 'lock.owner')],
  ];
  const linkPlants = PLANTS.filter(([name]) => name !== 'a link to a folder');

  describe.each(places)('refuses something planted in the place of %s', (_place, at) => {
    it.each(linkPlants)('%s', async (_name, plant) => {
      const folder = await seededStore();
      const file = at(folder);
      rmSync(file, { force: true }); // lock.owner is there only while a lock is held
      const planted = plant(file);
      await expectRefused(file, planted, () => writeToStore(folder));
    }, 10_000);
  });

  it.each(PLANTS.filter(([name]) => name !== 'a FIFO'))('refuses %s in the place of its lock folder, at once', async (_name, plant) => {
    const folder = await seededStore();
    const planted = plant(path.join(folder, 'lock'));
    if (planted.target) utimesSync(planted.target, new Date(2001, 0, 1), new Date(2001, 0, 1));
    await expectRefused(path.join(folder, 'lock'), planted, () => acquireLock(storeLock(folder, { staleMs: 2000, timeoutMs: 3000 })));
  });

  it.each([
    ['the store folder', (folder: string) => folder],
    ['the folder it is in (<state>/crypto)', (folder: string) => path.dirname(folder)],
    ['a database folder', (folder: string) => path.join(folder, dbFolder(folder))],
  ])('refuses a link in the place of %s', async (_place, at) => {
    const folder = await seededStore();
    const link = at(folder);
    const target = path.join(tempDir(), 'moved');
    execFileSync('mv', [link, target]);
    chmodSync(target, 0o755);
    symlinkSync(target, link);
    await expectRefused(link, { what: 'is a symbolic link', target }, () => writeToStore(folder));
  }, 10_000);

  it('writes its outbox, position and backup files only into real folders and files of its own', async () => {
    const folder = await seededStore();
    const planted = PLANTS[1]![1](path.join(folder, 'outbox')); // a link to a folder
    await expectRefused(path.join(folder, 'outbox'), planted, () => keepCiphertext(folder, '!r:hs', 't1', { ciphertext: 'x' }));
    for (const [file, act] of [
      ['sync-position', () => saveCryptoPosition(folder, 's1')],
      ['sync-position', () => readCryptoPosition(folder)],
      ['backup.json', () => saveBackupTarget(folder, { version: '1', publicKey: 'k' })],
    ] as const) {
      const at = path.join(folder, file);
      execFileSync('rm', ['-f', at]);
      await expectRefused(at, PLANTS[0]![1](at), act);
    }
    execFileSync('rm', [path.join(folder, 'outbox')]);
    await keepCiphertext(folder, '!r:hs', 't1', { ciphertext: 'x' });
    expect(pendingCiphertext(folder, '!r:hs', 't1')).toEqual({ ciphertext: 'x' });
    expect(statSync(path.join(folder, 'outbox')).mode & 0o777).toBe(0o700);
  });

  describe('deleted at logout', () => {
    it('refuses a link in the place of <state>/crypto: nothing behind it is deleted', () => {
      const state = tempDir();
      const folder = cryptoStoreFolder(state, '@a:hs', 'D');
      const target = path.join(tempDir(), 'elsewhere');
      mkdirSync(path.join(target, path.basename(folder)), { recursive: true });
      writeFileSync(path.join(target, path.basename(folder), 'MANIFEST'), 'someone else\'s');
      symlinkSync(target, path.dirname(folder));
      expect(() => deleteCryptoStore(state, '@a:hs', 'D')).toThrow(`${path.dirname(folder)} is a symbolic link`);
      expect(readFileSync(path.join(target, path.basename(folder), 'MANIFEST'), 'utf8')).toBe('someone else\'s');
    });

    it('refuses a store folder that is a link, and keeps the link and what it points to', () => {
      const state = tempDir();
      const folder = cryptoStoreFolder(state, '@a:hs', 'D');
      const target = outsideFolder();
      mkdirSync(path.dirname(folder));
      symlinkSync(target, folder);
      expect(() => deleteCryptoStore(state, '@a:hs', 'D')).toThrow(`${folder} is a symbolic link`);
      expect(lstatSync(folder).isSymbolicLink()).toBe(true);
      expect(readdirSync(target)).toEqual(['kept']);
    });

    it('deletes a real store, without following the links inside it', () => {
      const state = tempDir();
      const folder = cryptoStoreFolder(state, '@a:hs', 'D');
      const target = outsideFolder();
      mkdirSync(folder, { recursive: true });
      symlinkSync(target, path.join(folder, 'inside'));
      deleteCryptoStore(state, '@a:hs', 'D');
      expect(existsSync(folder)).toBe(false);
      expect(readdirSync(target)).toEqual(['kept']);
      deleteCryptoStore(state, '@a:hs', 'D'); // nothing there: nothing to do
    });
  });
});

describe('files the user names (key exports, recovery keys, downloads, --output-file)', () => {
  it.each([
    ['replacing an existing file (--force, tail --download, api --output-file)', {}],
    ['refusing an existing file', { keepExisting: { replaceFlag: '--force' } }],
  ])('are never written through a link, %s: exit 6, and the link is kept', async (_how, options) => {
    const dir = tempDir();
    const target = outsideFile();
    const before = snapshot(target);
    symlinkSync(target, path.join(dir, 'keys.txt'));
    const error = await openPrivateFile(dir, 'keys.txt', options).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MxError);
    expect(error).toMatchObject({ exitCode: ExitCode.conflict, message: expect.stringContaining(`${path.join(dir, 'keys.txt')} is a symbolic link; mx does not write through one, nor replace it`) });
    expect(snapshot(target)).toEqual(before);
    expect(lstatSync(path.join(dir, 'keys.txt')).isSymbolicLink()).toBe(true);
  });

  it('write into a FIFO the user named, and leave its mode alone', async () => {
    const fifo = path.join(tempDir(), 'pipe');
    execFileSync('mkfifo', ['-m', '0644', fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK); // so that the writer's open does not wait
    try {
      const file = await openPrivateFile(path.dirname(fifo), 'pipe');
      await file.write('through the pipe');
      expect(statSync(fifo).mode & 0o777).toBe(0o644);
    } finally {
      closeSync(reader);
    }
  });
});
