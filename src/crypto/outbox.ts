/**
 * Encrypted events on their way out, kept until the server has them: a send that is run again
 * with the same transaction ID (`mx send --txn-id` after a crash) sends the very ciphertext of
 * the first run instead of encrypting again, so the server's answer to the repeated ID (the
 * first event) matches what was sent, and no Megolm message index is spent twice on one message.
 * One small file per (room, transaction ID) in the store's folder, removed once the PUT was
 * answered.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { ensurePrivateDir, readOwnFile, replaceFileAtomically } from '../fs-util.js';

function outboxFile(folder: string, roomId: string, txnId: string): string {
  const { createHash } = process.getBuiltinModule('node:crypto');
  return path.join(folder, 'outbox', createHash('sha256').update(`${roomId}\n${txnId}`).digest('hex').slice(0, 40));
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

/** The server has the event: nothing to keep. */
export function forgetCiphertext(folder: string, roomId: string, txnId: string): void {
  rmSync(outboxFile(folder, roomId, txnId), { force: true });
}
