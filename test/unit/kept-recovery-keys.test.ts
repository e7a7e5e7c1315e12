// The recovery keys mx keeps on the machine (src/crypto/kept-recovery-keys.ts): private, per
// user, newest first, bounded; a link planted in their place is refused and left alone; a
// damaged or foreign file gives no key rather than a wrong one.
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { keepRecoveryKey, keptRecoveryKey, keptRecoveryKeys, keptRecoveryKeysFile } from '../../src/crypto/kept-recovery-keys.js';
import { expectRefused, PLANTS, tempDir } from './planted-links.js';

const ALICE = '@alice:hs.test';
const key = (n: number) => ({ keyId: `KEY${n}`, recoveryKey: `EsT${n} aaaa bbbb cccc` });

describe('kept recovery keys', () => {
  it('are kept 0600 in a 0700 folder, per user, and found by their secret storage key ID', async () => {
    const stateDir = tempDir();
    const file = await keepRecoveryKey(stateDir, ALICE, key(1), 1000);
    await keepRecoveryKey(stateDir, '@bob:hs.test', key(2), 2000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(keptRecoveryKey(stateDir, ALICE, 'KEY1')).toBe(key(1).recoveryKey);
    expect(keptRecoveryKey(stateDir, ALICE, 'KEY2')).toBeUndefined();
    expect(keptRecoveryKey(stateDir, '@bob:hs.test', 'KEY2')).toBe(key(2).recoveryKey);
  });

  it('keep older keys too (a set-up that stopped half-way), newest first, the ten newest', async () => {
    const stateDir = tempDir();
    for (let n = 1; n <= 12; n++) await keepRecoveryKey(stateDir, ALICE, key(n), n);
    await keepRecoveryKey(stateDir, ALICE, key(5), 99); // the same key again moves to the front, once
    const kept = keptRecoveryKeys(stateDir, ALICE).map((k) => k.key_id);
    expect(kept).toEqual(['KEY5', 'KEY12', 'KEY11', 'KEY10', 'KEY9', 'KEY8', 'KEY7', 'KEY6', 'KEY4', 'KEY3']);
  });

  it('give no key from a damaged file, or from one that names another user', () => {
    const stateDir = tempDir();
    const file = keptRecoveryKeysFile(stateDir, ALICE);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, '{"user_id":"@alice:hs.test","keys":[{"key_id":"K", "recov', { mode: 0o600 });
    expect(keptRecoveryKeys(stateDir, ALICE)).toEqual([]);
    writeFileSync(file, JSON.stringify({ user_id: '@mallory:hs.test', keys: [{ key_id: 'K', recovery_key: 'x', kept_at: 1 }] }));
    expect(keptRecoveryKey(stateDir, ALICE, 'K')).toBeUndefined();
  });

  it('a damaged file is replaced by a whole one at the next key', async () => {
    const stateDir = tempDir();
    const file = keptRecoveryKeysFile(stateDir, ALICE);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, 'not json', { mode: 0o600 });
    await keepRecoveryKey(stateDir, ALICE, key(1), 1);
    expect(JSON.parse(readFileSync(file, 'utf8')).keys).toHaveLength(1);
  });

  describe.each(PLANTS)('refuse %s in the file\'s place, and leave it', (_name, plant) => {
    it('when keeping a key', async () => {
      const stateDir = tempDir();
      const file = keptRecoveryKeysFile(stateDir, ALICE);
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      const planted = plant(file);
      await expectRefused(file, planted, () => keepRecoveryKey(stateDir, ALICE, key(1), 1));
    });
  });
});
