// Encrypted attachments (spec: "Sending encrypted attachments") with Element's own library,
// matrix-encrypt-attachment (AES-256-CTR, SHA-256 of the ciphertext, v2), so that the peer's
// view of the format does not come from mx's authors.
import { decryptAttachment, encryptAttachment, type IEncryptedFile } from 'matrix-encrypt-attachment';

/** The `file` of an encrypted m.file/m.image/... message (EncryptedFile in the spec). */
export interface EncryptedFile extends IEncryptedFile {
  url: string;
}

/** Splits an mxc:// URI into server name and media ID. */
export function parseMxc(uri: string): { serverName: string; mediaId: string } {
  const m = /^mxc:\/\/([^/]+)\/([^/?#]+)$/.exec(uri);
  if (!m) throw new Error(`not an mxc:// URI: ${JSON.stringify(uri)}`);
  return { serverName: m[1]!, mediaId: m[2]! };
}

/** Downloads media through the authenticated endpoint (/_matrix/client/v1/media/download). */
export async function downloadMedia(homeserverUrl: string, accessToken: string, mxc: string): Promise<Uint8Array> {
  const { serverName, mediaId } = parseMxc(mxc);
  const url = `${homeserverUrl}/_matrix/client/v1/media/download/${encodeURIComponent(serverName)}/${encodeURIComponent(mediaId)}`;
  const res = await fetch(url, { headers: { authorization: `Bearer ${accessToken}` } });
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) throw new Error(`download ${mxc}: HTTP ${res.status} ${Buffer.from(bytes).toString('utf8').slice(0, 300)}`);
  return bytes;
}

/**
 * Downloads `content.file` (or a bare EncryptedFile) and decrypts it; throws if the SHA-256 of
 * the ciphertext or the key/version does not match.
 */
export async function downloadAndDecrypt(
  homeserverUrl: string,
  accessToken: string,
  contentOrFile: { file?: EncryptedFile } | EncryptedFile,
): Promise<Uint8Array> {
  const file = 'url' in contentOrFile && typeof contentOrFile.url === 'string' ? (contentOrFile as EncryptedFile) : (contentOrFile as { file?: EncryptedFile }).file;
  if (!file || typeof file.url !== 'string') throw new Error(`no encrypted file (content.file) in ${JSON.stringify(contentOrFile)}`);
  const ciphertext = await downloadMedia(homeserverUrl, accessToken, file.url);
  const plain = await decryptAttachment(ciphertext.buffer.slice(ciphertext.byteOffset, ciphertext.byteOffset + ciphertext.byteLength) as ArrayBuffer, file);
  return new Uint8Array(plain);
}

/** Encrypts `bytes` and uploads the ciphertext (as application/octet-stream, as Element does). */
export async function encryptAndUpload(homeserverUrl: string, accessToken: string, bytes: Uint8Array): Promise<EncryptedFile> {
  const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  const { data, info } = await encryptAttachment(copy);
  const res = await fetch(`${homeserverUrl}/_matrix/media/v3/upload`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/octet-stream' },
    body: new Uint8Array(data),
  });
  const answer = (await res.json()) as { content_uri?: string };
  if (res.status !== 200 || !answer.content_uri) throw new Error(`upload: HTTP ${res.status} ${JSON.stringify(answer)}`);
  return { ...info, url: answer.content_uri };
}
