// mx never follows a symbolic link in its own folders: a link planted at any path mx writes,
// locks or deletes there makes the command that would use it exit 8 naming the path, and what
// the link points to is left exactly as it was. And a lock left by a killed process is waited
// for out loud.
import { chmodSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, mxJson, parseJsonLines, registerUser, runMx, type MxResult, type RegisteredUser } from './helpers.js';

const outside = mkdtempSync(path.join(os.tmpdir(), 'mx-outside-'));
let planted = 0;

/** Every file and folder under `target` (or the file itself): content, mode, mtime. */
function snapshot(target: string): unknown {
  const st = statSync(target);
  if (!st.isDirectory()) return { mode: st.mode, mtime: st.mtimeMs, content: readFileSync(target).toString('base64') };
  return { mode: st.mode, mtime: st.mtimeMs, entries: Object.fromEntries(readdirSync(target).sort().map((name) => [name, snapshot(path.join(target, name))])) };
}

/**
 * Moves what is at `at` aside and puts in its place a link to a copy of it elsewhere (a copy that
 * others could read: mx would tighten it), or to an empty old folder when nothing is there (the
 * lock folders). Returns the check that the copy was not touched, and puts things back.
 */
function plantLink(at: string): { assertUntouched(): void; restore(): void } {
  const target = path.join(outside, `target-${++planted}`);
  const existed = lstatSync(at, { throwIfNoEntry: false }) !== undefined;
  if (existed) {
    cpSync(at, target, { recursive: true });
    chmodSync(target, statSync(target).isDirectory() ? 0o755 : 0o644);
    renameSync(at, `${at}.aside`);
  } else {
    mkdirSync(target);
    utimesSync(target, new Date(2001, 0, 1), new Date(2001, 0, 1)); // a lock this old is taken over: mx would remove it
  }
  symlinkSync(target, at);
  const before = snapshot(target);
  return {
    assertUntouched: () => {
      expect(snapshot(target), `what ${at} points to`).toEqual(before);
      expect(lstatSync(at).isSymbolicLink(), `${at} is still the link`).toBe(true);
    },
    restore: () => {
      rmSync(at);
      if (existed) renameSync(`${at}.aside`, at);
    },
  };
}

function expectRefused(result: MxResult, at: string): void {
  expect(result.code, describeResult(result.args, result)).toBe(8);
  const errors = parseJsonLines<{ error?: { message: string } }>(result.stderr).filter((line) => line.error);
  // One error, naming the link (a login adds that nothing was logged in).
  expect(errors).toHaveLength(1);
  expect(errors[0]!.error!.message.startsWith(`${at} is a symbolic link; mx does not follow links in its own folders: remove it`), errors[0]!.error!.message).toBe(true);
}

/** A user with a crypto store that has sent into an encrypted room (so that its outbox folder exists). */
async function encryptedSender(): Promise<{ user: RegisteredUser; roomId: string; folder: string }> {
  const user = await registerUser();
  const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted'], { configDir: user.configDir });
  const sent = await runMx(['send', roomId, 'first'], { configDir: user.configDir });
  expect(sent.code, describeResult(['send'], sent)).toBe(0);
  const crypto = path.join(user.configDir, 'crypto');
  return { user, roomId, folder: path.join(crypto, readdirSync(crypto)[0]!) };
}

/** The largest log file of the store (a `<db>-<n>/<store>-<n>.log`): one with records, which every lock period opens. */
function aLog(folder: string): string {
  const logs = readdirSync(folder, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /-\d+$/.test(e.name))
    .flatMap((db) => readdirSync(path.join(folder, db.name)).filter((f) => f.endsWith('.log')).map((f) => path.join(folder, db.name, f)));
  return logs.sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
}

