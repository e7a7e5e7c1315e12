/**
 * Encrypted attachments (spec: "Sending encrypted attachments"): a file for an encrypted room is
 * encrypted with AES-256-CTR under a fresh key before its upload, and the event carries the key,
 * the IV and the ciphertext's SHA-256 in an EncryptedFile object (`file`) instead of `url`.
 */
import { ExitCode, MxError } from '../errors.js';
import { nodeCrypto } from '../builtins.js';

/** The spec's EncryptedFile, without `url` (known after the upload). */
export interface EncryptedFileInfo {
  key: { kty: 'oct'; key_ops: ['encrypt', 'decrypt']; alg: 'A256CTR'; k: string; ext: true };
  iv: string;
  hashes: { sha256: string };
  v: 'v2';
}

export function encryptAttachment(data: Uint8Array): { ciphertext: Buffer; info: EncryptedFileInfo } {
  const { createCipheriv, createHash, randomBytes } = nodeCrypto();
  const key = randomBytes(32);
  // The spec: a random 64-bit nonce, and a 64-bit counter that starts at zero.
  const iv = Buffer.concat([randomBytes(8), Buffer.alloc(8)]);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  const ciphertext = Buffer.concat([cipher.update(data), cipher.final()]);
  return {
    ciphertext,
    info: {
      key: { kty: 'oct', key_ops: ['encrypt', 'decrypt'], alg: 'A256CTR', k: key.toString('base64url'), ext: true },
      iv: unpadded(iv.toString('base64')),
      hashes: { sha256: unpadded(createHash('sha256').update(ciphertext).digest('base64')) },
      v: 'v2',
    },
  };
}

function unpadded(base64: string): string {
  return base64.replace(/=+$/, '');
}

/** An event's `file` (the spec's EncryptedFile), as it came: checked by decryptAttachment. */
export interface EncryptedFile {
  url: string;
  key?: { alg?: unknown; k?: unknown; kty?: unknown };
  iv?: unknown;
  hashes?: { sha256?: unknown };
  v?: unknown;
}

/**
 * The plaintext of an encrypted attachment. The ciphertext's SHA-256 is checked against the
 * event's first: a file that was damaged or tampered with is an error, and nothing of it is
 * returned.
 */
export function decryptAttachment(ciphertext: Uint8Array, file: EncryptedFile): Buffer {
  const { createDecipheriv, createHash, timingSafeEqual } = nodeCrypto();
  const { key, iv, hashes } = file;
  if (key?.alg !== 'A256CTR' || key.kty !== 'oct' || typeof key.k !== 'string' || typeof iv !== 'string' || typeof hashes?.sha256 !== 'string') {
    throw new MxError('the attachment\'s encryption info is incomplete or not AES-256-CTR (A256CTR): it cannot be decrypted', ExitCode.failure);
  }
  const rawKey = Buffer.from(key.k, 'base64url');
  const rawIv = Buffer.from(iv, 'base64');
  if (rawKey.length !== 32 || rawIv.length !== 16) throw new MxError('the attachment\'s key or IV has the wrong length: it cannot be decrypted', ExitCode.failure);
  const expected = Buffer.from(hashes.sha256, 'base64');
  const actual = createHash('sha256').update(ciphertext).digest();
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
    throw new MxError('the downloaded attachment does not match its SHA-256 hash (damaged, or not the file the event names): nothing was written', ExitCode.failure);
  }
  const decipher = createDecipheriv('aes-256-ctr', rawKey, rawIv);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}
