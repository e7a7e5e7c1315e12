/**
 * Secret storage, the spec's "Secrets" module (SSSS): secrets such as the cross-signing private
 * keys and the key backup's decryption key, stored encrypted in the user's account data with a
 * key only the user holds: the recovery key, or one derived from a passphrase. The algorithm is
 * m.secret_storage.v1.aes-hmac-sha2 (HKDF-SHA-256 per secret name, AES-256-CTR, HMAC-SHA-256),
 * and the recovery key is written in the spec's "cryptographic key representation" (base58,
 * with a prefix and a parity byte). Nothing here is Olm or Megolm: those stay in the engine.
 *
 * Pure functions on bytes and JSON; the account data requests are the caller's (recovery.ts).
 */
import { ExitCode, MxError, UsageError } from '../errors.js';
import { nodeCrypto } from '../builtins.js';

export const SECRET_STORAGE_ALGORITHM = 'm.secret_storage.v1.aes-hmac-sha2';
/** Account data naming the default key ({key: ID}). */
export const DEFAULT_KEY_TYPE = 'm.secret_storage.default_key';
/** Account data type of a key's description. */
export const keyDescriptionType = (keyId: string) => `m.secret_storage.key.${keyId}`;

/** The secrets mx reads and writes: the three cross-signing keys and the backup key. */
export const SECRET_NAMES = {
  master: 'm.cross_signing.master',
  selfSigning: 'm.cross_signing.self_signing',
  userSigning: 'm.cross_signing.user_signing',
  backup: 'm.megolm_backup.v1',
} as const;

/** m.secret_storage.key.* content for this algorithm. */
export interface KeyDescription {
  name?: string;
  algorithm: string;
  passphrase?: { algorithm: string; salt: string; iterations: number; bits?: number };
  iv?: string;
  mac?: string;
}

/** One key's entry in a secret's `encrypted` map. */
export interface EncryptedSecret {
  iv: string;
  ciphertext: string;
  mac: string;
}

/** The recovery key or passphrase is not the one the secrets were stored with (exit code 3, like a wrong password). */
export class WrongKeyError extends MxError {
  constructor(message: string) {
    super(message, ExitCode.auth);
  }
}

const KEY_BYTES = 32;
const RECOVERY_KEY_PREFIX = [0x8b, 0x01];
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/** The spec's representation of a 32-byte key: prefix, key, parity byte, base58, in groups of 4. */
export function encodeRecoveryKey(key: Uint8Array): string {
  const bytes = [...RECOVERY_KEY_PREFIX, ...key];
  bytes.push(bytes.reduce((parity, byte) => parity ^ byte, 0));
  return base58Encode(Uint8Array.from(bytes)).replace(/(.{4})(?!$)/g, '$1 ');
}

/** The key in a recovery key as users type it (spaces and line breaks anywhere); a usage error if it is none. */
export function decodeRecoveryKey(text: string): Uint8Array {
  const compact = text.replace(/\s+/g, '');
  const bytes = base58Decode(compact);
  if (!bytes || bytes.length !== RECOVERY_KEY_PREFIX.length + KEY_BYTES + 1 || bytes[0] !== RECOVERY_KEY_PREFIX[0] || bytes[1] !== RECOVERY_KEY_PREFIX[1]) {
    throw new UsageError('that is not a recovery key (48 letters and digits, shown in groups of four, starting with "Es")');
  }
  if (bytes.reduce((parity, byte) => parity ^ byte, 0) !== 0) throw new UsageError('that recovery key has a typo (its check digit does not match)');
  return bytes.subarray(RECOVERY_KEY_PREFIX.length, RECOVERY_KEY_PREFIX.length + KEY_BYTES);
}

/** A looks-like test: recovery keys are 48 base58 characters once spaces are removed. */
export function looksLikeRecoveryKey(text: string): boolean {
  return /^[1-9A-HJ-NP-Za-km-z]{48}$/.test(text.replace(/\s+/g, ''));
}

/** The key a passphrase stands for (m.pbkdf2: PBKDF2-SHA-512 with the description's salt and rounds). */
export function keyFromPassphrase(passphrase: string, description: KeyDescription): Uint8Array {
  const params = description.passphrase;
  if (!params) throw new WrongKeyError('this secret storage key has no passphrase: give the recovery key');
  if (params.algorithm !== 'm.pbkdf2') throw new MxError(`the secret storage passphrase uses ${params.algorithm}, which mx does not know`, ExitCode.failure);
  const bits = params.bits ?? 256;
  if (!Number.isInteger(params.iterations) || params.iterations < 1 || bits !== 256) {
    throw new MxError('the secret storage key description has unusable passphrase settings', ExitCode.failure);
  }
  const { pbkdf2Sync } = nodeCrypto();
  return new Uint8Array(pbkdf2Sync(passphrase, params.salt, params.iterations, bits / 8, 'sha512'));
}

