// Things a test plants where mx keeps a file or folder of its own (a link to a file, to a
// folder, a dangling link, a FIFO), and the check that mx refused them and left them alone.
import { execFileSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { LocalStateError } from '../../src/errors.js';
import { tempDirMaker } from './fake-io.js';

export const tempDir = tempDirMaker('mx-own-files-');

/** A file somewhere else, that a planted link points to: mode 0640, an old mtime. */
export function outsideFile(): string {
  const file = path.join(tempDir(), 'outside');
  writeFileSync(file, 'not mx\'s\n');
  chmodSync(file, 0o640);
  utimesSync(file, new Date(2001, 0, 1), new Date(2001, 0, 1));
  return file;
}

/** A folder somewhere else (mode 0755, one file in it). */
export function outsideFolder(): string {
  const dir = path.join(tempDir(), 'outside-dir');
  mkdirSync(dir);
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, 'kept'), 'kept');
  return dir;
}

/** Content, mode and mtime of a file (or the names in a folder), to compare before and after. */
export function snapshot(target: string): unknown {
  const st = statSync(target);
  return { mode: st.mode, mtime: st.mtimeMs, content: st.isDirectory() ? readdirSync(target).sort() : readFileSync(target, 'utf8') };
}

/** What was planted: the start of the error mx must give for it, and what a link points to. */
export interface Planted {
  what: string;
  target: string | undefined;
}

/** Puts something other than a file of mx's at `at`: a link to a file, to a folder, a dangling link, a FIFO. */
export const PLANTS: [string, (at: string) => Planted][] = [
  ['a link to a file', (at) => { const target = outsideFile(); symlinkSync(target, at); return { what: 'is a symbolic link', target }; }],
  ['a link to a folder', (at) => { const target = outsideFolder(); symlinkSync(target, at); return { what: 'is a symbolic link', target }; }],
  ['a dangling link', (at) => { symlinkSync(path.join(tempDir(), 'nothing'), at); return { what: 'is a symbolic link', target: undefined }; }],
  ['a FIFO', (at) => { execFileSync('mkfifo', [at]); return { what: 'is a FIFO', target: undefined }; }],
];

/** Runs `act`, which must fail with a one-line LocalStateError naming `at`, and leave what was planted as it was. */
export async function expectRefused(at: string, planted: Planted, act: () => unknown): Promise<void> {
  const before = planted.target && snapshot(planted.target);
  const error = await (async () => act())().then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(LocalStateError);
  expect((error as Error).message).toContain(`${at} ${planted.what}`);
  expect((error as Error).message).not.toContain('\n');
  if (planted.target) expect(snapshot(planted.target)).toEqual(before);
  expect(lstatSync(at).isFile()).toBe(false); // left where it was, not replaced
}
