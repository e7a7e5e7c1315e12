// Builds dist/ for bin/mx.js: dist/mx.cjs, one CommonJS bundle of src/cli.ts, and
// dist/mx.cjs.cache, a V8 code cache for it; dist/lazy/*.cjs, the packages only some commands
// load; dist/llhttp*.wasm, undici's HTTP parser; dist/mx.1, the man page. dist/ holds all that
// mx needs at run time: an installed mx has no dependencies. `node scripts/build.mjs --analyze`
// also prints what is in the bundle, biggest first.
//
// Why this shape (measured on Node 20; docs/performance.md has the figures):
// - One file for what every command loads: Node resolves and reads one file instead of
//   hundreds. Packages that only some commands load, with `await import()` (ora, cli-table3,
//   marked, mime, image-size, cosmiconfig, entities), are bundled into files of their own in
//   dist/lazy/, so that they are not read at every start.
// - CommonJS, because Node 20 reaches V8's code cache only through vm.Script, which runs
//   scripts, not ES modules. The cache holds the bytecode of every function that ran in the
//   training (scripts/code-cache-training.mjs), so mx compiles next to nothing when it starts.
//   It is tied to this bundle (the build ID in the bundle's first line) and to this V8 (which
//   rejects a cache from another version); bin/mx.js falls back to compiling when it does not fit.
// - What runs at load time but is not needed by most commands is deferred: the changes to
//   undici and yargs that do it, and the checks that an upgrade has not moved what they change,
//   are in src/patches/ (its README.md lists them).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeMetafile, build } from 'esbuild';
import { trainCodeCache } from './code-cache-training.mjs';
import { writeLicenses } from './licenses.mjs';
import { writeManPage } from './man.mjs';
import { bundlePatches, checkBundlePatches } from '../src/patches/bundle.mjs';
import { checkRuntimePatches } from '../src/patches/check.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
/** The files that set V8 flags at run time, with src/v8-flags.ts's setV8Flags (see checkV8Flags). */
const V8_FLAG_SETTERS = ['src/cli.ts', 'src/crypto/engine.ts'];
const dist = path.join(root, 'dist');
const outfile = path.join(dist, 'mx.cjs');
/** Replaced by the bundle's content hash after the build (same length: the source map stays right). */
const BUILD_ID_PLACEHOLDER = '0'.repeat(16);

/**
 * cosmiconfig can load TypeScript configs; mx never does (config files never run code), so its
 * lazy import of the compiler must not drag 3 MB of it into the bundle.
 */
const noTypeScript = {
  name: 'mx-no-typescript',
  setup(b) {
    b.onResolve({ filter: /^typescript$/ }, () => ({ path: 'typescript', namespace: 'mx-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'mx-stub' }, () => ({
      loader: 'js',
      contents: "throw new Error('mx does not load TypeScript config files');",
    }));
  },
};

/** Packages src/ loads with `await import()`; each becomes dist/lazy/NAME.cjs. */
const LAZY_PACKAGES = ['ora', 'cli-table3', 'marked', 'mime', 'image-size', 'cosmiconfig', 'entities/decode', 'fake-indexeddb'];
const lazyName = (name) => name.replace('/', '-');
const lazyFile = (name) => `./lazy/${lazyName(name)}.cjs`;

/**
 * Packages src/ loads with `await import()` that cannot be bundled and are copied into
 * dist/vendor/ as they are: the crypto engine's glue finds its 7.8 MB WebAssembly file next to
 * itself (__dirname). Copying keeps dist/ whole on its own (the bench runs a copy of it).
 */
const VENDORED = {
  '@matrix-org/matrix-sdk-crypto-wasm': {
    entry: 'node.cjs',
    files: ['node.cjs', 'pkg/matrix_sdk_crypto_wasm_bg.cjs', 'pkg/matrix_sdk_crypto_wasm_bg.wasm', 'LICENSE', 'package.json'],
  },
};
const vendorFile = (name) => `./vendor/${name.split('/').pop()}/${VENDORED[name].entry}`;

