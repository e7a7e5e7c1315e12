import type { Readable, Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { TransportOptions } from './http-agent.js';

/**
 * Everything a command may touch of the outside world. Only cli.ts builds the real one
 * (from process.*); tests build fakes, so commands never read process globals.
 */
export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  stdinIsTTY: boolean;
  env: Record<string, string | undefined>;
  cwd: string;
  /**
   * The HTTP connection pool for this command, made once its settings are known (an undici
   * Agent; tests give a MockAgent). A proxy variable that is not a URL is a UsageError.
   */
  transport: (options: TransportOptions) => Promise<Dispatcher>;
  /** Aborted on SIGINT/SIGTERM so long requests and polls stop promptly. */
  signal: AbortSignal;
  /** Milliseconds since the epoch; injectable so tests control time. */
  now: () => number;
  /** Waits ms (rejects when the signal aborts); injectable so retry tests do not sleep. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Reads a secret from the terminal without echoing it; undefined when there is no TTY. */
  promptSecret?: (question: string) => Promise<string>;
}
