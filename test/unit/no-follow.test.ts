// The no-follow primitives of src/fs-util.ts: a link (to a file, to a folder, dangling) or a
// FIFO where mx keeps a file or folder of its own is refused, and left as it was.
import { chmodSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalStateError } from '../../src/errors.js';
import {
  ensurePrivateDir, makePrivate, openOwnFile, ownFolderExists, readOwnFile, replaceFileAtomically, writeOwnFileSync,
} from '../../src/fs-util.js';
import { expectRefused, PLANTS, tempDir } from './planted-links.js';

describe('the no-follow primitives', () => {
  describe.each(PLANTS)('refuse %s where a file of mx\'s should be', (_name, plant) => {
    const cases: [string, (file: string) => unknown][] = [
      ['readOwnFile', (file) => readOwnFile(file)],
      ['openOwnFile for update', async (file) => (await openOwnFile(file, 'update')).close()],
      ['openOwnFile to empty', async (file) => (await openOwnFile(file, 'truncate')).close()],
      ['openOwnFile to create new', async (file) => (await openOwnFile(file, 'new')).close()],
      ['writeOwnFileSync', (file) => writeOwnFileSync(file, 'token')],
      ['replaceFileAtomically', (file) => replaceFileAtomically(file, 'data')],
      ['makePrivate', (file) => makePrivate(file, 'file')],
    ];
    it.each(cases)('%s', async (_fn, act) => {
      const at = path.join(tempDir(), 'file');
      const planted = plant(at);
      await expectRefused(at, planted, () => act(at));
    });
  });

  it('create new files 0600, whatever the umask, and narrow an existing one they write', async () => {
    const dir = tempDir();
    const old = process.umask(0o022);
    try {
      writeOwnFileSync(path.join(dir, 'a'), 'x');
      await replaceFileAtomically(path.join(dir, 'b'), 'y');
      writeFileSync(path.join(dir, 'c'), 'z', { mode: 0o644 });
      await (await openOwnFile(path.join(dir, 'c'), 'truncate')).close();
    } finally {
      process.umask(old);
    }
    for (const f of ['a', 'b', 'c']) expect(statSync(path.join(dir, f)).mode & 0o777, f).toBe(0o600);
    expect(readOwnFile(path.join(dir, 'b'))?.toString()).toBe('y');
    expect(readOwnFile(path.join(dir, 'missing'))).toBeUndefined();
  });

  describe.each(PLANTS)('refuse %s where a folder of mx\'s should be', (_name, plant) => {
    it('ensurePrivateDir, for the folder itself and for one between its root and it', async () => {
      const root = tempDir();
      const at = path.join(root, 'crypto');
      const planted = plant(at);
      await expectRefused(at, { ...planted, what: planted.what.replace('a FIFO', 'a FIFO where mx keeps a folder') }, () => ensurePrivateDir(at));
      await expectRefused(at, { ...planted, what: planted.what.replace('a FIFO', 'a FIFO where mx keeps a folder') }, () => ensurePrivateDir(path.join(at, 'id'), root));
      expect(() => ownFolderExists(at)).toThrow(LocalStateError);
    });
  });

  it('ensurePrivateDir creates missing folders 0700, narrows a loose one, and allows a link at its root', () => {
    const real = tempDir();
    const root = path.join(tempDir(), 'state-link');
    symlinkSync(real, root); // a state folder the user linked (dotfiles): allowed
    const old = process.umask(0o022);
    try {
      ensurePrivateDir(path.join(root, 'crypto', 'id'), root);
    } finally {
      process.umask(old);
    }
    expect(statSync(path.join(real, 'crypto')).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(real, 'crypto', 'id')).mode & 0o777).toBe(0o700);
    chmodSync(path.join(real, 'crypto', 'id'), 0o755);
    ensurePrivateDir(path.join(root, 'crypto', 'id'), root);
    expect(statSync(path.join(real, 'crypto', 'id')).mode & 0o777).toBe(0o700);
    expect(ownFolderExists(path.join(root, 'crypto'))).toBe(true);
    expect(ownFolderExists(path.join(root, 'nothing'))).toBe(false);
  });
});

