/**
 * Downloading media (spec: "Content repository"): an mxc:// URI through the authenticated
 * `/_matrix/client/v1/media/download` endpoint, falling back to the old unauthenticated one only
 * on servers that do not have the new one; and a message's attachment, decrypted when it came
 * encrypted (its hash checked). File names from the server or the event are reduced to a plain
 * name, so that nothing is ever written outside the folder it is meant for.
 */
import { UsageError } from '../errors.js';
import { MatrixError } from '../matrix/errors.js';
import { isServerName, printable } from '../matrix/identifiers.js';
import { encodePath, matrixRawRequest, type MatrixClient, type RequestSpec } from '../matrix/http.js';
import { withoutControls } from '../output/safe-text.js';
import { decryptAttachment, type EncryptedFile } from './attachment.js';

export interface MxcUri {
  serverName: string;
  mediaId: string;
}

/** mxc://SERVER/MEDIA_ID; anything else (a path, `..`, other characters) is a usage error. */
export function parseMxcUri(value: string): MxcUri {
  const match = /^mxc:\/\/([^/]+)\/([^/]+)$/.exec(value);
  if (!match || !isServerName(match[1]!)) {
    throw new UsageError(`invalid mxc:// URI "${printable(value)}": give mxc://SERVER/MEDIA_ID`);
  }
  // The spec: a media ID is A-Z, a-z, 0-9, _ and - only (no path, no dots).
  if (!/^[A-Za-z0-9_-]+$/.test(match[2]!)) {
    throw new UsageError(`invalid mxc:// URI "${printable(value)}": the media ID may hold only letters, digits, _ and -`);
  }
  return { serverName: match[1]!, mediaId: match[2]! };
}

export interface Downloaded {
  bytes: Buffer;
  contentType: string;
  /** The name the server gives (Content-Disposition), made safe; undefined when it gives none. */
  fileName: string | undefined;
}

/** Downloads an mxc:// URI; `onProgress` is told of the bytes as they come. */
export async function downloadMedia(client: MatrixClient, uri: MxcUri, onProgress?: RequestSpec['onProgress']): Promise<Downloaded> {
  const spec = (path: string, auth: boolean): RequestSpec => ({
    method: 'GET', path, auth, idempotent: true, timeoutMs: 300_000, what: `download mxc://${uri.serverName}/${uri.mediaId}`, onProgress,
  });
  let answer;
  try {
    answer = await matrixRawRequest(client, spec(encodePath`/_matrix/client/v1/media/download/${uri.serverName}/${uri.mediaId}`, true));
  } catch (error) {
    // A server from before authenticated media (spec v1.11) does not know the endpoint.
    if (!(error instanceof MatrixError && error.errcode === 'M_UNRECOGNIZED')) throw error;
    answer = await matrixRawRequest(client, spec(encodePath`/_matrix/media/v3/download/${uri.serverName}/${uri.mediaId}`, false));
  }
  return { bytes: answer.bytes, contentType: answer.contentType, fileName: fileNameOf(String(answer.headers['content-disposition'] ?? '')) };
}

/** A message's attachment: where it is, and whether it is encrypted. */
export interface Attachment {
  uri: MxcUri;
  encrypted: EncryptedFile | undefined;
  /** The event's name for the file (filename, else body), made safe. */
  fileName: string | undefined;
  mimetype: string | undefined;
}

/** The attachment of a message's (decrypted) content, or undefined when it has none. */
export function attachmentOf(content: Record<string, unknown>): Attachment | undefined {
  const file = content.file as EncryptedFile | undefined;
  const url = typeof file?.url === 'string' ? file.url : typeof content.url === 'string' ? content.url : undefined;
  if (url === undefined) return undefined;
  const name = typeof content.filename === 'string' ? content.filename : typeof content.body === 'string' ? content.body : undefined;
  const info = content.info as { mimetype?: unknown } | undefined;
  return {
    uri: parseMxcUri(url),
    encrypted: typeof file?.url === 'string' ? file : undefined,
    fileName: name === undefined ? undefined : safeFileName(name),
    mimetype: typeof info?.mimetype === 'string' ? info.mimetype : undefined,
  };
}

/** Downloads an attachment and decrypts it when it is encrypted (checking its hash). */
export async function downloadAttachment(client: MatrixClient, attachment: Attachment, onProgress?: RequestSpec['onProgress']): Promise<Downloaded> {
  const downloaded = await downloadMedia(client, attachment.uri, onProgress);
  if (!attachment.encrypted) return { ...downloaded, fileName: attachment.fileName ?? downloaded.fileName };
  // An encrypted upload has no name or type of its own: the event has them.
  return { bytes: decryptAttachment(downloaded.bytes, attachment.encrypted), contentType: attachment.mimetype ?? 'application/octet-stream', fileName: attachment.fileName };
}

/** The longest file name mx writes, in UTF-8 bytes: Linux takes 255, and tail --download puts the event ID before it. */
const MAX_FILE_NAME_BYTES = 200;

/**
 * A plain file name: the last part of whatever path it looks like, without control or bidi
 * characters (`a<U+202E>txt.exe` would show as `aexe.txt`), without leading dots (never `.`,
 * `..`, nor a hidden file like `.bashrc` or `.ssh`), at most MAX_FILE_NAME_BYTES; undefined
 * when nothing usable is left (the caller names the file after its media ID then).
 */
export function safeFileName(name: string): string | undefined {
  const base = withoutControls(name.split(/[/\\]/).pop()!).replace(/^[\s.]+/, '').trim();
  return base === '' ? undefined : shortened(base);
}

/** `name` cut to MAX_FILE_NAME_BYTES at a character boundary, keeping a short extension. */
function shortened(name: string): string {
  const bytes = (text: string) => Buffer.byteLength(text, 'utf8');
  if (bytes(name) <= MAX_FILE_NAME_BYTES) return name;
  const extension = /\.[^.\s]{1,16}$/.exec(name)?.[0] ?? '';
  let stem = '';
  for (const char of name.slice(0, name.length - extension.length)) {
    if (bytes(stem + char) + bytes(extension) > MAX_FILE_NAME_BYTES) break;
    stem += char;
  }
  return stem.trimEnd() + extension;
}

/** The file name of a Content-Disposition header (filename*=UTF-8'' or filename=), made safe. */
function fileNameOf(header: string): string | undefined {
  const extended = /filename\*\s*=\s*(?:UTF-8|utf-8)''([^;]+)/.exec(header)?.[1];
  let name: string | undefined;
  if (extended) {
    try {
      name = decodeURIComponent(extended.trim());
    } catch {
      name = undefined;
    }
  }
  name ??= /filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]+))/.exec(header)?.slice(1).find((part) => part !== undefined)?.replace(/\\(.)/g, '$1').trim();
  return name === undefined ? undefined : safeFileName(name);
}
