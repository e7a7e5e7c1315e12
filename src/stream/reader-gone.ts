/**
 * Noticing that the reader of stdout went away (`mx tail | head -n 1`) while there is nothing
 * to write. A writer normally learns it only from EPIPE on its next write, and in a quiet room
 * that may be never: the pipeline would hang. Node cannot poll a write-only pipe for POLLERR
 * (libuv refuses to read-watch it), so on Linux, when stdout is a pipe, a helper does it:
 * GNU tail (coreutils >= 8.28) polls its stdout for exactly this and dies of SIGPIPE when the
 * reader is gone; `--pid` makes it exit within a second when mx itself ends, however it ends,
 * so it never holds the pipe open after mx. Best effort: without GNU tail nothing is watched
 * and the next write's EPIPE still ends mx cleanly.
 */
import { fstatSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { childEnv } from '../child-env.js';
import { nodeChildProcess } from '../builtins.js';

/**
 * Calls `onGone` once if the reader of `stream` (when it is a pipe) closes it; returns a stop
 * function. `env`: mx's environment, which the helper gets without mx's variables.
 */
export function watchReaderGone(stream: Writable, env: Record<string, string | undefined>, onGone: () => void): () => void {
  const fd = (stream as Writable & { fd?: unknown }).fd;
  if (process.platform !== 'linux' || typeof fd !== 'number') return () => {};
  try {
    if (!fstatSync(fd).isFIFO()) return () => {};
  } catch {
    return () => {};
  }
  let stopped = false;
  // Loaded here, not at start-up (it brings dgram and more): only tail needs it.
  const { spawn } = nodeChildProcess();
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn('tail', ['-f', `--pid=${process.pid}`, '/dev/null'], { stdio: ['ignore', fd, 'ignore'], env: childEnv(env) });
  } catch {
    return () => {};
  }
  child.on('error', () => {}); // no tail here: nothing is watched
  child.on('exit', (_code, signal) => {
    if (!stopped && signal === 'SIGPIPE') onGone();
  });
  child.unref();
  return () => {
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) child.kill();
  };
}
