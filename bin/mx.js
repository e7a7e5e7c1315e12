#!/usr/bin/env node
// The mx command. It runs the bundle dist/mx.cjs (see scripts/build.mjs) from V8's code cache,
// so that start-up deserializes bytecode instead of compiling all of mx's JavaScript.
//
// The cache, dist/mx.cjs.cache, is made at build time. It fits only the bundle it was made for
// (both carry the build ID) and the V8 that made it: V8 checks its version, flags and source
// length and rejects anything else (after a Node upgrade, say). Then the bundle is compiled as
// usual and, once, a cache for this Node is written to $XDG_CACHE_HOME/mx/ (default
// ~/.cache/mx/) for the next runs. MX_CODE_CACHE=off turns both caches off. (Node 22's
// module.enableCompileCache() would do the same for files it loads itself; this works on 20.)
// V8 trusts what a code cache holds, so one in the user's cache folder is used only when it is
// a regular file of this user that no one else can write, never through a link; and caches are
// never written through a link, nor over one (their folder $XDG_CACHE_HOME/mx may be a link the
// user made). A cache is an optimisation: what is not fit to use is left alone, and mx runs on.
//
// CommonJS (bin/package.json says so), not an ES module: Node then does not start its ES
// module loader at all, which saves time and memory at every run.
'use strict';
const { closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, rmSync, writeSync } = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const argv = process.argv.slice(2);

if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  // Exactly what the full parse prints for this argv (a test keeps the two equal).
  process.stdout.write(`${JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version}\n`);
} else {
  runBundle(readBundle(path.join(dist, 'mx.cjs')));
}

/** The bundle's source and build ID, and the build's code cache for it (read now, used in runBundle). */
function readBundle(file) {
  const source = readFileSync(file, 'latin1'); // the build makes it pure ASCII
  const buildId = /^\/\/mx-build:([0-9a-f]{16})\n/.exec(source)?.[1];
  const enabled = buildId !== undefined && process.env.MX_CODE_CACHE !== 'off';
  const header = enabled ? Buffer.from(`mx-code-cache:${buildId}\n`, 'latin1') : undefined;
  return { file, source, buildId, enabled, header, distCache: enabled ? readCache(`${file}.cache`, header, false) : undefined };
}

function runBundle({ file, source, buildId, enabled, header, distCache }) {
  const bundle = { exports: {} };
  let script;
  if (enabled) {
    const userCache = userCacheFile(buildId);
    script = compileWithCache(file, source, distCache) ?? (userCache && compileWithCache(file, source, readCache(userCache, header, true)));
    // MX_CODE_CACHE_TRAINING: scripts/code-cache-training.mjs makes the build's cache this way.
    const training = process.env.MX_CODE_CACHE_TRAINING;
    const target = training || (script ? undefined : userCache);
    if (target) {
      // At exit, so that the cache holds every function this run compiled; made with Node's
      // default V8 flags, as it is used (src/v8-flags.ts).
      const cachedData = () => (bundle.exports.restoreDefaultV8Flags(), script.createCachedData());
      const others = training ? undefined : { dir: path.dirname(target), pattern: /^v8-.*\.cache$/, keep: path.basename(target) };
      process.on('exit', () => writeCache(target, header, cachedData, { others }));
    }
    if (userCache && !enableNodeCompileCache(path.join(path.dirname(userCache), 'node-compile-cache'))) {
      cacheLazyFiles(path.join(path.dirname(userCache), `lazy-${buildId}-${process.version}-${process.arch}`), header);
    }
  }
  script ??= compile(file, source, undefined);
  script.runInThisContext()(bundle.exports, require('node:module').createRequire(file), bundle, file, path.dirname(file));
}

/**
 * Node 22 and later cache the compiled code of the files Node loads itself (dist/lazy/,
 * dist/vendor/) once asked to. False on Node 20, which has no such call.
 */
function enableNodeCompileCache(dir) {
  const { enableCompileCache } = require('node:module');
  if (typeof enableCompileCache !== 'function') return false;
  try {
    if (isOwnFolder(dir) !== false) enableCompileCache(dir);
  } catch {
    // A cache is an optimisation, never a reason to fail.
  }
  return true;
}

/**
 * On Node 20, the files of dist/lazy/ and dist/vendor/ (ora, fake-indexeddb, the crypto engine's
 * JavaScript glue, ...) get code caches of their own in DIR: written at the exit of the first run
 * that loads one, used by the next, which then compiles none of it. A cache fits only the V8
 * flags it was made with (src/v8-flags.ts), and these files load while mx's flags are set, so
 * each is made at exit with the flags it was loaded under, or not at all when they changed
 * (it is made on a later run).
 */
