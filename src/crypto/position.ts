/**
 * The crypto store's own sync position: how far the to-device messages, device list changes
 * and key counts have been processed by `catchUp` (what `mx send` and `login` do). It lives in
 * the store's folder, written only after the changes it covers are durable. A position that is
 * older than it could be (two processes racing) only makes the next catch-up see some messages
 * again, which the engine ignores.
 */
import path from 'node:path';
import { readOwnFile, replaceFileAtomically } from '../fs-util.js';

const FILE = 'sync-position';

export function readCryptoPosition(folder: string): string | undefined {
  return readOwnFile(path.join(folder, FILE))?.toString('utf8').trim() || undefined;
}

export async function saveCryptoPosition(folder: string, token: string): Promise<void> {
  await replaceFileAtomically(path.join(folder, FILE), token);
}