/** A new key's description: the check values (zeros encrypted under the key), and PBKDF2 settings for a passphrase. */
export function describeKey(key: Uint8Array, extra: Pick<KeyDescription, 'name' | 'passphrase'> = {}): KeyDescription {
  const { iv, mac } = encryptSecretBytes(key, '', new Uint8Array(32));
  return { ...extra, algorithm: SECRET_STORAGE_ALGORITHM, iv, mac };
}

/** Whether `key` is the one the description was made for (true when the description has no check values, as the spec says). */
export function keyMatches(key: Uint8Array, description: KeyDescription): boolean {
  if (description.iv === undefined || description.mac === undefined) return true;
  const { mac } = encryptSecretBytes(key, '', new Uint8Array(32), fromBase64(description.iv));
  return constantTimeEqual(fromBase64(mac), fromBase64(description.mac));
}

export function encryptSecret(key: Uint8Array, name: string, secret: string): EncryptedSecret {
  return encryptSecretBytes(key, name, new TextEncoder().encode(secret));
}

/** The secret, after checking its MAC; WrongKeyError when the MAC does not match. */
export function decryptSecret(key: Uint8Array, name: string, data: EncryptedSecret): string {
  const { createDecipheriv, createHmac } = nodeCrypto();
  const { aesKey, macKey } = deriveKeys(key, name);
  const ciphertext = fromBase64(data.ciphertext);
  const mac = createHmac('sha256', macKey).update(ciphertext).digest();
  if (!constantTimeEqual(mac, fromBase64(data.mac))) throw new WrongKeyError(`${name} does not decrypt with this key (its MAC does not match)`);
  const decipher = createDecipheriv('aes-256-ctr', aesKey, fromBase64(data.iv));
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
}

function encryptSecretBytes(key: Uint8Array, name: string, plaintext: Uint8Array, givenIv?: Uint8Array): EncryptedSecret {
  const { createCipheriv, createHmac, randomBytes } = nodeCrypto();
  const { aesKey, macKey } = deriveKeys(key, name);
  const iv = givenIv ?? randomBytes(16);
  // Bit 63 clear, as the spec says (AES-CTR implementations differ on counter overflow).
  if (!givenIv) iv[8]! &= 0x7f;
  const cipher = createCipheriv('aes-256-ctr', aesKey, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const mac = createHmac('sha256', macKey).update(ciphertext).digest();
  return { iv: toBase64(iv), ciphertext: toBase64(ciphertext), mac: toBase64(mac) };
}

/** HKDF-SHA-256 (salt: 32 zero bytes, info: the secret's name): 32 bytes of AES key, 32 of MAC key. */
function deriveKeys(key: Uint8Array, name: string): { aesKey: Buffer; macKey: Buffer } {
  const okm = Buffer.from(nodeCrypto().hkdfSync('sha256', key, new Uint8Array(32), name, 64));
  return { aesKey: okm.subarray(0, 32), macKey: okm.subarray(32) };
}

/** Unpadded base64, as the spec asks. */
export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}

/** Padded or not: the spec says clients must accept both. */
export function fromBase64(text: string): Buffer {
  return Buffer.from(text, 'base64');
}

function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && nodeCrypto().timingSafeEqual(a, b);
}

function base58Encode(bytes: Uint8Array): string {
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`);
  let out = '';
  while (n > 0n) {
    out = BASE58[Number(n % 58n)]! + out;
    n /= 58n;
  }
  for (const byte of bytes) {
    if (byte !== 0) break;
    out = `1${out}`;
  }
  return out;
}

function base58Decode(text: string): Uint8Array | undefined {
  let n = 0n;
  for (const char of text) {
    const digit = BASE58.indexOf(char);
    if (digit < 0) return undefined;
    n = n * 58n + BigInt(digit);
  }
  let hex = n === 0n ? '' : n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  const leadingZeros = text.length - text.replace(/^1+/, '').length;
  return Uint8Array.from([...new Array<number>(leadingZeros).fill(0), ...Buffer.from(hex, 'hex')]);
}

