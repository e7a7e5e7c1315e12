/**
 * The Node built-ins that only some commands need, loaded on first use: a top-level `import`
 * of one would be paid by every command's start-up, also by `mx whoami`, which needs none of
 * them (an e2e test, test/e2e/startup.test.ts, checks that a plain command loads none). Every
 * other module takes them from here by name; node:fs and node:path, which every command uses,
 * are imported as usual.
 */
export const nodeCrypto = (): typeof import('node:crypto') => process.getBuiltinModule('node:crypto');
export const nodeZlib = (): typeof import('node:zlib') => process.getBuiltinModule('node:zlib');
export const nodeHttp = (): typeof import('node:http') => process.getBuiltinModule('node:http');
export const nodeTls = (): typeof import('node:tls') => process.getBuiltinModule('node:tls');
export const nodeChildProcess = (): typeof import('node:child_process') => process.getBuiltinModule('node:child_process');
export const nodeReadline = (): typeof import('node:readline') => process.getBuiltinModule('node:readline');
export const nodeV8 = (): typeof import('node:v8') => process.getBuiltinModule('node:v8');

/**
 * The built-ins the crypto store and the engine's glue load, loaded together: node:crypto and
 * node:zlib for the store's files, constants and assert for graceful-fs (the store's lock),
 * fs/promises, perf_hooks and Web Crypto (globalThis.crypto) for the glue. crypto/open.ts loads
 * them at once, with Node's default V8 flags (v8-flags.ts), so that they come from Node's own
 * code cache.
 */
export function loadCryptoBuiltins(): void {
  for (const name of ['node:crypto', 'node:zlib', 'constants', 'node:assert', 'node:fs/promises', 'node:perf_hooks']) process.getBuiltinModule(name);
  void globalThis.crypto;
}
