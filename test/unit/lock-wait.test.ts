// A lock left by a process that was killed (kill -9) is taken over only once it is stale: the
// wait is said, once, on stderr, after a second; a lock held briefly says nothing.
import { mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { describe, expect, it } from 'vitest';
import { acquireLock } from '../../src/file-lock.js';
import { storeLock } from '../../src/durable-idb/persistent-idb.js';
import { main } from '../../src/main.js';
import { ProfileStore } from '../../src/profiles/store.js';
import { fakeIo, tempDirMaker } from './fake-io.js';

const tempDir = tempDirMaker('mx-lock-wait-');

/** What kill -9 leaves: a lock folder, last refreshed `ageMs` ago, that nobody refreshes again. */
function plantDeadLock(lockPath: string, ageMs = 0): void {
  mkdirSync(lockPath);
  const mtime = new Date(Date.now() - ageMs);
  utimesSync(lockPath, mtime, mtime);
}

/** Holds a lock at `lockPath` (as another process would) for `ms`, then releases it. */
async function holdBriefly(file: string, lockPath: string, ms: number): Promise<void> {
  const release = await lockfile.lock(file, { lockfilePath: lockPath, realpath: false });
  setTimeout(() => void release(), ms);
}

describe('the profile store', () => {
  it('says once that it waits for a lock left by a killed process, then takes it over', async () => {
    const file = path.join(tempDir(), 'profiles.json');
    plantDeadLock(`${file}.lock`);
    const notices: string[] = [];
    const started = Date.now();
    await new ProfileStore(file, { staleMs: 2000, onLockWait: (m) => notices.push(m) }).update((d) => void (d.defaultProfile = 'a'));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1500);
    expect(notices).toEqual([
      `waiting for the lock on the profile store ${file} (held by another mx process, or left by one that was killed; a stale lock is taken over after 2 s)`,
    ]);
  });

  it('says nothing about a lock held for less than a second', async () => {
    const file = path.join(tempDir(), 'profiles.json');
    await holdBriefly(file, `${file}.lock`, 300);
    const notices: string[] = [];
    await new ProfileStore(file, { onLockWait: (m) => notices.push(m) }).update((d) => void (d.defaultProfile = 'a'));
    expect(notices).toEqual([]);
  });

  it.each([
    ['text', (line: string) => line],
    ['json', (line: string) => JSON.parse(line).notice.message],
  ])('tells a command\'s user on stderr, once (-o %s)', async (format, message) => {
    const dir = tempDir();
    const file = path.join(dir, 'profiles.json');
    writeFileSync(file, JSON.stringify({ version: 1, profiles: { a: { homeserver: 'https://hs.test' } } }), { mode: 0o600 });
    plantDeadLock(`${file}.lock`, 8500); // taken over 1.5 s from now (stale after 10 s)
    const io = fakeIo({ env: { MX_CONFIG_DIR: dir } });
    expect(await main(['profile', 'use', 'a', '-o', format], io)).toBe(0);
    const lines = io.err().trim().split('\n');
    expect(lines.map(message)).toEqual([
      `${format === 'text' ? 'mx: ' : ''}waiting for the lock on the profile store ${file} (held by another mx process, or left by one that was killed; a stale lock is taken over after 10 s)`,
    ]);
  }, 15_000);
});

describe('a crypto store', () => {
  it('says once that it waits for a lock left by a killed process, then takes it over', async () => {
    const folder = tempDir();
    plantDeadLock(path.join(folder, 'lock'));
    const notices: string[] = [];
    const lock = await acquireLock(storeLock(folder, { staleMs: 2000, timeoutMs: 10_000, onWait: (m) => notices.push(m) }));
    await lock.release();
    expect(notices).toEqual([
      `waiting for the lock on the crypto store ${folder} (held by another mx process, or left by one that was killed; a stale lock is taken over after 2 s)`,
    ]);
  });

  it('says nothing about a lock held for less than a second', async () => {
    const folder = tempDir();
    await holdBriefly(path.join(folder, 'MANIFEST'), path.join(folder, 'lock'), 300);
    const notices: string[] = [];
    const lock = await acquireLock(storeLock(folder, { staleMs: 10_000, timeoutMs: 10_000, onWait: (m) => notices.push(m) }));
    await lock.release();
    expect(notices).toEqual([]);
  });
});
