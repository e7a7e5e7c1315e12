import { ExitCode, MxError } from '../errors.js';
import type { Io } from '../io.js';
import type { OutputFormat } from './format.js';
import { jsonText, showControls } from './safe-text.js';

/**
 * Writes an error to stderr, one line (a JSON object in JSON mode), and returns its exit
 * code. An error that is not an MxError is a bug in mx: said so, stack only with --debug.
 */
export function reportError(io: Pick<Io, 'stderr' | 'stderrIsTTY'>, format: OutputFormat, error: unknown, debug: boolean): number {
  const known = error instanceof MxError;
  const message = known ? error.message : `internal error: ${(error as Error)?.message ?? String(error)}`;
  const exitCode = known ? error.exitCode : ExitCode.failure;
  if (format === 'json') {
    const details = known ? error.details : {};
    io.stderr.write(jsonText(JSON.stringify({ error: { message, exit_code: exitCode, ...details } }) + '\n', io.stderrIsTTY));
  } else {
    // A server's error text is part of the message: shown, never acted on by the terminal.
    io.stderr.write(`mx: ${showControls(message)}\n`);
  }
  if (debug && error instanceof Error && error.stack) {
    io.stderr.write(`${error.stack.split('\n').map(showControls).join('\n')}\n`);
  } else if (!known) {
    io.stderr.write('mx: this is a bug in mx; run again with --debug for details and please report it\n');
  }
  return exitCode;
}
