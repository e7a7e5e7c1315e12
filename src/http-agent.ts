/**
 * The process's connection pool. The undici index also loads fetch, WebSocket, caches and the
 * mocks, which mx never uses and which cost more start-up time than all of mx; so only the
 * Agent and the request API are imported, wired up the way undici's own index does it.
 */
import type { Dispatcher as DispatcherType } from 'undici';
import Agent from 'undici/lib/dispatcher/agent.js';
import Dispatcher from 'undici/lib/dispatcher/dispatcher.js';
import api from 'undici/lib/api/index.js';

Object.assign(Dispatcher.prototype, api);

// bin/mx.js sets the V8 flags for undici's HTTP parser (WebAssembly) and compiles the parser
// in the background while mx starts: flags must be set before the bundle is compiled, because
// they are part of its code cache's key.

export function createAgent(): DispatcherType {
  return new Agent({ keepAliveTimeout: 30_000, connections: 16 });
}
