/**
 * `mx download MXC_URI` and `mx download --event ROOM EVENT_ID`: media to a file (mode 0600, in
 * the current folder, the folder --out names, or the file it names) or to stdout (`--out -`).
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Context } from '../../context.js';
import { ExitCode, MxError, UsageError } from '../../errors.js';
import { SyncCrypto } from '../../crypto/sync-crypto.js';
import { parseEventId, parseRoomRef } from '../../matrix/identifiers.js';
import { resolveRoom } from '../../matrix/resolve.js';
import { attachmentOf, downloadAttachment, downloadMedia, parseMxcUri, type Downloaded, type MxcUri } from '../../messages/media.js';
import { relatedEvent } from '../../messages/relations.js';
import { openPrivateFile } from '../../output/files.js';
import { progressText, withSpinner } from '../../output/spinner.js';
import { defineCommand } from '../command.js';

export const downloadCommand = defineCommand({
  command: 'download [uri]',
  describe: 'Download media (an mxc:// URI, or an event\'s attachment, decrypted) to a file or stdout',
  builder: (y) =>
    y
      .positional('uri', { type: 'string', describe: 'mxc://SERVER/MEDIA_ID' })
      .option('event', { type: 'string', nargs: 2, describe: 'ROOM EVENT_ID: the attachment of this message (decrypted when it is encrypted)' })
      .option('out', { type: 'string', nargs: 1, describe: 'a file, a folder (the server\'s or the event\'s file name in it), or - for stdout' })
      .option('force', { type: 'boolean', default: false, describe: 'replace the file if it exists' })
      .example('mx download mxc://example.org/AbCdEf --out photo.jpg', '')
      .example("mx download --event '#ops:example.org' '$abc' --out ~/Downloads/", ''),
  validate(args) {
    const event = args.event as unknown as string[] | undefined;
    if ((args.uri === undefined) === (event === undefined)) throw new UsageError('give an mxc:// URI, or --event ROOM EVENT_ID');
    if (args.out === '') throw new UsageError('--out needs a file or folder name (- for stdout)');
    if (args.out === '-' && args.force) throw new UsageError('--force is for a file, not stdout');
    if (event) {
      parseRoomRef(event[0]!);
      return { event: { room: event[0]!, eventId: parseEventId(event[1]!, '--event') }, out: args.out, force: args.force };
    }
    return { uri: parseMxcUri(args.uri!), out: args.out, force: args.force };
  },
  async run(ctx, opts) {
    const session = await ctx.session();
    const { client } = session;
    const progress = (what: string, work: (onProgress: (received: number, total: number | undefined) => void) => Promise<Downloaded>) =>
      withSpinner(ctx.io, !ctx.out.isJson, what, (setText) => work((received, total) => setText(progressText(what, received, total))));
    let downloaded: Downloaded;
    let fallbackName: string;
    if ('uri' in opts && opts.uri) {
      const uri: MxcUri = opts.uri;
      fallbackName = uri.mediaId;
      downloaded = await progress(`Downloading mxc://${uri.serverName}/${uri.mediaId}`, (onProgress) => downloadMedia(client, uri, onProgress));
    } else {
      const { room, eventId } = opts.event!;
      const roomId = await resolveRoom(client, room);
      const [event] = await new SyncCrypto(() => ctx.crypto(session), { catchUp: true }).decrypt(roomId, [await relatedEvent(client, roomId, eventId, 'download the attachment of')]);
      if (event!.type === 'm.room.encrypted') {
        throw new MxError(`cannot decrypt ${eventId} (${event!.encryption?.reason ?? 'unknown'}): its attachment cannot be read`, ExitCode.encryption);
      }
      const attachment = attachmentOf(event!.content);
      if (!attachment) throw new UsageError(`${eventId} has no attachment (no url or file in its content)`);
      fallbackName = attachment.uri.mediaId;
      downloaded = await progress(`Downloading ${attachment.fileName ?? attachment.uri.mediaId}`, (onProgress) => downloadAttachment(client, attachment, onProgress));
    }
    if (opts.out === '-') {
      if (ctx.io.stdoutIsTTY) throw new UsageError(`not writing ${downloaded.bytes.length} bytes of ${downloaded.contentType || 'media'} to a terminal: use --out FILE or a pipe`);
      await ctx.out.writeBytes(downloaded.bytes);
      return;
    }
    const file = await openPrivateFile(ctx.io.cwd, targetPath(ctx, opts.out, downloaded.fileName ?? fallbackName), opts.force ? {} : { keepExisting: { replaceFlag: '--force' } });
    await file.write(downloaded.bytes);
    await ctx.out.print({ path: file.path, size: downloaded.bytes.length, content_type: downloaded.contentType }, { text: (r) => `Saved ${r.path} (${r.size} bytes)` });
  },
});

/**
 * Where the file goes: --out when it names a file; inside --out (or the current folder) under
 * the given name when it names a folder. The name is a plain file name (media.ts), so the path
 * stays inside that folder whatever the server called the file.
 */
function targetPath(ctx: Context, out: string | undefined, name: string): string {
  const dir = out === undefined ? ctx.io.cwd : path.resolve(ctx.io.cwd, out);
  const isDir = out === undefined || out.endsWith('/') || (statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false);
  if (!isDir) return dir;
  const full = path.join(dir, name);
  if (path.dirname(full) !== dir) throw new Error(`Bug: the file name ${JSON.stringify(name)} leaves ${dir}`);
  return full;
}
