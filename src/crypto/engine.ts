/**
 * Loading the crypto engine: the Rust matrix-sdk-crypto compiled to WebAssembly
 * (@matrix-org/matrix-sdk-crypto-wasm). Loaded only by commands that meet an encrypted room or
 * encrypted traffic: plain rooms and plain commands never pay for it.
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';
import { sendEngineConsoleToDebug } from '../patches/engine-console.js';
import { setV8Flags } from '../v8-flags.js';

export type CryptoSdk = typeof Sdk;

let loading: Promise<CryptoSdk> | undefined;

/** The engine's module, initialised once per process. */
export function loadEngine(debug?: (line: string) => void): Promise<CryptoSdk> {
  return (loading ??= load(debug));
}

async function load(debug?: (line: string) => void): Promise<CryptoSdk> {
  sendEngineConsoleToDebug(debug);
  setEngineCompileFlags();
  const sdk = await import('@matrix-org/matrix-sdk-crypto-wasm');
  await sdk.initAsync();
  return sdk;
}

/**
 * How V8 compiles the engine's WebAssembly. The flags are read when the module is compiled, so
 * they are set just before (v8-flags.ts has the rules for mx's flags).
 */
function setEngineCompileFlags(): void {
  // The engine's WebAssembly is large: compiled lazily, function by function, as it is used
  // (V8's default), and validated as each function is compiled, not all at once up front (an
  // encrypted send uses a small part of the module, and would pay to validate all of it).
  setV8Flags('--wasm-lazy-validation');
  // cli.ts keeps wasm in Liftoff's baseline code (--liftoff-only, which also turned tier-up
  // off), because process.exit waits for optimizing compiles still running. Decrypting is
  // different: to decrypt an event, Megolm advances its ratchet from the key's first message
  // index to the event's (an HMAC-SHA-256 per step) and checks an Ed25519 signature, and
  // TurboFan's code does that several times faster (docs/performance.md: history decryption).
  // A tiering budget 100x V8's default optimizes only the functions that stay hot through
  // thousands of events, so a short command (a send, a page of history) starts no optimizing
  // compile and exits as fast as under Liftoff alone.
  setV8Flags('--no-liftoff-only', '--wasm-tier-up', '--wasm-dynamic-tiering', `--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
}

/** 100x V8's default (1,800,000 in Node 20's V8): see setEngineCompileFlags. */
const WASM_TIERING_BUDGET = 180_000_000;

/** A logger for the engine's own calls: everything to the --debug output. */
export function engineLogger(debug?: (line: string) => void): { debug(data: unknown): void; info(data: unknown): void; warn(data: unknown): void; error(data: unknown): void } {
  const log = (level: string) => (data: unknown) => debug?.(`crypto ${level}: ${String(data)}`);
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
