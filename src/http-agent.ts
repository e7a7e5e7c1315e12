/**
 * The process's connection pool. The undici index also loads fetch, WebSocket, caches and the
 * mocks, which mx never uses and which cost more start-up time than all of mx; so only the
 * Agent and the request API are imported, wired up the way undici's own index does it.
 */
import { setFlagsFromString } from 'node:v8';
import type { Dispatcher as DispatcherType } from 'undici';
import Agent from 'undici/lib/dispatcher/agent.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';

Object.assign(Dispatcher.prototype, api);

// undici parses HTTP with llhttp compiled to WebAssembly. V8 tiers hot wasm functions up to
// TurboFan in background threads, and process.exit waits for those compile jobs: ~190 ms after
// the last request of a short command (measured: `mx send` 525 -> 341 ms wall, first output
// unchanged). Liftoff's baseline code parses fast enough for a CLI. Set before the first
// request compiles the module.
setFlagsFromString('--liftoff-only');

export function createAgent(): DispatcherType {
  return new Agent({ keepAliveTimeout: 30_000, connections: 16 });
}
