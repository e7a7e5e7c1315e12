// mx as users get it: packed (npm pack), installed globally from the tarball into an empty
// prefix without network, and run from there. Nothing but mx itself is installed (dist/ holds
// all it needs), its man page is installed and renders, and an encrypted send runs the crypto
// engine of the installed copy. Also: the built man page lints clean.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeResult, homeserverUrl, mxJson, parseJsonLines, randomPassword, repoRoot, runMx, tempConfigDir, uniqueUser } from './helpers.js';

const manPage = path.join(repoRoot, 'dist', 'mx.1');
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** Runs a tool to completion; throws with its output unless it exits 0. */
function run(command: string, args: string[], options: SpawnSyncOptions = {}): { stdout: string; stderr: string } {
  const r = spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${r.status ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return { stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** man, rendering to plain text at 100 columns, nothing from the user's setup. */
function man(args: string[], env: Record<string, string> = {}) {
  return run('man', args, { env: { PATH: process.env.PATH!, LANG: 'C.UTF-8', MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat', ...env } });
}

describe('the man page dist/mx.1', () => {
  it('renders with man -l, without warnings', () => {
    const { stdout, stderr } = man(['--warnings', '-l', manPage]);
    expect(stderr).toBe('');
    for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'COMMANDS', 'ENVIRONMENT', 'FILES', 'EXIT STATUS', 'EXAMPLES']) {
      expect(stdout).toMatch(new RegExp(`^${section}$`, 'm'));
    }
    // Flags print as they are typed: ASCII hyphens and quotes, not typographic ones.
    expect(stdout).toMatch(/^ {7}--txn-id string$/m);
    expect(stdout).toContain(`mx room state '#ops:example.org' m.room.topic`);
  });

  it.skipIf(!has('mandoc'))('passes mandoc -T lint (mandoc is not installed: .ci/run installs it)', () => {
    const r = spawnSync('mandoc', ['-T', 'lint', manPage], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('a global install from the packed tarball', () => {
  let tmp: string;
  let prefix: string;
  let packageDir: string;
  let bin: string;

  beforeAll(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'mx-install-'));
    prefix = path.join(tmp, 'prefix');
    // npm without the user's setup or an npm script's npm_* variables, with a cache of its own
    // (empty: with --offline, any package to fetch fails the install).
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: path.join(tmp, 'home'), npm_config_cache: path.join(tmp, 'cache'), npm_config_update_notifier: 'false' };
    mkdirSync(env.HOME!);
    // --ignore-scripts: pack dist/ as built, without building it again under the tests' feet.
    const [packed] = JSON.parse(run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: repoRoot, env }).stdout) as { filename: string }[];
    run('npm', ['install', '--global', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, path.join(tmp, packed!.filename)], { cwd: tmp, env });
    packageDir = path.join(prefix, 'lib', 'node_modules', 'mx');
    bin = path.join(prefix, 'bin', 'mx');
  }, 240_000);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('installs mx alone, with what it runs from and no source maps', () => {
    expect(readdirSync(path.join(prefix, 'lib', 'node_modules'))).toEqual(['mx']);
    expect(existsSync(path.join(packageDir, 'node_modules'))).toBe(false);
    expect(readdirSync(packageDir).sort()).toEqual(['README.md', 'bin', 'completions', 'dist', 'docs', 'package.json']);
    const files = (readdirSync(path.join(packageDir, 'dist'), { recursive: true }) as string[]).sort();
    expect(files).toEqual(expect.arrayContaining(['mx.cjs', 'mx.cjs.cache', 'mx.1', 'THIRD-PARTY-LICENSES.txt', path.join('vendor', 'matrix-sdk-crypto-wasm', 'pkg', 'matrix_sdk_crypto_wasm_bg.wasm')]));
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([]);
    const pkg = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg.dependencies).toBeUndefined();
  });

  it('runs from the install: --version, help', async () => {
    const version = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')).version as string;
    expect(await runMx(['--version'], { bin })).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
    const help = await runMx(['help', 'room', 'create'], { bin });
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^ {2}--encrypted {2}\(boolean\)$/m);
  });

  it('installs the man page where man finds it', () => {
    const page = path.join(prefix, 'share', 'man', 'man1', 'mx.1');
    expect(statSync(page).isFile()).toBe(true);
    const byPath = man(['-M', path.join(prefix, 'share', 'man'), 'mx']);
    expect(byPath.stdout).toMatch(/^NAME\n {7}mx - a scriptable command-line client for the Matrix client-server API$/m);
    expect(man(['mx'], { MANPATH: path.join(prefix, 'share', 'man') }).stdout).toBe(byPath.stdout);
  });

  it('sends into an encrypted room and reads it back, with the crypto engine of the installed copy', async () => {
    const configDir = tempConfigDir();
    const user = uniqueUser('installed');
    const register = await runMx(['register', user, '--password-stdin', '--homeserver', homeserverUrl()], { bin, configDir, input: randomPassword() });
    expect(register.code, describeResult(register.args, register)).toBe(0);
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted'], { bin, configDir });
    const sent = await mxJson<{ event_id: string; encrypted?: boolean }>(['send', roomId, 'from the installed mx'], { bin, configDir });
    expect(sent.encrypted).toBe(true);
    // On the server it is ciphertext; read back, the installed mx decrypts it.
    const raw = await mxJson<{ type: string }>(['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(sent.event_id)}`], { configDir });
    expect(raw.type).toBe('m.room.encrypted');
    const history = await runMx(['room', 'messages', roomId, '--limit', '5'], { bin, configDir });
    expect(history.code, describeResult(history.args, history)).toBe(0);
    const event = parseJsonLines<{ event_id: string; content: { body?: string }; encryption?: { decrypted: boolean } }>(history.stdout).find((e) => e.event_id === sent.event_id);
    expect(event).toMatchObject({ content: { body: 'from the installed mx' }, encryption: { decrypted: true } });
  });
});
