/**
 * The V8 flags mx sets while it runs (Liftoff only for undici's HTTP parser, cli.ts; lazy
 * validation and tiering for the crypto engine, crypto/engine.ts), and the rule that comes
 * with them.
 *
 * Node loads its built-in modules (node:crypto, node:zlib, ...) from a code cache of its own,
 * and V8 rejects a code cache as soon as any flag differs from Node's defaults (caches are keyed
 * by a hash of the flags that differ). A built-in loaded while a flag is set compiles from
 * source instead, at every run (docs/performance.md has what that cost). So:
 * - the flags go in after start-up (cli.ts, once the bundle's modules are initialised);
 * - built-ins needed later are loaded with the defaults put back for that moment
 *   (withNodeDefaultFlags), at a point where no WebAssembly compiles or runs;
 * - mx's own code cache is made with the defaults too (bin/mx.js calls restoreDefaultV8Flags
 *   before it serializes one), since it is used with them.
 * scripts/build.mjs checks that DEFAULT_V8_FLAGS are this Node's defaults and cover every
 * flag given to setV8Flags; an e2e test checks that an encrypted send loads no public built-in
 * with a flag set.
 */

import { nodeV8 } from './builtins.js';

/**
 * Node's defaults for every flag mx sets, and for those --liftoff-only turns off by implication
 * (V8 does not turn an implied flag back on when the implying one goes).
 */
export const DEFAULT_V8_FLAGS = ['--no-liftoff-only', '--wasm-tier-up', '--wasm-dynamic-tiering', '--no-wasm-lazy-validation', '--wasm-tiering-budget=1800000'];

/** Every flag set so far, in order: replayed after withNodeDefaultFlags. */
const applied: string[] = [];

export function setV8Flags(...flags: string[]): void {
  const { setFlagsFromString } = nodeV8();
  for (const flag of flags) {
    setFlagsFromString(flag);
    applied.push(flag);
  }
}

export function restoreDefaultV8Flags(): void {
  const { setFlagsFromString } = nodeV8();
  for (const flag of DEFAULT_V8_FLAGS) setFlagsFromString(flag);
}

/**
 * Runs `load` (which loads Node built-ins) with Node's default flags, so that they come from
 * Node's code cache, then sets mx's flags again. Only for synchronous work during which no
 * WebAssembly compiles or runs: the flags are what V8 compiles wasm with.
 */
export function withNodeDefaultFlags(load: () => void): void {
  if (applied.length === 0) return load();
  restoreDefaultV8Flags();
  try {
    load();
  } finally {
    const { setFlagsFromString } = nodeV8();
    for (const flag of applied) setFlagsFromString(flag);
  }
}
