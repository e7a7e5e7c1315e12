/**
 * `mx crypto ...`: this device's encryption identity, and the account's trust and recovery
 * (cross-signing, secret storage with its recovery key, key backup, key files), one file a verb.
 * The work is in src/crypto/; secrets (recovery key, passphrase, password) come from stdin, the
 * environment or a hidden prompt, never from argv.
 */
import { defineCommand } from '../command.js';
import { exportCommand } from './export.js';
import { importCommand } from './import.js';
import { recoverCommand } from './recover.js';
import { recoveryKeyCommand } from './recovery-key.js';
import { setupCommand } from './setup.js';
import { statusCommand } from './status.js';
import { trustCommand } from './trust.js';

export const cryptoCommand = defineCommand({
  command: 'crypto',
  describe: 'Encryption: this device, cross-signing, recovery key, key backup, key files',
  subcommands: [statusCommand, setupCommand, recoverCommand, recoveryKeyCommand, exportCommand, importCommand, trustCommand],
});
