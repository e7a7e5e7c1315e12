/**
 * The crypto store's own sync position: how far the to-device messages, device list changes
 * and key counts have been processed by `catchUp` (what `mx send` and `login` do). It lives in
 * the store's folder, written only after the changes it covers are durable. A position that is
 * older than it could be (two processes racing) only makes the next catch-up see some messages
 * again, which the engine ignores.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const FILE = 'sync-position';

export function readCryptoPosition(folder: string): string | undefined {
  try {
    return readFileSync(path.join(folder, FILE), 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function saveCryptoPosition(folder: string, token: string): void {
  const file = path.join(folder, FILE);
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, token, { mode: 0o600 });
  renameSync(temp, file);
}