describe('a link in the place of a crypto store path', () => {
  const places: [string, (folder: string) => string][] = [
    ['MANIFEST', (folder) => path.join(folder, 'MANIFEST')],
    ['a log', aLog],
    ['a database folder', (folder) => path.dirname(aLog(folder))],
    ['lock', (folder) => path.join(folder, 'lock')],
    ['lock.owner', (folder) => path.join(folder, 'lock.owner')],
    ['sync-position', (folder) => path.join(folder, 'sync-position')],
    ['outbox', (folder) => path.join(folder, 'outbox')],
    ['the store folder', (folder) => folder],
    ['the crypto folder', (folder) => path.dirname(folder)],
  ];

  it('makes a send into an encrypted room exit 8 naming it; what it points to is untouched', async () => {
    const { user, roomId, folder } = await encryptedSender();
    for (const [name, where] of places) {
      const at = where(folder);
      const link = plantLink(at);
      try {
        expectRefused(await runMx(['send', roomId, `with a link at ${name}`], { configDir: user.configDir }), at);
        link.assertUntouched();
      } finally {
        link.restore();
      }
    }
    // A dangling link in the store folder's place is refused too, not taken for a store to make.
    renameSync(folder, `${folder}.aside`);
    symlinkSync(path.join(outside, 'nothing'), folder);
    expectRefused(await runMx(['send', roomId, 'with a dangling link'], { configDir: user.configDir }), folder);
    rmSync(folder);
    renameSync(`${folder}.aside`, folder);
    // Everything put back: the store works as before.
    const after = await runMx(['send', roomId, 'last'], { configDir: user.configDir });
    expect(after.code, describeResult(['send'], after)).toBe(0);
  }, 180_000);

  it('makes a logout that would delete the store through it exit 8; nothing behind it is deleted', async () => {
    const { user, folder } = await encryptedSender();
    const link = plantLink(path.dirname(folder));
    expectRefused(await runMx(['logout'], { configDir: user.configDir }), path.dirname(folder));
    link.assertUntouched();
  }, 60_000);
});

describe('a link in the place of the profile store', () => {
  it('makes every command exit 8 naming it; what it points to is untouched', async () => {
    const user = await registerUser();
    const file = path.join(user.configDir, 'profiles.json');
    const commands = [
      ['whoami'],
      ['login', user.user, '--password-stdin', '--homeserver', user.homeserver, '-p', 'second'],
      ['tail', '--until-idle'],
      ['logout'],
    ];
    for (const [at, args] of commands.flatMap((args) => [[file, args], [`${file}.lock`, args]] as const)) {
      // The lock is taken by what writes: login, tail (its position) and logout.
      if (at.endsWith('.lock') && args[0] === 'whoami') continue;
      const link = plantLink(at);
      try {
        expectRefused(await runMx([...args], { configDir: user.configDir, input: user.password }), at);
        link.assertUntouched();
      } finally {
        link.restore();
      }
    }
  }, 120_000);
});

describe('a lock left by a process that was killed', () => {
  /** What kill -9 leaves: a lock folder refreshed 7 s ago that nobody refreshes again (taken over in 3 s). */
  function plantDeadLock(lockPath: string): void {
    mkdirSync(lockPath);
    const mtime = new Date(Date.now() - 7000);
    utimesSync(lockPath, mtime, mtime);
  }
  const waitNotices = (stderr: string) => parseJsonLines<{ notice?: { message: string } }>(stderr).filter((l) => l.notice?.message.startsWith('waiting for the lock'));

  it('on a crypto store: a send says once that it waits, then takes the lock over and sends', async () => {
    const { user, roomId, folder } = await encryptedSender();
    plantDeadLock(path.join(folder, 'lock'));
    const sent = await runMx(['send', roomId, 'after a kill'], { configDir: user.configDir });
    expect(sent.code, describeResult(['send'], sent)).toBe(0);
    expect(waitNotices(sent.stderr).map((l) => l.notice!.message)).toEqual([
      `waiting for the lock on the crypto store ${folder} (held by another mx process, or left by one that was killed; a stale lock is taken over after 10 s)`,
    ]);
  }, 60_000);

  it('on the profile store: a login says once that it waits, then takes the lock over and logs in', async () => {
    const user = await registerUser();
    const file = path.join(user.configDir, 'profiles.json');
    plantDeadLock(`${file}.lock`);
    const login = await runMx(['login', user.user, '--password-stdin', '--homeserver', user.homeserver, '-p', 'again'], { configDir: user.configDir, input: user.password });
    expect(login.code, describeResult(['login'], login)).toBe(0);
    expect(waitNotices(login.stderr).map((l) => l.notice!.message)).toEqual([
      `waiting for the lock on the profile store ${file} (held by another mx process, or left by one that was killed; a stale lock is taken over after 10 s)`,
    ]);
  }, 60_000);
});
