// Preloaded into an mx process by the fault tests (NODE_OPTIONS=--require ...): makes the
// disk fail at the Nth write under one folder, as a full disk or a crash would meet mx there.
//
//   MX_FAULT_DIR    the folder whose files count (mx's config dir in a test)
//   MX_FAULT        "enospc:N": the Nth write and every later one fail with ENOSPC (the disk
//                   stays full); "kill:N": the process is killed (SIGKILL) just before the Nth
//                   write; "count": nothing fails
//   MX_FAULT_REPORT a file that gets the number of writes made (or attempted) at exit
//
// A "write" is any call that puts bytes into a file or makes an entry in a folder: write,
// writev, writeFile, appendFile (sync, callback and promise forms, and FileHandle methods),
// mkdir and rename. Calls nested inside another counted call (writeFileSync calling
// writeSync) count once.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const dir = process.env.MX_FAULT_DIR ? path.resolve(process.env.MX_FAULT_DIR) : undefined;
const [mode, at] = (process.env.MX_FAULT ?? 'count').split(':');
const failAt = Number(at);
const report = process.env.MX_FAULT_REPORT;
const original = { writeFileSync: fs.writeFileSync };

let writes = 0;
let depth = 0;
/** Paths of the descriptors opened under the folder, for writes made through a descriptor. */
const fdPaths = new Map();

function inDir(target) {
  if (dir === undefined || target === undefined) return false;
  const resolved = path.resolve(String(target));
  return resolved === dir || resolved.startsWith(dir + path.sep);
}

function targetOf(pathOrFd) {
  return typeof pathOrFd === 'number' ? fdPaths.get(pathOrFd) : pathOrFd instanceof URL ? pathOrFd.pathname : pathOrFd;
}

/** The system call Node would name in the error of this API call (write, mkdir, rename). */
function syscallOf(name) {
  const base = name.replace(/Sync$/, '');
  return base === 'mkdir' || base === 'rename' ? base : 'write';
}

/** Counts one write to `target`; throws (or kills) when it is the one that must fail. */
function count(target, name) {
  const syscall = syscallOf(name);
  if (depth > 0 || !inDir(target)) return;
  // mkdir of a folder that is there already (recursive) writes nothing.
  if (syscall === 'mkdir' && fs.existsSync(target)) return;
  writes++;
  if (mode === 'kill' && writes >= failAt) process.kill(process.pid, 'SIGKILL');
  if (mode === 'enospc' && writes >= failAt) {
    const error = new Error(`ENOSPC: no space left on device, ${syscall} '${target}'`);
    Object.assign(error, { errno: -28, code: 'ENOSPC', syscall, path: String(target) });
    throw error;
  }
}

/** Wraps fs[name] (sync, or callback when the last argument is a function) to count its first argument. */
function wrap(object, name, targetArg = (args) => targetOf(args[0])) {
  const fn = object[name];
  object[name] = function counted(...args) {
    const callback = typeof args[args.length - 1] === 'function' ? args[args.length - 1] : undefined;
    try {
      count(targetArg(args), name);
    } catch (error) {
      if (callback) return void process.nextTick(callback, error);
      if (object === fs.promises) return Promise.reject(error);
      throw error;
    }
    depth++;
    try {
      return fn.apply(this, args);
    } finally {
      depth--;
    }
  };
}

for (const name of ['writeSync', 'write', 'writev', 'writevSync', 'writeFileSync', 'writeFile', 'appendFileSync', 'appendFile', 'mkdirSync', 'mkdir']) wrap(fs, name);
for (const name of ['renameSync', 'rename']) wrap(fs, name, (args) => targetOf(args[1]));
for (const name of ['writeFile', 'appendFile', 'mkdir']) wrap(fs.promises, name);
wrap(fs.promises, 'rename', (args) => targetOf(args[1]));

// Descriptors: remembered at open, forgotten at close.
const openSync = fs.openSync;
fs.openSync = function (file, ...rest) {
  const fd = openSync.call(this, file, ...rest);
  remember(fd, file);
  return fd;
};
const closeSync = fs.closeSync;
fs.closeSync = function (fd) {
  fdPaths.delete(fd);
  return closeSync.call(this, fd);
};
let handlePatched = false;
const promiseOpen = fs.promises.open;
fs.promises.open = async function (file, ...rest) {
  const handle = await promiseOpen.call(this, file, ...rest);
  if (!handlePatched) patchFileHandle(Object.getPrototypeOf(handle));
  remember(handle.fd, file);
  return handle;
};

/** A descriptor number is reused once closed: each open says anew which file it is. */
function remember(fd, file) {
  if (inDir(targetOf(file))) fdPaths.set(fd, path.resolve(String(targetOf(file))));
  else fdPaths.delete(fd);
}

function patchFileHandle(proto) {
  handlePatched = true;
  for (const name of ['write', 'writev', 'writeFile', 'appendFile']) {
    const fn = proto[name];
    proto[name] = function counted(...args) {
      try {
        count(fdPaths.get(this.fd), name);
      } catch (error) {
        return Promise.reject(error);
      }
      return fn.apply(this, args);
    };
  }
}

if (report) {
  process.on('exit', () => {
    depth++;
    original.writeFileSync(report, String(writes));
  });
}
