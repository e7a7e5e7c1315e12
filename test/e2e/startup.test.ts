// The start-up path of the built binary (bin/mx.js): the --version fast path, and the V8 code
// cache (dist/mx.cjs.cache), which must be used when it fits and ignored when it does not.
// These tests need no homeserver.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, runMx } from './helpers.js';

const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };

describe('mx --version', () => {
  it('prints from its fast path exactly what the full parse prints', async () => {
    const fast = await runMx(['--version']);
    const short = await runMx(['-V']);
    // Any other argument takes the full path through yargs.
    const full = await runMx(['--version', '--debug']);
    expect(fast).toMatchObject({ code: 0, stdout: `${pkg.version}\n`, stderr: '' });
    expect(short).toMatchObject({ code: 0, stdout: fast.stdout, stderr: '' });
    expect(full).toMatchObject({ code: 0, stdout: fast.stdout, stderr: '' });
  });
});

describe('the code cache', () => {
  let tmp: string;
  /** A private copy of the built CLI, whose cache the tests damage. */
  let bin: string;
  let cacheFile: string;
  let goodCache: Buffer;
  let n = 0;

  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mx-code-cache-test-'));
    for (const part of ['bin', 'dist', 'package.json']) cpSync(path.join(repoRoot, part), path.join(tmp, 'mx', part), { recursive: true });
    bin = path.join(tmp, 'mx', 'bin', 'mx.js');
    cacheFile = path.join(tmp, 'mx', 'dist', 'mx.cjs.cache');
    goodCache = readFileSync(cacheFile);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  /** Runs `mx profile list -o json` from the copy, with an empty config dir and its own XDG cache dir. */
  function run(xdgCache: string, env: Record<string, string> = {}, extraArgs: string[] = []) {
    const config = path.join(tmp, `config-${++n}`);
    mkdirSync(config, { mode: 0o700 });
    const r = spawnSync(process.execPath, [bin, 'profile', 'list', '-o', 'json', ...extraArgs], {
      env: { PATH: process.env.PATH, HOME: path.join(tmp, 'home'), XDG_CACHE_HOME: xdgCache, MX_CONFIG_DIR: config, ...env },
      encoding: 'utf8',
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }
  // mx's own cache files (on Node 22+ Node's compile cache has a folder next to them).
  const userCaches = (xdgCache: string) => (existsSync(path.join(xdgCache, 'mx')) ? readdirSync(path.join(xdgCache, 'mx')).filter((f) => f.endsWith('.cache')) : []);

  it('is used when it fits: nothing is compiled from scratch, nothing is written', () => {
    writeFileSync(cacheFile, goodCache);
    const xdg = path.join(tmp, 'xdg-good');
    expect(run(xdg)).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    expect(userCaches(xdg)).toEqual([]);
  });

  it.each([
    ['truncated', (good: Buffer) => good.subarray(0, good.length >> 1)],
    ['of another build', (good: Buffer) => Buffer.concat([Buffer.from('mx-code-cache:0123456789abcdef\n'), good.subarray(good.indexOf(10) + 1)])],
    ['garbage after a good header', (good: Buffer) => Buffer.concat([good.subarray(0, good.indexOf(10) + 1), Buffer.alloc(good.length, 7)])],
    ['empty', () => Buffer.alloc(0)],
  ])('is ignored when %s; mx then writes a cache of its own once and uses it', (_name, damage) => {
    writeFileSync(cacheFile, damage(goodCache));
    const xdg = path.join(tmp, `xdg-${n}`);
    expect(run(xdg)).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    const written = userCaches(xdg);
    expect(written).toEqual([expect.stringMatching(new RegExp(`^v8-[0-9a-f]{16}-${process.version.replace(/\./g, '\\.')}-${process.arch}\\.cache$`))]);
    const file = path.join(xdg, 'mx', written[0]!);
    const mtime = statSync(file).mtimeMs;
    expect(run(xdg)).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    expect(statSync(file).mtimeMs).toBe(mtime); // used, not made again
  });

  // Node 22 and later cache these files themselves (module.enableCompileCache).
  it.skipIf(typeof (Module as { enableCompileCache?: unknown }).enableCompileCache === 'function')(
    'gives the files of dist/lazy/ caches of their own: made by the first run that loads one, used by the next, remade when damaged',
    () => {
      writeFileSync(cacheFile, goodCache);
      const xdg = path.join(tmp, 'xdg-lazy');
      // A YAML config file is what loads dist/lazy/cosmiconfig.cjs.
      const yaml = path.join(tmp, 'lazy-config.yaml');
      writeFileSync(yaml, 'output: json\n');
      const withYaml = () => run(xdg, {}, ['--config', yaml]);
      expect(withYaml()).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
      const folders = readdirSync(path.join(xdg, 'mx')).filter((f) => f.startsWith('lazy-'));
      expect(folders).toEqual([expect.stringMatching(new RegExp(`^lazy-[0-9a-f]{16}-${process.version.replace(/\./g, '\\.')}-${process.arch}$`))]);
      const file = path.join(xdg, 'mx', folders[0]!, 'lazy+cosmiconfig.cjs.cache');
      const made = readFileSync(file);
      expect(withYaml()).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
      expect(readFileSync(file).equals(made)).toBe(true); // used, not made again
      writeFileSync(file, Buffer.concat([made.subarray(0, made.indexOf(10) + 1), Buffer.alloc(1000, 7)]));
      expect(withYaml()).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
      expect(readFileSync(file).length).toBeGreaterThan(1000); // rejected, and made again
    },
  );

  describe('in the user\'s cache folder', () => {
    const damageDistCache = () => writeFileSync(cacheFile, Buffer.alloc(0)); // so that the user's cache is used
    const v8Cache = (xdg: string) => path.join(xdg, 'mx', userCaches(xdg)[0]!);
    const stat = (file: string) => ({ mode: statSync(file).mode, mtime: statSync(file).mtimeMs, content: readFileSync(file).toString('base64') });

    it('is never read through a link, nor written over one: what the link points to is left alone', () => {
      damageDistCache();
      const xdg = path.join(tmp, 'xdg-link');
      expect(run(xdg).code).toBe(0);
      const file = v8Cache(xdg);
      const target = path.join(tmp, 'not-a-cache');
      writeFileSync(target, 'someone else\'s file\n', { mode: 0o644 });
      rmSync(file);
      symlinkSync(target, file);
      const before = stat(target);
      expect(run(xdg)).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
      expect(stat(target)).toEqual(before);
      expect(lstatSync(file).isSymbolicLink()).toBe(true);
    });

    const spoilers: [string, (file: string) => void][] = [['others can write', (file) => chmodSync(file, 0o666)]];
    // Only root can give a file away.
    if (process.getuid?.() === 0) spoilers.push(['another user owns', (file) => chownSync(file, 65534, 65534)]);
    it.each(spoilers)('is not used when %s it: mx makes one of its own instead', (_name, spoil) => {
      damageDistCache();
      const xdg = path.join(tmp, `xdg-${++n}`);
      expect(run(xdg).code).toBe(0);
      const file = v8Cache(xdg);
      spoil(file);
      utimesSync(file, new Date(2001, 0, 1), new Date(2001, 0, 1));
      expect(run(xdg)).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
      const remade = statSync(file);
      expect(remade.mtimeMs).toBeGreaterThan(new Date(2001, 0, 2).getTime()); // not used: made again
      expect(remade.mode & 0o022).toBe(0);
      expect(remade.uid).toBe(process.getuid?.());
    });

    it.skipIf(typeof (Module as { enableCompileCache?: unknown }).enableCompileCache === 'function')(
      'writes no lazy file cache into a folder that a link in its place points to',
      () => {
        writeFileSync(cacheFile, goodCache);
        const xdg = path.join(tmp, 'xdg-lazy-link');
        const buildId = /^\/\/mx-build:([0-9a-f]{16})\n/.exec(readFileSync(path.join(tmp, 'mx', 'dist', 'mx.cjs'), 'latin1'))![1];
        const target = path.join(tmp, 'elsewhere');
        mkdirSync(target);
        mkdirSync(path.join(xdg, 'mx'), { recursive: true });
        const lazy = path.join(xdg, 'mx', `lazy-${buildId}-${process.version}-${process.arch}`);
        symlinkSync(target, lazy);
        const yaml = path.join(tmp, 'lazy-link-config.yaml');
        writeFileSync(yaml, 'output: json\n');
        expect(run(xdg, {}, ['--config', yaml])).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
        expect(readdirSync(target)).toEqual([]);
        expect(lstatSync(lazy).isSymbolicLink()).toBe(true);
      },
    );
  });

  it('is left alone with MX_CODE_CACHE=off', () => {
    rmSync(cacheFile);
    const xdg = path.join(tmp, 'xdg-off');
    expect(run(xdg, { MX_CODE_CACHE: 'off' })).toEqual({ code: 0, stdout: '[]\n', stderr: '' });
    expect(userCaches(xdg)).toEqual([]);
    writeFileSync(cacheFile, goodCache);
  });
});

describe('what a plain command loads', () => {
  // Node built-ins that cost start-up time and that a plain command does not need: encryption's
  // (crypto, zlib), undici's deferred ones (http, http2, tls, assert), fs/promises. Loaded by
  // a module's top-level import they would cost every command (see scripts/build.mjs, bin/mx.js).
  const DEFERRED = ['crypto', 'zlib', 'http', 'http2', 'tls', 'assert', 'fs/promises', 'readline', 'child_process', 'worker_threads'];

  it('mx whoami loads none of the built-ins only some commands need', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"user_id":"@a:hs.test","device_id":"D"}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const tmp = mkdtempSync(path.join(os.tmpdir(), 'mx-builtins-test-'));
    try {
      const list = path.join(tmp, 'modules.txt');
      const preload = path.join(tmp, 'record.cjs');
      writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join('\\n')));`);
      const { port } = server.address() as { port: number };
      const r = await runMx(['whoami'], {
        configDir: tmp,
        env: { NODE_OPTIONS: `--require ${preload}`, MX_HOMESERVER: `http://127.0.0.1:${port}`, MX_ACCESS_TOKEN: 'token' },
      });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ user_id: '@a:hs.test' });
      const loaded = readFileSync(list, 'utf8').split('\n').filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
      expect(loaded).toContain('net'); // the list is real: what the request needs is there
      expect(loaded.filter((m) => DEFERRED.includes(m))).toEqual([]);
    } finally {
      server.close();
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
