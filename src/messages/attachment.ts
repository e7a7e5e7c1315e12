/**
 * Encrypted attachments (spec: "Sending encrypted attachments"): a file for an encrypted room is
 * encrypted with AES-256-CTR under a fresh key before its upload, and the event carries the key,
 * the IV and the ciphertext's SHA-256 in an EncryptedFile object (`file`) instead of `url`.
 */

/** The spec's EncryptedFile, without `url` (known after the upload). */
export interface EncryptedFileInfo {
  key: { kty: 'oct'; key_ops: ['encrypt', 'decrypt']; alg: 'A256CTR'; k: string; ext: true };
  iv: string;
  hashes: { sha256: string };
  v: 'v2';
}

export function encryptAttachment(data: Uint8Array): { ciphertext: Buffer; info: EncryptedFileInfo } {
  const { createCipheriv, createHash, randomBytes } = process.getBuiltinModule('node:crypto');
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
