/** Files mx writes for the user. */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { ExitCode, MxError } from '../errors.js';

/**
 * Writes `data` to a file the user named, created (or truncated) with mode 0600: what mx writes
 * may hold secrets (an API answer with a token, a key export), so it is never readable by others.
 */
export async function writePrivateFile(cwd: string, file: string, data: Uint8Array): Promise<string> {
  const full = path.resolve(cwd, file);
  try {
    const handle = await open(full, 'w', 0o600);
    try {
      // An existing file keeps its mode with open(); make it private too.
      await handle.chmod(0o600);
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new MxError(`cannot write ${full}: ${code ?? String(error)}`, code === 'ENOENT' || code === 'EISDIR' ? ExitCode.usage : ExitCode.failure);
  }
  return full;
}
