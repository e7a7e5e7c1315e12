/**
 * Room key files: the spec's passphrase-encrypted key export ("Key exports"), the
 * `-----BEGIN MEGOLM SESSION DATA-----` file Element, matrix-commander and other clients read and
 * write. The engine encrypts and decrypts it (AES-CTR and HMAC-SHA-256 under PBKDF2-SHA-512);
 * this module checks the file's shape first, so that a damaged file and a wrong passphrase get
 * errors of their own.
 */
import { ExitCode, MxError, UsageError } from '../errors.js';
import { WrongKeyError } from './secret-storage.js';
import type { CryptoSession } from './session.js';

const HEADER = '-----BEGIN MEGOLM SESSION DATA-----';
const FOOTER = '-----END MEGOLM SESSION DATA-----';
/** Key derivation rounds of an export: Element's figure. */
export const EXPORT_ROUNDS = 500_000;
/** Version byte, salt, IV, rounds, then the ciphertext and a 32-byte HMAC. */
const MIN_PAYLOAD = 1 + 16 + 16 + 4 + 32;

/** Every room key this device holds, in an encrypted key file; and how many. */
export async function exportRoomKeys(session: CryptoSession, passphrase: string, rounds = EXPORT_ROUNDS): Promise<{ file: string; keys: number }> {
  return session.use(async (engine) => {
    const { machine, sdk } = engine;
    const exported = await machine.exportRoomKeys(() => true);
    const keys = (JSON.parse(exported) as unknown[]).length;
    return { file: `${sdk.OlmMachine.encryptExportedRoomKeys(exported, passphrase, rounds)}\n`, keys };
  });
}

/**
 * Imports the room keys of a key file: a usage error (exit 2) when it is no key file or is cut
 * short, WrongKeyError (exit 3) for a wrong passphrase; the store is changed only by a file
 * that decrypted.
 */
export async function importRoomKeys(session: CryptoSession, file: string, passphrase: string): Promise<{ keys: number; imported: number }> {
  checkKeyFileShape(file);
  return session.use(async (engine) => {
    const { machine, sdk } = engine;
    let exported: string;
    try {
      exported = sdk.OlmMachine.decryptExportedRoomKeys(file, passphrase);
    } catch (error) {
      // The shape is right, so the engine's refusal is its MAC check: the passphrase.
      throw new WrongKeyError(`wrong passphrase for this key file (${error instanceof Error ? error.message : String(error)})`);
    }
    let result;
    try {
      result = await machine.importExportedRoomKeys(exported, () => {});
    } catch (error) {
      throw new MxError(`the key file decrypted, but its keys could not be imported: ${error instanceof Error ? error.message : String(error)}`, ExitCode.usage);
    }
    return { keys: result.totalCount, imported: result.importedCount };
  });
}

function checkKeyFileShape(file: string): void {
  const text = file.trim();
  if (!text.startsWith(HEADER)) throw new UsageError(`not a key file: it does not start with ${HEADER}`);
  if (!text.endsWith(FOOTER)) throw new UsageError(`the key file is cut short: it does not end with ${FOOTER}`);
  const body = text.slice(HEADER.length, -FOOTER.length).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) throw new UsageError('the key file is damaged: its body is not base64');
  const payload = Buffer.from(body, 'base64');
  if (payload.length < MIN_PAYLOAD) throw new UsageError('the key file is cut short: too little data between its first and last lines');
  if (payload[0] !== 1) throw new UsageError(`the key file has format version ${payload[0]}; mx reads version 1`);
}
