/**
 * Reading secrets (passwords, tokens). They never come from argv, where `ps` and shell
 * history would keep them: only stdin, an environment variable, or a hidden prompt.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { UsageError } from './errors.js';
import { readStdin } from './input.js';
import type { Io } from './io.js';

/** stdin up to its end, without the line break that `echo` and here-strings add. */
export async function readSecretFromStdin(io: Io, what: string): Promise<string> {
  const secret = (await readStdin(io)).replace(/\r?\n$/, '');
  if (!secret) throw new UsageError(`no ${what} on stdin`);
  return secret;
}

export interface SecretSource {
  /** The user passed --password-stdin (or the like). */
  fromStdin: boolean;
  /** Environment variable to read, e.g. MX_PASSWORD. */
  envVar: string;
  /** What it is, for prompts and errors: "password". */
  what: string;
  /** The flag that reads it from stdin, for the error message. */
  stdinFlag: string;
  /** Ask twice on a terminal (new passwords). */
  confirm?: boolean;
}

/** The secret from stdin, else the environment, else a hidden prompt on a terminal. */
export async function readSecret(io: Io, source: SecretSource): Promise<string> {
  if (source.fromStdin) return readSecretFromStdin(io, source.what);
  const fromEnv = io.env[source.envVar];
  if (fromEnv) return fromEnv;
  if (io.stdinIsTTY && io.stderrIsTTY && io.promptSecret) {
    const secret = await io.promptSecret(`${capitalise(source.what)}: `);
    if (!secret) throw new UsageError(`empty ${source.what}`);
    if (source.confirm && (await io.promptSecret(`Repeat ${source.what}: `)) !== secret) {
      throw new UsageError(`the ${source.what}s do not match`);
    }
    return secret;
  }
  throw new UsageError(`no ${source.what}: pipe it to ${source.stdinFlag} or set ${source.envVar}`);
}

/** A secret file holds a line, not more: a larger file is not the file meant. */
const MAX_SECRET_FILE_BYTES = 4096;

/** A secret from a file the user named (--recovery-key-file), without surrounding space. */
export async function readUserSecretFile(io: Io, file: string, what: string): Promise<string> {
  const full = path.resolve(io.cwd, file);
  let text: string;
  try {
    const fh = await fsp.open(full, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_SECRET_FILE_BYTES) throw new UsageError(`${full} is not a ${what} file: it is ${size} bytes`);
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read the ${what} file ${full}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const secret = text.trim();
  if (!secret) throw new UsageError(`the ${what} file ${full} is empty`);
  return secret;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
