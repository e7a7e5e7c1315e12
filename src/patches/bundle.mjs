// The changes scripts/build.mjs makes to undici and yargs while it bundles them, so that a
// command does not load at start-up what only a few commands need (README.md in this folder
// lists them with their reasons). Each counts what it changed; checkBundlePatches() fails the
// build when a count is not what it was written for, which is what an upgrade that moved the
// code looks like.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const inPackage = (name, file) => file.includes(`${path.sep}node_modules${path.sep}${name}${path.sep}`);

/** undici's client.js requires its HTTP/2 client (node:http2, which pulls in tls and crypto) at load time; the require becomes lazy. */
function lazyUndiciHttp2(counter) {
  return {
    name: 'mx-lazy-undici-http2',
    setup(b) {
      b.onResolve({ filter: /^\.\/client-h2\.js$/ }, (args) => {
        if (!args.importer.endsWith(path.join('undici', 'lib', 'dispatcher', 'client.js'))) return undefined;
        counter.http2++;
        return { path: path.join(path.dirname(args.importer), 'client-h2.js'), namespace: 'mx-lazy' };
      });
      b.onLoad({ filter: /.*/, namespace: 'mx-lazy' }, (args) => ({
        loader: 'js',
        resolveDir: path.dirname(args.path),
        contents: `let connectH2;
module.exports = function lazyConnectH2(...args) {
  connectH2 ??= require(${JSON.stringify(args.path)});
  return connectH2(...args);
};`,
      }));
    },
  };
}

/**
 * yargs imports cliui and string-width only to render help, but string-width makes an
 * Intl.Segmenter (ICU's break-iterator data) and Unicode-property regular expressions when it
 * is loaded. yargs gets stand-ins that load them on first call.
 */
function lazyHelpRendering(counter) {
  return {
    name: 'mx-lazy-help-rendering',
    setup(b) {
      b.onResolve({ filter: /^(cliui|string-width)$/ }, async (args) => {
        if (args.pluginData === 'mx-real' || !inPackage('yargs', args.importer)) return undefined;
        const real = await b.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, importer: args.importer, pluginData: 'mx-real' });
        if (real.errors.length) return { errors: real.errors };
        counter.helpRendering++;
        return { path: real.path, namespace: 'mx-lazy-default' };
      });
      b.onLoad({ filter: /.*/, namespace: 'mx-lazy-default' }, (args) => ({
        loader: 'js',
        resolveDir: path.dirname(args.path),
        contents: `let loaded;
export default function lazyDefault(...args) {
  loaded ??= require(${JSON.stringify(args.path)});
  return (loaded.default ?? loaded)(...args);
}`,
      }));
    },
  };
}

/**
 * undici's HTTP parser is a WebAssembly module in base64 in a JavaScript file (and as much
 * again for the variant without SIMD); it is read from dist/ instead (build.mjs writes the
 * files, where bin/mx.js also finds them), so that the bundle and its code cache do not carry it.
 */
function llhttpFromFiles(counter) {
  return {
    name: 'mx-llhttp-from-files',
    setup(b) {
      b.onLoad({ filter: /[\\/]undici[\\/]lib[\\/]llhttp[\\/]llhttp(_simd)?-wasm\.js$/ }, (args) => {
        counter.llhttp++;
        const name = path.basename(args.path, '.js').replace('_simd-wasm', '-simd').replace(/-wasm$/, '') + '.wasm';
        return { loader: 'js', contents: `module.exports = require('node:fs').readFileSync(require('node:path').join(__dirname, ${JSON.stringify(name)}));` };
      });
    },
  };
}

/** What the stand-in for node:assert offers: all that undici and yargs use of it (checked in checkAssertUses). */
const ASSERT_STAND_IN = `function fail(message) {
  const error = new Error(message ?? 'assertion failed');
  error.code = 'ERR_ASSERTION';
  throw error;
}
module.exports = function assert(value, message) {
  if (!value) fail(message);
};
module.exports.strictEqual = (actual, expected, message) => Object.is(actual, expected) || fail(message);
module.exports.notStrictEqual = (actual, expected, message) => !Object.is(actual, expected) || fail(message);`;
const ASSERT_MEMBERS = new Set(['strictEqual', 'notStrictEqual']);

