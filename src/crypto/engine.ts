/**
 * Loading the crypto engine: the Rust matrix-sdk-crypto compiled to WebAssembly
 * (@matrix-org/matrix-sdk-crypto-wasm). Loaded only by commands that meet an encrypted room or
 * encrypted traffic: plain rooms and plain commands never pay for it.
 */
import type * as Sdk from '@matrix-org/matrix-sdk-crypto-wasm';

export type CryptoSdk = typeof Sdk;

let loading: Promise<CryptoSdk> | undefined;

/** The engine's module, initialised once per process. */
export function loadEngine(debug?: (line: string) => void): Promise<CryptoSdk> {
  return (loading ??= load(debug));
}

async function load(debug?: (line: string) => void): Promise<CryptoSdk> {
  // stdout carries mx's output (NDJSON for scripts): the engine's glue logs with console.debug
  // and console.info, which Node writes to stdout. Nothing in mx logs through console, so
  // those go to the --debug output (stderr) instead, or nowhere.
  const toDebug = (...args: unknown[]) => debug?.(`crypto: ${args.map(String).join(' ')}`);
  console.log = console.info = console.debug = console.trace = toDebug;
  // 7.8 MB of WebAssembly: compiled lazily, function by function, as it is used (bin/mx.js
  // turns lazy compilation off for undici's small parser, which is all used at once).
  process.getBuiltinModule('node:v8').setFlagsFromString('--wasm-lazy-compilation');
  const sdk = await import('@matrix-org/matrix-sdk-crypto-wasm');
  await sdk.initAsync();
  return sdk;
}

/** A logger for the engine's own calls: everything to the --debug output. */
export function engineLogger(debug?: (line: string) => void): { debug(data: unknown): void; info(data: unknown): void; warn(data: unknown): void; error(data: unknown): void } {
  const log = (level: string) => (data: unknown) => debug?.(`crypto ${level}: ${String(data)}`);
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}
