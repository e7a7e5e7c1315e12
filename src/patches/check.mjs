// Checks, run by scripts/build.mjs, of what mx's run-time patches of its dependencies rely on
// (README.md in this folder): each fails the build with the file to look at when an upgrade
// moved it, instead of leaving a patch that silently does nothing or a command that fails.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

export async function checkRuntimePatches(root) {
  const requireFromRoot = createRequire(path.join(root, 'package.json'));
  await checkUndiciWithoutIndex(root, requireFromRoot);
  await checkYargsHelpCache(root);
  await checkEngineConsole(root);
}

/** undici.ts wires undici up as undici's index does, from the same four modules. */
async function checkUndiciWithoutIndex(root, requireFromRoot) {
  const fail = (what) => {
    throw new Error(`undici ${what}: update src/patches/undici.ts (and its .d.ts) to match undici's index.js`);
  };
  const index = await readFile(path.join(root, 'node_modules/undici/index.js'), 'utf8');
  for (const module of ['dispatcher/dispatcher', 'dispatcher/agent', 'api', 'dispatcher/env-http-proxy-agent']) {
    if (!index.includes(`require('./lib/${module}')`)) fail(`index.js no longer takes lib/${module} from where undici.ts does`);
  }
  if (!index.includes('Object.assign(Dispatcher.prototype, api)')) fail('index.js no longer adds the request API to Dispatcher.prototype');
  const Agent = requireFromRoot('undici/lib/dispatcher/agent.js');
  const Dispatcher = requireFromRoot('undici/lib/dispatcher/dispatcher.js');
  const api = requireFromRoot('undici/lib/api/index.js');
  const EnvHttpProxyAgent = requireFromRoot('undici/lib/dispatcher/env-http-proxy-agent.js');
  if (typeof Agent?.prototype?.dispatch !== 'function' || !(Agent.prototype instanceof Dispatcher)) fail('lib/dispatcher/agent.js no longer exports the Agent class');
  if (typeof api?.request !== 'function') fail("lib/api/index.js no longer exports the request API");
  if (typeof EnvHttpProxyAgent?.prototype?.dispatch !== 'function') fail('lib/dispatcher/env-http-proxy-agent.js no longer exports EnvHttpProxyAgent');
}

/** yargs.ts replaces a private method of yargs' usage instance that yargs calls after a handler. */
async function checkYargsHelpCache(root) {
  const { default: yargs } = await import(pathToFileURL(path.join(root, 'node_modules/yargs/index.mjs')).href);
  const parser = yargs([]).exitProcess(false).command('run', 'a command', () => {}, () => {});
  const usage = parser.getInternalMethods?.().getUsageInstance?.();
  if (typeof usage?.cacheHelpMessage !== 'function') throw new Error("yargs has no usage.cacheHelpMessage any more: update src/patches/yargs.ts");
  let calls = 0;
  const render = usage.cacheHelpMessage;
  usage.cacheHelpMessage = function counted(...args) {
    calls++;
    return render.apply(this, args);
  };
  await parser.parseAsync(['run']);
  if (calls === 0) throw new Error("yargs no longer calls usage.cacheHelpMessage after a command's handler: update src/patches/yargs.ts");
}

/** engine-console.ts sends the crypto engine's console output to --debug: these must be all the glue uses. */
async function checkEngineConsole(root) {
  const glue = await readFile(path.join(root, 'node_modules/@matrix-org/matrix-sdk-crypto-wasm/pkg/matrix_sdk_crypto_wasm_bg.cjs'), 'utf8');
  const used = new Set([...glue.matchAll(/\bconsole\.([a-z]+)\(/g)].map((m) => m[1]));
  const unexpected = [...used].filter((name) => !['debug', 'info', 'warn', 'error'].includes(name));
  if (unexpected.length) throw new Error(`the crypto engine's glue now logs with console.${unexpected.join(', console.')}: update src/patches/engine-console.ts`);
}
