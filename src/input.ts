/** Reading what the user hands mx besides flags: all of stdin, or JSON inline, from a file or from stdin. */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { addAbortSignal } from 'node:stream';
import { UsageError } from './errors.js';
import type { Io } from './io.js';

/** All of stdin as text. A signal (SIGINT, SIGTERM) stops the wait: stdin is then destroyed. */
export async function readStdin(io: Io): Promise<string> {
  addAbortSignal(io.signal, io.stdin);
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}

/** A flag's JSON value: inline, `@file`, or `-` for stdin. Unreadable or invalid input is a usage error. */
export async function readJsonData(io: Io, data: string, flag: string): Promise<unknown> {
  let text: string;
  let source: string;
  if (data === '-') {
    [text, source] = [await readStdin(io), 'stdin'];
  } else if (data.startsWith('@')) {
    const file = path.resolve(io.cwd, data.slice(1));
    try {
      [text, source] = [await fsp.readFile(file, 'utf8'), file];
    } catch (error) {
      throw new UsageError(`cannot read ${flag} file ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
    }
  } else {
    [text, source] = [data, flag];
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${source} is not valid JSON: ${(error as Error).message}`);
  }
}
