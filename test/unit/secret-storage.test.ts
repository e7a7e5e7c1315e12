// Secret storage (src/crypto/secret-storage.ts) against matrix-js-sdk's own implementation of
// the same spec (recovery keys, key checks, encrypted secrets, passphrases): what one writes,
// the other reads.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeRecoveryKey as sdkDecodeRecoveryKey, encodeRecoveryKey as sdkEncodeRecoveryKey } from 'matrix-js-sdk/lib/crypto-api/recovery-key.js';
import { deriveRecoveryKeyFromPassphrase } from 'matrix-js-sdk/lib/crypto-api/key-passphrase.js';
import { calculateKeyCheck } from 'matrix-js-sdk/lib/secret-storage.js';
import sdkDecryptSecret from 'matrix-js-sdk/lib/utils/decryptAESSecretStorageItem.js';
import sdkEncryptSecret from 'matrix-js-sdk/lib/utils/encryptAESSecretStorageItem.js';
import { ExitCode } from '../../src/errors.js';
import {
  decodeRecoveryKey,
  decryptSecret,
  describeKey,
  encodeRecoveryKey,
  encryptSecret,
  keyFromPassphrase,
  keyMatches,
  looksLikeRecoveryKey,
  SECRET_STORAGE_ALGORITHM,
} from '../../src/crypto/secret-storage.js';

const key = () => new Uint8Array(randomBytes(32));

describe('recovery keys', () => {
  it('are written as matrix-js-sdk writes them, and read back from either', () => {
    for (let i = 0; i < 20; i++) {
      const k = key();
      const ours = encodeRecoveryKey(k);
      expect(ours).toBe(sdkEncodeRecoveryKey(k));
      expect(ours).toMatch(/^Es[1-9A-HJ-NP-Za-km-z]{2}( [1-9A-HJ-NP-Za-km-z]{4}){11}$/);
      expect(looksLikeRecoveryKey(ours)).toBe(true);
      expect(decodeRecoveryKey(ours)).toEqual(k);
      expect(new Uint8Array(sdkDecodeRecoveryKey(ours))).toEqual(k);
    }
    // As people paste them: line breaks, no spaces, extra spaces.
    const k = key();
    const text = encodeRecoveryKey(k);
    expect(decodeRecoveryKey(text.replace(/ /g, ''))).toEqual(k);
    expect(decodeRecoveryKey(`  ${text.replace(/ /g, '\n')}\n`)).toEqual(k);
  });

  it('refuses a typo (parity), a wrong length and other text with a usage error', () => {
    const text = encodeRecoveryKey(key()).replace(/ /g, '');
    const typo = text.slice(0, 10) + (text[10] === 'a' ? 'b' : 'a') + text.slice(11);
    for (const bad of [typo, text.slice(0, -1), 'correct horse battery staple', '']) {
      let error: unknown;
      try {
        decodeRecoveryKey(bad);
      } catch (e) {
        error = e;
      }
      expect((error as { exitCode?: number }).exitCode).toBe(ExitCode.usage);
    }
  });
});

describe('secret storage keys', () => {
  it('describe a key with check values matrix-js-sdk computes too, and tell the right key from another', async () => {
    const k = key();
    const description = describeKey(k, { name: 'mx' });
    expect(description.algorithm).toBe(SECRET_STORAGE_ALGORITHM);
    expect((await calculateKeyCheck(k, description.iv)).mac.replace(/=+$/, '')).toBe(description.mac);
    expect(keyMatches(k, description)).toBe(true);
    expect(keyMatches(key(), description)).toBe(false);
    // Made by matrix-js-sdk (padded base64), checked here.
    const check = await calculateKeyCheck(k);
    expect(keyMatches(k, { algorithm: SECRET_STORAGE_ALGORITHM, iv: check.iv, mac: check.mac })).toBe(true);
    // No check values: the spec says to assume the key is right.
    expect(keyMatches(key(), { algorithm: SECRET_STORAGE_ALGORITHM })).toBe(true);
  });

  it('come from a passphrase as matrix-js-sdk derives them (PBKDF2-SHA-512)', async () => {
    const passphrase = { algorithm: 'm.pbkdf2', salt: 'MmMsAlty', iterations: 1000, bits: 256 };
    const ours = keyFromPassphrase('a long passphrase', { algorithm: SECRET_STORAGE_ALGORITHM, passphrase });
    expect(ours).toEqual(new Uint8Array(await deriveRecoveryKeyFromPassphrase('a long passphrase', passphrase.salt, passphrase.iterations)));
    expect(() => keyFromPassphrase('x', { algorithm: SECRET_STORAGE_ALGORITHM })).toThrow(/no passphrase/);
  });
});

describe('secrets', () => {
  it('encrypt so that matrix-js-sdk decrypts them, and decrypt what it encrypted', async () => {
    const k = key();
    const secret = Buffer.from(randomBytes(32)).toString('base64');
    const ours = encryptSecret(k, 'm.cross_signing.master', secret);
    expect(Buffer.from(ours.iv, 'base64')[8]! & 0x80).toBe(0);
    expect(await sdkDecryptSecret(ours, k, 'm.cross_signing.master')).toBe(secret);
    const theirs = await sdkEncryptSecret(secret, k, 'm.megolm_backup.v1');
    expect(decryptSecret(k, 'm.megolm_backup.v1', theirs)).toBe(secret);
  });

  it('refuse another key, another secret name and a changed ciphertext (exit code 3), revealing nothing', () => {
    const k = key();
    const data = encryptSecret(k, 'm.cross_signing.master', 'top secret');
    const wrong = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return (error as { exitCode?: number }).exitCode;
      }
      return 'no error';
    };
    expect(wrong(() => decryptSecret(key(), 'm.cross_signing.master', data))).toBe(ExitCode.auth);
    expect(wrong(() => decryptSecret(k, 'm.cross_signing.self_signing', data))).toBe(ExitCode.auth);
    const tampered = Buffer.from(data.ciphertext, 'base64');
    tampered[0]! ^= 1;
    expect(wrong(() => decryptSecret(k, 'm.cross_signing.master', { ...data, ciphertext: tampered.toString('base64') }))).toBe(ExitCode.auth);
  });
});