/** In the main bundle, `await import('ora')` becomes a lazy require of dist/lazy/ora.cjs. */
function lazyPackages(seen) {
  return {
    name: 'mx-lazy-packages',
    setup(b) {
      b.onResolve({ filter: /^[a-z@]/ }, (args) => {
        if (args.kind !== 'dynamic-import' || !(LAZY_PACKAGES.includes(args.path) || args.path in VENDORED)) return undefined;
        seen.add(args.path);
        return { path: args.path, namespace: 'mx-lazy-ref' };
      });
      // esbuild keeps an import() of an external module as import(), which vm.Script cannot run;
      // a re-export in a module of its own becomes a require(), run when the import() happens.
      b.onLoad({ filter: /.*/, namespace: 'mx-lazy-ref' }, (args) => {
        const file = JSON.stringify(args.path in VENDORED ? vendorFile(args.path) : lazyFile(args.path));
        return { loader: 'js', contents: `export * from ${file};\nexport { default } from ${file};` };
      });
      b.onResolve({ filter: /^\.\/(lazy|vendor)\// }, (args) => (args.namespace === 'mx-lazy-ref' ? { path: args.path, external: true } : undefined));
    },
  };
}

/** Options shared by the main bundle and the lazy ones. */
const common = {
  absWorkingDir: root,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20.19',
  minify: true,
  // ASCII only, so that bin/mx.js can read the bundle as latin1 (a plain copy, no UTF-8 decoding).
  charset: 'ascii',
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
  // ES modules in the bundle (yargs) read import.meta.url, which a CommonJS bundle lacks.
  define: { 'import.meta.url': '__mxImportMetaUrl', __MX_VERSION__: JSON.stringify(packageVersion()) },
};
/** mx's version lives in package.json only; src/version.ts gets it from here. */
function packageVersion() {
  return JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
}
const importMetaUrl = "var __mxImportMetaUrl=require('node:url').pathToFileURL(__filename).href;";

await rm(dist, { recursive: true, force: true });
await checkRuntimePatches(root);
const patches = bundlePatches();
const lazySeen = new Set();
const result = await build({
  ...common,
  entryPoints: ['src/cli.ts'],
  outfile,
  metafile: true,
  plugins: [...patches.plugins, lazyPackages(lazySeen), noTypeScript],
  // Strict mode throughout, as in the ES modules it is made of (a directive must come first).
  banner: { js: `//mx-build:${BUILD_ID_PLACEHOLDER}\n'use strict';${importMetaUrl}` },
});
const missed = [...LAZY_PACKAGES, ...Object.keys(VENDORED)].filter((name) => !lazySeen.has(name));
if (missed.length) throw new Error(`no \`await import()\` of ${missed.join(', ')} in src/: update LAZY_PACKAGES`);
const lazyResult = await build({
  ...common,
  metafile: true,
  entryPoints: Object.fromEntries(LAZY_PACKAGES.map((name) => [lazyName(name), `mx-lazy:${name}`])),
  outdir: path.join(dist, 'lazy'),
  outExtension: { '.js': '.cjs' },
  plugins: [
    {
      name: 'mx-lazy-entries',
      setup(b) {
        b.onResolve({ filter: /^mx-lazy:/ }, (args) => ({ path: args.path.slice('mx-lazy:'.length), namespace: 'mx-lazy-entry' }));
        b.onLoad({ filter: /.*/, namespace: 'mx-lazy-entry' }, (args) => ({
          loader: 'js',
          resolveDir: root,
          contents: `module.exports = require(${JSON.stringify(args.path)});`,
        }));
      },
    },
    noTypeScript,
  ],
  banner: { js: `'use strict';${importMetaUrl}` },
});
await checkBundlePatches(patches.counter);
checkV8Flags();

const code = await readFile(outfile, 'latin1');
if (/[^\x00-\x7f]/.test(code)) throw new Error(`${outfile} is not pure ASCII`);
// vm.Script has no loader for import(): the main bundle must have none.
if (/\bimport\(/.test(code)) throw new Error(`${outfile} has an import(), which bin/mx.js (vm.Script) cannot run`);
const buildId = createHash('sha256').update(code).digest('hex').slice(0, BUILD_ID_PLACEHOLDER.length);
await writeFile(outfile, code.replace(BUILD_ID_PLACEHOLDER, buildId), 'latin1');

const requireFromRoot = createRequire(path.join(root, 'package.json'));
for (const [name, { files }] of Object.entries(VENDORED)) {
  const from = path.join(root, 'node_modules', name);
  for (const file of files) await cp(path.join(from, file), path.join(dist, 'vendor', name.split('/').pop(), file));
}

// undici's HTTP parser, which the bundle reads from here (src/patches/bundle.mjs).
await writeFile(path.join(dist, 'llhttp-simd.wasm'), requireFromRoot('undici/lib/llhttp/llhttp_simd-wasm.js'));
await writeFile(path.join(dist, 'llhttp.wasm'), requireFromRoot('undici/lib/llhttp/llhttp-wasm.js'));

// The man page, made from the command definitions (scripts/man.mjs); package.json's `man` installs it.
await writeManPage({ root, outfile: path.join(dist, 'mx.1'), version: packageVersion() });
await writeLicenses({ root, metafiles: [result.metafile, lazyResult.metafile], outfile: path.join(dist, 'THIRD-PARTY-LICENSES.txt') });

if (process.argv.includes('--analyze')) console.log(await analyzeMetafile(result.metafile));

await trainCodeCache({ root, log: (line) => console.error(`build: ${line}`) });

/**
 * cli.ts and the crypto engine's loader tune V8 with setV8Flags (Liftoff only for
 * undici's parser, lazy compilation and tiering for the engine). V8 ignores a flag it does not
 * know, with "Error: unrecognized flag" on stderr, so a Node upgrade that drops one would both
 * pollute mx's stderr and silently undo the tuning: each flag must be one this Node lists.
 */
function checkV8Flags() {
  const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
  const known = new Set([...options.matchAll(/^\s+--([a-z0-9-]+)/gm)].map((m) => m[1].replace(/-/g, '_')));
  const set = new Set();
  for (const file of V8_FLAG_SETTERS) {
    const source = readFileSync(path.join(root, file), 'utf8');
    const calls = [...source.matchAll(/setV8Flags\(([^;]*)\);/g)].map((m) => m[1]);
    const flags = calls.flatMap((args) => [...args.matchAll(/[`'"]--(?:no-)?([a-z0-9-]+)/g)].map((m) => m[1]));
    if (flags.length === 0) throw new Error(`${file} sets no V8 flag any more: update V8_FLAG_SETTERS in scripts/build.mjs`);
    const unknown = flags.filter((flag) => !known.has(flag.replace(/-/g, '_')));
    if (unknown.length) throw new Error(`${file} sets V8 flags that Node ${process.version} does not know: ${unknown.join(', ')}`);
    for (const flag of flags) set.add(flag);
  }
  checkDefaultV8Flags(options, set);
}

/**
 * mx puts every flag it sets back to its default for a moment when it loads Node built-ins and
 * before it writes a code cache (V8 keys both caches by a hash of the flags that differ from
 * the defaults): src/v8-flags.ts's DEFAULT_V8_FLAGS must be this Node's defaults, and cover
 * every flag set, and those --liftoff-only turns off.
 */
function checkDefaultV8Flags(options, set) {
  const flagsModule = readFileSync(path.join(root, 'src/v8-flags.ts'), 'utf8');
  const list = /const DEFAULT_V8_FLAGS = \[([^\]]*)\]/.exec(flagsModule)?.[1];
  if (!list) throw new Error('src/v8-flags.ts has no DEFAULT_V8_FLAGS list any more: update checkDefaultV8Flags in scripts/build.mjs');
  const restored = [...list.matchAll(/'(--[a-z0-9=-]+)'/g)].map((m) => m[1]);
  const name = (flag) => flag.replace(/^--(no-)?/, '').replace(/=.*/, '');
  for (const flag of restored) {
    const defaultLine = new RegExp(`^\\s+--${name(flag)} .*\\n\\s+type: \\S+\\s+default: (\\S+)`, 'm').exec(options)?.[1];
    if (defaultLine !== flag) throw new Error(`src/v8-flags.ts DEFAULT_V8_FLAGS has ${flag}, but Node ${process.version}'s default is ${defaultLine ?? 'unknown'}`);
  }
  const covered = new Set(restored.map(name));
  const missing = [...set, ...(set.has('liftoff-only') ? ['wasm-tier-up', 'wasm-dynamic-tiering'] : [])].filter((flag) => !covered.has(flag));
  if (missing.length) throw new Error(`src/v8-flags.ts DEFAULT_V8_FLAGS does not put back ${missing.map((f) => `--${f}`).join(', ')}`);
}