function cacheLazyFiles(dir, header) {
  const Module = require('node:module');
  const { cachedDataVersionTag } = require('node:v8');
  const prefix = dist + path.sep;
  const defaultLoad = Module._extensions['.cjs'];
  Module._extensions['.cjs'] = function loadLazyFile(module, filename) {
    if (!filename.startsWith(prefix)) return defaultLoad.call(this, module, filename);
    const source = readFileSync(filename, 'utf8');
    const cacheFile = path.join(dir, `${path.relative(dist, filename).replace(/[\\/]/g, '+')}.cache`);
    let script = compileWithCache(filename, source, readCache(cacheFile, header, true));
    if (!script) {
      script = compile(filename, source, undefined);
      const flags = cachedDataVersionTag();
      // Before the bundle's own cache is written at exit, which puts the default flags back.
      process.prependListener('exit', () => {
        if (cachedDataVersionTag() !== flags) return;
        // This build's first lazy cache: the folders of other builds go.
        const others = existsSync(dir) ? undefined : { dir: path.dirname(dir), pattern: /^lazy-/, keep: path.basename(dir) };
        writeCache(cacheFile, header, () => script.createCachedData(), { others, ownFolder: true });
      });
    }
    script.runInThisContext()(module.exports, Module.createRequire(filename), module, filename, path.dirname(filename));
  };
}

function compile(file, source, cachedData) {
  return new (require('node:vm').Script)(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
}

/** The compiled script if V8 accepts the cache, else undefined. */
function compileWithCache(file, source, cachedData) {
  if (!cachedData) return undefined;
  const script = compile(file, source, cachedData);
  return script.cachedDataRejected ? undefined : script;
}

/**
 * The V8 data of a cache file made for this build, or undefined. `own`: a file of the user's
 * cache folder, used only when it is a regular file of this user that others cannot write
 * (opened without following a link; O_NONBLOCK, so that a FIFO cannot hang the start).
 */
function readCache(file, header, own) {
  let fd;
  try {
    fd = openSync(file, constants.O_RDONLY | (own ? (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0) : 0));
    const stats = fstatSync(fd);
    if (own && !(stats.isFile() && isMine(stats) && (stats.mode & 0o022) === 0)) return undefined;
    const data = Buffer.allocUnsafe(stats.size);
    for (let done = 0, n = -1; done < data.length; done += n) {
      n = readSync(fd, data, done, data.length - done, done);
      if (n === 0) return undefined; // shorter than it was a moment ago: being replaced
    }
    return data.length > header.length && data.subarray(0, header.length).equals(header) ? data.subarray(header.length) : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Whether a file or folder belongs to the user mx runs as (always, where there are no uids). */
function isMine(stats) {
  return process.getuid === undefined || stats.uid === process.getuid();
}

/** For a folder inside the cache folder: true when it is a real folder of this user, false when not, undefined when there is none. */
function isOwnFolder(dir) {
  const stats = lstatSync(dir, { throwIfNoEntry: false });
  return stats && stats.isDirectory() && isMine(stats);
}

/** Removes the entries of `dir` that match `pattern`, but `keep`. */
function removeOtherCaches({ dir, pattern, keep }) {
  for (const name of readdirSync(dir)) {
    if (pattern.test(name) && name !== keep) rmSync(path.join(dir, name), { recursive: true, force: true });
  }
}

/**
 * Writes a cache file atomically (a reader sees the old file or the new one), 0644, through a
 * temp file created new (O_EXCL: never through a link planted at its name), and not over a link
 * or anything but a file; never fails the command. `others`: the caches of other builds and Node
 * versions, removed after. `ownFolder`: the file's folder is one inside the cache folder, which
 * must be a real folder of this user.
 */
function writeCache(target, header, cachedData, { others, ownFolder = false }) {
  try {
    const dir = path.dirname(target);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (ownFolder && !isOwnFolder(dir)) return;
    if (lstatSync(target, { throwIfNoEntry: false })?.isFile() === false) return;
    const data = Buffer.concat([header, cachedData()]);
    const temp = `${target}.${process.pid}.tmp`;
    rmSync(temp, { force: true }); // left by a killed process of the same pid (a link is removed, not followed)
    const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0), 0o644);
    try {
      for (let done = 0; done < data.length; ) done += writeSync(fd, data, done);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
    if (others) removeOtherCaches(others);
  } catch {
    // A cache is an optimisation, never a reason to fail.
  }
}

/** $XDG_CACHE_HOME/mx/v8-BUILD-NODE-ARCH.cache (default ~/.cache/mx/); undefined without a home. */
function userCacheFile(buildId) {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg && path.isAbsolute(xdg) ? xdg : process.env.HOME && path.join(process.env.HOME, '.cache');
  return base && path.join(base, 'mx', `v8-${buildId}-${process.version}-${process.arch}.cache`);
}
