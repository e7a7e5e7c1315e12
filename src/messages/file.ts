/**
 * --file: read a local file, upload it to the media repository, and describe it as the
 * content of an m.image / m.audio / m.video / m.file message (encrypted in an encrypted room). `mime` and `image-size` are
 * loaded only here, so other sends never pay for them.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ExitCode, MxError, UsageError } from '../errors.js';
import { MatrixError } from '../matrix/errors.js';
import { getMediaConfig, uploadContent } from '../matrix/events.js';
import type { MatrixClient } from '../matrix/http.js';
import { encryptAttachment, type EncryptedFileInfo } from './attachment.js';
import { msgtypeForMime, type Content } from './content.js';

export interface LocalFile {
  data: Buffer;
  /** The file's base name: the event's body (or filename, when TEXT is a caption). */
  name: string;
  mimetype: string;
  /** The spec's info block: size and mimetype, plus w/h for images whose size can be read. */
  info: { mimetype: string; size: number; w?: number; h?: number };
}

export async function readLocalFile(cwd: string, file: string): Promise<LocalFile> {
  const full = path.resolve(cwd, file);
  let data: Buffer;
  try {
    data = await fsp.readFile(full);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (code ?? String(error));
    throw new UsageError(`cannot read --file ${full}: ${why}`);
  }
  const name = path.basename(full);
  const { default: mime } = await import('mime');
  const mimetype = mime.getType(name) ?? 'application/octet-stream';
  const dimensions = mimetype.startsWith('image/') ? await imageDimensions(data) : undefined;
  return { data, name, mimetype, info: { mimetype, size: data.length, ...dimensions } };
}

/** Width and height in display orientation, or undefined when the header cannot be read. */
async function imageDimensions(data: Buffer): Promise<{ w: number; h: number } | undefined> {
  try {
    const { imageSize } = await import('image-size');
    const { width, height, orientation } = imageSize(data);
    // EXIF orientations 5-8 are rotated by 90 degrees: a viewer shows them the other way round.
    return (orientation ?? 1) >= 5 ? { w: height, h: width } : { w: width, h: height };
  } catch {
    return undefined;
  }
}

/** Where an uploaded file is: `url` in a plain room, an EncryptedFile (`file`) in an encrypted one. */
export type FileSource = { url: string } | { file: EncryptedFileInfo & { url: string } };

/**
 * Uploads the file, encrypted first for an encrypted room (as application/octet-stream and
 * without its name: the server learns neither); a file over the server's limit is a usage
 * error saying the limit.
 */
export async function uploadFile(client: MatrixClient, file: LocalFile, encrypt: boolean): Promise<FileSource> {
  if (!encrypt) return { url: await upload(client, file, file.data, file.mimetype, file.name) };
  const { ciphertext, info } = encryptAttachment(file.data);
  return { file: { url: await upload(client, file, ciphertext, 'application/octet-stream', undefined), ...info } };
}

/** The mxc:// URI of an upload. */
export function sourceUri(source: FileSource): string {
  return 'url' in source ? source.url : source.file.url;
}

async function upload(client: MatrixClient, file: LocalFile, data: Buffer, contentType: string, name: string | undefined): Promise<string> {
  try {
    return (await uploadContent(client, data, contentType, name)).content_uri;
  } catch (error) {
    if (!(error instanceof MatrixError && (error.errcode === 'M_TOO_LARGE' || error.status === 413))) throw error;
    // Only now is the server's limit worth a request: to say it in the message.
    const limit = await getMediaConfig(client).then((config) => config['m.upload.size'], () => undefined);
    throw new MxError(
      `${file.name} is ${file.info.size} bytes, more than the server accepts` +
        (typeof limit === 'number' ? ` (its upload limit is ${limit} bytes)` : '') + ' (M_TOO_LARGE)',
      ExitCode.usage,
      error.details,
      { cause: error },
    );
  }
}

/**
 * The message content for an uploaded file. With a caption (TEXT), `body` is the caption and
 * `filename` the file's name, as the spec has it since v1.10; without, `body` is the name.
 */
export function fileContent(file: LocalFile, source: FileSource, msgtype: string | undefined, caption: string | undefined): Content {
  return {
    msgtype: msgtype ?? msgtypeForMime(file.mimetype),
    body: caption ?? file.name,
    ...(caption !== undefined ? { filename: file.name } : {}),
    ...source,
    info: file.info,
  };
}

/** The largest content this file can make (an encrypted file's keys included), for the size check before any request. */
export function largestFileContent(file: LocalFile, msgtype: string | undefined, caption: string | undefined): Content {
  const longestUri = `mxc://${'x'.repeat(255)}/${'x'.repeat(64)}`;
  return fileContent(file, { file: { url: longestUri, ...encryptAttachment(new Uint8Array(0)).info } }, msgtype, caption);
}
