/**
 * `mx tail --download DIR`: each arriving attachment is saved (decrypted when it came encrypted)
 * before its event's line is written, and the line says where. A file is named after its event
 * and its own name, so a tail that replays a batch after a crash saves the same file again
 * instead of a copy. A failed download never stops the tail: the line says why instead.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { UsageError } from '../errors.js';
import type { MatrixClient } from '../matrix/http.js';
import { attachmentOf, downloadAttachment } from '../messages/media.js';
import { openPrivateFile } from '../output/files.js';
import type { Item } from './batch.js';

/** What a line gets: `"download":{"path","size"}`, or `{"error"}`. */
export type DownloadField = { path: string; size: number } | { error: string };

export type AttachmentSaver = (item: Item) => Promise<DownloadField | undefined>;

/** Saves the attachments of timeline messages into `dir` (made if missing, 0700). */
export function attachmentSaver(client: MatrixClient, cwd: string, dir: string): AttachmentSaver {
  const folder = path.resolve(cwd, dir);
  try {
    mkdirSync(folder, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new UsageError(`cannot use --download ${folder}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  return async (item) => {
    if (item.kind !== 'timeline' || (item.event.type !== 'm.room.message' && item.event.type !== 'm.sticker')) return undefined;
    try {
      const content = item.event.content as Record<string, unknown> | undefined;
      const attachment = content && attachmentOf(content);
      if (!attachment) return undefined;
      const downloaded = await downloadAttachment(client, attachment);
      const name = `${item.id.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 16)}-${downloaded.fileName ?? attachment.uri.mediaId}`;
      const file = await openPrivateFile(folder, name);
      await file.write(downloaded.bytes);
      return { path: file.path, size: downloaded.bytes.length };
    } catch (error) {
      return { error: error instanceof Error ? error.message : String(error) };
    }
  };
}
