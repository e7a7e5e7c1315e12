/**
 * Encrypted events on their way out, kept until the server has answered: a send that is run
 * again with the same transaction ID (`mx send --txn-id` after a crash) sends the very
 * ciphertext of the first run instead of encrypting again, so the server's answer to the
 * repeated ID (the first event) matches what was sent, and no Megolm message index is spent
 * twice on one message. One small file per (room, transaction ID) in the store's folder,
 * written only once the store has the message index spent (session.ts), removed once the PUT
 * was answered, and swept after a day: servers keep transaction IDs about that long, after
 * which a re-run is a new message and must not repeat an old ciphertext (a receiver would take
 * the same message index in a second event for a replay).
 */
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, ownFolderExists, readOwnFile, replaceFileAtomically } from '../fs-util.js';
import { nodeCrypto } from '../builtins.js';

/** How long a ciphertext whose PUT got no answer is kept for a re-run. */
const KEEP_MS = 24 * 60 * 60 * 1000;

function outboxDir(folder: string): string {
  return path.join(folder, 'outbox');
}

function outboxFile(folder: string, roomId: string, txnId: string): string {
  const { createHash } = nodeCrypto();
  return path.join(outboxDir(folder), createHash('sha256').update(`${roomId}\n${txnId}`).digest('hex').slice(0, 40));
}

/** The content encrypted earlier for this room and transaction ID, if its PUT never got an answer. */
export function pendingCiphertext(folder: string, roomId: string, txnId: string): Record<string, unknown> | undefined {
  const text = readOwnFile(outboxFile(folder, roomId, txnId))?.toString('utf8');
  try {
    return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    return undefined;
  }
}

/** Keeps the ciphertext on disk (fsynced) before it is sent. */
export async function keepCiphertext(folder: string, roomId: string, txnId: string, content: Record<string, unknown>): Promise<void> {
  const file = outboxFile(folder, roomId, txnId);
  ensurePrivateDir(path.dirname(file));
  await replaceFileAtomically(file, JSON.stringify(content));
}

/** The server has answered: nothing to keep. */
export function forgetCiphertext(folder: string, roomId: string, txnId: string): void {
  rmSync(outboxFile(folder, roomId, txnId), { force: true });
}

/** Removes ciphertexts kept longer than a day (and temp files of a write that never finished). */
export function sweepOutbox(folder: string, now = Date.now()): void {
  const dir = outboxDir(folder);
  // Not through a link: it would sweep another folder.
  if (!ownFolderExists(dir)) return;
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    try {
      if (now - lstatSync(file).mtimeMs > KEEP_MS) rmSync(file, { force: true });
    } catch {
      // gone meanwhile (another process swept it)
    }
  }
}
