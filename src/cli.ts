/**
 * The process entry: the only module that reads process.argv/env, builds the real Io, and
 * calls process.exit.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { fileSystemFailure } from './errors.js';
import { createDispatcher } from './http-agent.js';
import type { Io } from './io.js';
import { main } from './main.js';
import { reportError } from './output/errors.js';
import { promptHidden } from './terminal.js';
import { setV8Flags } from './v8-flags.js';

// bin/mx.js writes mx's code cache with Node's default V8 flags (see v8-flags.ts).
export { restoreDefaultV8Flags } from './v8-flags.js';

const controller = new AbortController();
/** How long a command may take to wind down (save its position, say why) after a signal. */
const SIGNAL_GRACE_MS = 3_000;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  const code = signal === 'SIGINT' ? 130 : 143;
  process.on(signal, () => {
    // A second signal means "stop now"; so does a command that ignores the abort.
    if (controller.signal.aborted) process.exit(code);
    controller.abort(signal);
    setTimeout(() => process.exit(code), SIGNAL_GRACE_MS).unref();
  });
}

// A closed pipe (`mx ... | head -1`) is a normal way for a reader to say "enough": the command
// is told (io.signal aborts with reason 'EPIPE') so that a stream can save its position for the
// lines that really were written; then mx exits 0 (main.ts), at the latest after the grace period.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (controller.signal.aborted) return;
    controller.abort('EPIPE');
    setTimeout(() => process.exit(0), SIGNAL_GRACE_MS).unref();
  });
}

const io: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  stdoutIsTTY: Boolean(process.stdout.isTTY),
  stderrIsTTY: Boolean(process.stderr.isTTY),
  stdinIsTTY: Boolean(process.stdin.isTTY),
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
  now: Date.now,
  sleep: (ms, signal) => delay(ms, undefined, { signal }),
  promptSecret: (question) => promptHidden(process.stdin, process.stderr, question),
  transport: (options) => createDispatcher(process.env, options),
};

// A failure that no command caught (a bug, a promise nobody awaited) is still one line on
// stderr and an exit code, as every error of mx is, not Node's dump of the bundle's source.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (error: unknown) => {
    const argv = process.argv.slice(2);
    const debug = argv.includes('--debug') || Boolean(process.env.MX_DEBUG && process.env.MX_DEBUG !== '0');
    process.exit(reportError(io, io.stdoutIsTTY ? 'text' : 'json', fileSystemFailure(error) ?? error, debug));
  });
}

/**
 * undici parses HTTP with WebAssembly (llhttp), compiled at the first request. V8 would tier hot
 * wasm functions up to TurboFan in background threads, and process.exit waits for those compile
 * jobs, long after the last request of a short command; Liftoff's baseline code is fast
 * enough for a CLI. Set here, at the end of the bundle's start-up, not before it: see v8-flags.ts.
 */
setV8Flags('--liftoff-only');

// No top-level await: the bundle is CommonJS (scripts/build.mjs says why).
void main(process.argv.slice(2), io)
  .then((code) => {
    // stdout and stderr writes to pipes and files are synchronous on Linux, so nothing is cut off.
    process.exit(code);
  });