/**
 * undici and yargs load node:assert only for plain checks, and undici loads node:http only for
 * two things it needs later, if at all (the IncomingMessage class, to recognise one as a request
 * body, and http.maxHeaderSize, which src/http-agent.ts gives it). They get a stand-in assert,
 * and undici looks those two up in node:http when first used.
 */
function lazyUndiciBuiltins(counter) {
  const rewrites = [
    // lib/core/util.js
    ["const { IncomingMessage } = require('node:http')", "let IncomingMessageClass\nconst IncomingMessage = () => (IncomingMessageClass ??= require('node:http').IncomingMessage)"],
    ['.constructor === IncomingMessage)', '.constructor === IncomingMessage())'],
    // lib/dispatcher/client.js: the default maximum header size, asked for when a client is made
    ["const http = require('node:http')\n", ''],
    [/const getDefaultNodeMaxHeaderSize = http &&[\s\S]*?: \(\) => \{ throw new InvalidArgumentError\([^)]*\) \}\n/, "const getDefaultNodeMaxHeaderSize = () => require('node:http').maxHeaderSize\n"],
  ];
  return {
    name: 'mx-lazy-undici-builtins',
    setup(b) {
      b.onResolve({ filter: /^(node:)?assert$/ }, (args) => {
        if (!inPackage('undici', args.importer) && !inPackage('yargs', args.importer)) return undefined;
        counter.assertUsers.add(args.importer);
        return { path: 'assert', namespace: 'mx-assert-stand-in' };
      });
      b.onLoad({ filter: /.*/, namespace: 'mx-assert-stand-in' }, () => ({ loader: 'js', contents: ASSERT_STAND_IN }));
      b.onLoad({ filter: /[\\/]undici[\\/]lib[\\/](core[\\/]util|dispatcher[\\/]client)\.js$/ }, async (args) => {
        let source = await readFile(args.path, 'utf8');
        for (const [from, to] of rewrites) {
          const next = source.replace(from, to);
          if (next !== source) counter.httpRewrites++;
          source = next;
        }
        return { loader: 'js', contents: source };
      });
    },
  };
}

/** The plugins for the main bundle, and the counters checkBundlePatches() reads after the build. */
export function bundlePatches() {
  const counter = { http2: 0, helpRendering: 0, llhttp: 0, httpRewrites: 0, assertUsers: new Set() };
  return { counter, plugins: [lazyUndiciHttp2(counter), lazyUndiciBuiltins(counter), lazyHelpRendering(counter), llhttpFromFiles(counter)] };
}

export async function checkBundlePatches(counter) {
  const expect = (what, got, want, dependency) => {
    if (got !== want) throw new Error(`${what} matched ${got} times, not ${want}: has ${dependency} changed? (src/patches/bundle.mjs)`);
  };
  expect("the lazy HTTP/2 require in undici's client.js", counter.http2, 1, 'undici');
  expect("the llhttp WebAssembly files in undici's lib/llhttp", counter.llhttp, 2, 'undici');
  expect("the node:http rewrites in undici's core/util.js and dispatcher/client.js", counter.httpRewrites, 4, 'undici');
  expect("yargs' imports of cliui and string-width", counter.helpRendering, 2, 'yargs');
  if (counter.assertUsers.size === 0) throw new Error('no module of undici or yargs imports node:assert any more: has undici changed? (src/patches/bundle.mjs)');
  for (const file of counter.assertUsers) await checkAssertUses(file);
}

/** A module given the stand-in for node:assert may use of it only what the stand-in has. */
async function checkAssertUses(file) {
  const source = await readFile(file, 'utf8');
  const used = [
    ...[...source.matchAll(/\bassert\.([A-Za-z]+)/g)].map((m) => m[1]),
    ...[...source.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(?:node:)?assert'/g)].flatMap((m) => m[1].split(',').map((name) => name.trim().split(/\s+as\s+/)[0])),
    ...[...source.matchAll(/const\s*\{([^}]*)\}\s*=\s*require\('(?:node:)?assert'\)/g)].flatMap((m) => m[1].split(',').map((name) => name.trim().split(':')[0].trim())),
  ].filter(Boolean);
  const missing = [...new Set(used)].filter((name) => !ASSERT_MEMBERS.has(name));
  if (missing.length) throw new Error(`${file} uses node:assert's ${missing.join(', ')}, which mx's stand-in lacks (src/patches/bundle.mjs)`);
}
