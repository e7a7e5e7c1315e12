// Helpers for end-to-end tests: run the built CLI (bin/mx.js) as a subprocess against the
// homeserver the global setup provides (test/homeserver/global-setup.ts).
//
// Every mx run gets a clean environment: no inherited MX_* variables, HOME and XDG_* inside a
// per-file sandbox, MX_CONFIG_DIR set to a temp dir, stdin from `input` or /dev/null, stdout
// and stderr pipes (never a TTY, so mx prints compact JSON unless told otherwise).
//
// Config dirs: without `configDir`, runMx and registerUser use one temp dir per test (keyed by
// the running test's file and name; outside a test, e.g. in beforeAll, one per file). Setup
// shared between tests should pass the configDir it got back (registerUser returns it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, inject } from 'vitest';
import type { ProvidedHomeserver } from '../homeserver/global-setup.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const mxBin = path.join(repoRoot, 'bin', 'mx.js');

export interface RunMxOptions {
  /** Extra environment, over the clean base; a value of undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** Written to mx's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string;
  /** MX_CONFIG_DIR; default: the current test's temp dir (see above). */
  configDir?: string;
  /** Kill mx and reject after this long; default 30 000. */
  timeoutMs?: number;
  /** Working directory; default the repository root. */
  cwd?: string;
  /** The mx to run; default the repository's bin/mx.js (an installed copy, say). */
  bin?: string;
  /** Run mx under this umask (octal string, e.g. '000'), through /bin/sh. */
  umask?: string;
  /**
   * Run mx where this folder is read-only: a read-only bind mount in a mount namespace of mx's
   * own (root ignores file modes; see readOnlyMounts()), so nothing else sees the change.
   */
  readOnlyDir?: string;
}

/**
 * The unshare arguments that give a process a mount namespace where it may bind-mount (as root,
 * or as root of a user namespace of its own); undefined when this machine allows neither.
 */
export function readOnlyMounts(): string[] | undefined {
  for (const args of [['--mount'], ['--map-root-user', '--mount']]) {
    if (spawnSync('unshare', [...args, 'mount', '--bind', '-o', 'ro', os.tmpdir(), os.tmpdir()]).status === 0) return args;
  }
  return undefined;
}

export interface MxResult {
  /** Exit code; 128 + signal number if mx was killed by a signal. */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The arguments mx ran with (for assertion messages). */
  args: string[];
}

/** The homeserver the e2e global setup started (or MX_TEST_HOMESERVER). */
export function homeserver(): ProvidedHomeserver {
  return inject('homeserver');
}

/** Base URL of the test homeserver, without trailing slash. */
export function homeserverUrl(): string {
  return homeserver().url;
}

/** The server name in user IDs, e.g. "localhost" in @alice:localhost. */
export function serverName(): string {
  return homeserver().serverName;
}

let sandboxRoot: string | undefined;
/**
 * One temp tree per test file (worker module instance) inside the run's temp dir, which the
 * global setup removes at teardown (unless MX_TEST_KEEP_TMP is set).
 */
function sandbox(): string {
  if (!sandboxRoot) {
    const root = mkdtempSync(path.join(inject('e2eTmpDir'), 'w-'));
    for (const d of ['home/.config', 'home/.local/state', 'home/.local/share', 'home/.cache', 'config']) {
      mkdirSync(path.join(root, d), { recursive: true });
    }
    sandboxRoot = root;
  }
  return sandboxRoot;
}

/** A fresh, empty directory for MX_CONFIG_DIR (mode 0700, as mx wants for secrets). */
export function tempConfigDir(): string {
  return mkdtempSync(path.join(sandbox(), 'config', 'c-'));
}

const perTestDirs = new Map<string, string>();
/** The current test's config dir (outside a test: the current file's). */
export function defaultConfigDir(): string {
  const state = expect.getState();
  const key = `${state.testPath ?? ''}\u0000${state.currentTestName ?? ''}`;
  let dir = perTestDirs.get(key);
  if (!dir) {
    dir = tempConfigDir();
    perTestDirs.set(key, dir);
  }
  return dir;
}

function cleanEnv(configDir: string, extra: RunMxOptions['env']): NodeJS.ProcessEnv {
  const home = path.join(sandbox(), 'home');
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_STATE_HOME: path.join(home, '.local/state'),
    XDG_DATA_HOME: path.join(home, '.local/share'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    TMPDIR: os.tmpdir(),
    LANG: 'C.UTF-8',
    TZ: 'UTC',
    MX_CONFIG_DIR: configDir,
    // The devices of test users are not cross-signed (registerUser sets up no cross-signing, and
    // most tests are about other things), and by default mx shares room keys only from a
    // cross-signed device: tests share with every device, unless they test the default
    // (MX_SHARE_KEYS_WITH: undefined).
    MX_SHARE_KEYS_WITH: 'all',
    ...extra,
  };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  return env;
}

export interface RunningMx {
  child: ChildProcess;
  /** Everything mx has written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when mx has exited (never rejects on a non-zero exit; rejects on the time limit). */
  done: Promise<MxResult>;
}

/**
 * Starts `node bin/mx.js ...args` and returns at once, for tests that talk to a running mx
 * (signals, streaming output). With `keepStdinOpen`, stdin stays an open pipe (`child.stdin`).
 */
export function startMx(args: string[], opts: RunMxOptions & { keepStdinOpen?: boolean } = {}): RunningMx {
  const bin = opts.bin ?? mxBin;
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`npm run build\` first`);
  const configDir = opts.configDir ?? defaultConfigDir();
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const pipeStdin = opts.input !== undefined || opts.keepStdinOpen;
  let command = opts.umask === undefined ? [process.execPath, bin, ...args] : ['/bin/sh', '-c', `umask ${opts.umask} && exec "$@"`, 'sh', process.execPath, bin, ...args];
  if (opts.readOnlyDir !== undefined) {
    const unshare = readOnlyMounts();
    if (!unshare) throw new Error('readOnlyDir: unshare cannot make a mount namespace here (neither as root nor in a user namespace)');
    command = ['unshare', ...unshare, '/bin/sh', '-c', 'mount --bind -o ro "$1" "$1" && shift && exec "$@"', 'sh', opts.readOnlyDir, ...command];
  }
  const child = spawn(command[0]!, command.slice(1), {
    cwd: opts.cwd ?? repoRoot,
    env: cleanEnv(configDir, opts.env),
    stdio: [pipeStdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  if (pipeStdin) {
    // mx may exit without reading stdin; that is not the test's failure.
    child.stdin!.on('error', () => {});
    if (opts.input !== undefined && !opts.keepStdinOpen) child.stdin!.end(opts.input);
    else if (opts.input !== undefined) child.stdin!.write(opts.input);
  }
  const done = new Promise<MxResult>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new Error(`mx ${args.join(' ')} timed out after ${timeoutMs} ms\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`));
        return;
      }
      const signo = signal ? (os.constants.signals[signal] ?? 0) : 0;
      resolve({ code: code ?? 128 + signo, signal, stdout, stderr, args });
    });
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

/** Runs `node bin/mx.js ...args`; resolves with the exit code and output (never rejects on a non-zero exit). */
export function runMx(args: string[], opts: RunMxOptions = {}): Promise<MxResult> {
  try {
    return startMx(args, opts).done;
  } catch (error) {
    return Promise.reject(error);
  }
}

/** Formats a result for assertion messages. */
export function describeResult(args: string[], r: MxResult): string {
  return `mx ${args.join(' ')} exited ${r.code}\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`;
}

/** A failure as users must see it: this exit code, one line on stderr (no stack trace), saying `message`. */
export function expectExit(r: MxResult, code: number, message?: RegExp): void {
  expect(r.code, describeResult(r.args, r)).toBe(code);
  expect(r.stderr, describeResult(r.args, r)).not.toMatch(/\n\s+at /);
  if (message) expect(r.stderr, describeResult(r.args, r)).toMatch(message);
}

/** Runs mx, expects exit code 0, and parses stdout as one JSON document. */
export async function mxJson<T = unknown>(args: string[], opts: RunMxOptions = {}): Promise<T> {
  const r = await runMx(args, opts);
  if (r.code !== 0) throw new Error(describeResult(args, r));
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not one JSON document\n${describeResult(args, r)}`);
  }
}

/** Parses newline-delimited JSON (e.g. `mx tail` output). */
export function parseJsonLines<T = unknown>(text: string): T[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as T);
}

/** A localpart no other test (or worker, or earlier run) uses: lowercase, e.g. "alice-m3x1k2-9f0c1a". */
export function uniqueUser(prefix = 'user'): string {
  const p = prefix.toLowerCase().replace(/[^a-z0-9._=-]/g, '') || 'user';
  return `${p}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** A random password. */
export function randomPassword(): string {
  return `pw-${randomBytes(12).toString('base64url')}`;
}

export interface RegisterUserOptions {
  /** Localpart; default uniqueUser('user'). */
  user?: string;
  /** Default randomPassword(). */
  password?: string;
  /** Profile name (-p); default the localpart. */
  profile?: string;
  /** Default: the current test's config dir. */
  configDir?: string;
  /** Default: homeserverUrl(). */
  homeserver?: string;
  env?: Record<string, string | undefined>;
  /**
   * Let register set up cross-signing, secret storage and key backup, as it does by default.
   * Default here: false (--no-crypto-setup), since most tests are about other things and the
   * set-up costs every registration a dozen requests; the trust tests ask for it.
   */
  cryptoSetup?: boolean;
}

export interface RegisteredUser {
  user: string;
  password: string;
  profile: string;
  configDir: string;
  homeserver: string;
  /** From mx's JSON output (user_id), else @user:serverName. */
  userId: string;
  /** mx's parsed JSON output. */
  output: Record<string, unknown>;
}

/**
 * `printf '%s' "$password" | mx register <user> --password-stdin --homeserver <url> -p <profile> [--no-crypto-setup]`;
 * throws unless it exits 0.
 */
export async function registerUser(opts: RegisterUserOptions = {}): Promise<RegisteredUser> {
  const user = opts.user ?? uniqueUser('user');
  const password = opts.password ?? randomPassword();
  const profile = opts.profile ?? user;
  const configDir = opts.configDir ?? defaultConfigDir();
  const hs = opts.homeserver ?? homeserverUrl();
  const args = ['register', user, '--password-stdin', '--homeserver', hs, '-p', profile, ...(opts.cryptoSetup ? [] : ['--no-crypto-setup'])];
  const r = await runMx(args, { input: password, configDir, env: opts.env });
  if (r.code !== 0) throw new Error(describeResult(args, r));
  let output: Record<string, unknown> = {};
  try {
    output = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    throw new Error(`mx register did not print JSON\n${describeResult(args, r)}`);
  }
  const userId = typeof output.user_id === 'string' ? output.user_id : `@${user}:${serverName()}`;
  return { user, password, profile, configDir, homeserver: hs, userId, output };
}

/** A room event as `/messages` returns it (the fields tests look at). */
export interface RoomEvent {
  event_id: string;
  type: string;
  sender: string;
  state_key?: string;
  content: Record<string, any>;
  origin_server_ts: number;
}

/**
 * Every event of a room the user can see, oldest first: pages backwards through
 * `mx api GET /v3/rooms/{id}/messages?dir=b` (following `end`) and reverses. Pass `profile`
 * when the config dir holds several.
 */
export async function roomHistory(configDir: string, roomId: string, opts: { profile?: string; pageSize?: number } = {}): Promise<RoomEvent[]> {
  const events: RoomEvent[] = [];
  let from: string | undefined;
  for (;;) {
    const query = `dir=b&limit=${opts.pageSize ?? 500}${from ? `&from=${encodeURIComponent(from)}` : ''}`;
    const args = ['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/messages?${query}`, ...(opts.profile ? ['-p', opts.profile] : [])];
    const page = await mxJson<{ chunk: RoomEvent[]; end?: string }>(args, { configDir });
    events.push(...page.chunk);
    if (!page.end || page.chunk.length === 0) break;
    from = page.end;
  }
  return events.reverse();
}

/** A profile's homeserver, user and access token, read from its store file (for test traffic that bypasses mx). */
export async function profileCredentials(configDir: string, profile: string): Promise<{ homeserver: string; userId: string; accessToken: string }> {
  const { readFile } = await import('node:fs/promises');
  const store = JSON.parse(await readFile(path.join(configDir, 'profiles.json'), 'utf8'));
  const p = store.profiles?.[profile];
  if (!p?.accessToken) throw new Error(`profile ${profile} in ${configDir} has no access token`);
  return { homeserver: p.homeserver, userId: p.userId, accessToken: p.accessToken };
}

/** Creates a room with `mx api POST /v3/createRoom` (independent of `mx room create`); returns its ID. */
export async function createRoomViaApi(configDir: string, profile: string, body: Record<string, unknown> = {}): Promise<string> {
  const answer = await mxJson<{ room_id: string }>(['api', 'POST', '/v3/createRoom', '-p', profile, '--data', JSON.stringify(body)], { configDir });
  return answer.room_id;
}

/**
 * Sends m.text messages straight from the test process (fast: no mx start-up per message):
 * PUT /rooms/{id}/send/m.room.message/{txn}, with at most `concurrency` in flight (default 1,
 * which keeps the room's order the order of `bodies`). Resolves with the event IDs, in order.
 */
export async function sendTexts(
  creds: { homeserver: string; accessToken: string },
  roomId: string,
  bodies: string[],
  opts: { concurrency?: number } = {},
): Promise<string[]> {
  const { request } = await import('undici');
  const ids: string[] = new Array(bodies.length);
  const prefix = `t${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  let next = 0;
  const worker = async () => {
    while (next < bodies.length) {
      const i = next++;
      const url = `${creds.homeserver}/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/${prefix}-${i}`;
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await request(url, {
            method: 'PUT',
            headers: { authorization: `Bearer ${creds.accessToken}`, 'content-type': 'application/json' },
            body: JSON.stringify({ msgtype: 'm.text', body: bodies[i] }),
          });
          const answer = (await res.body.json()) as { event_id?: string };
          if (res.statusCode !== 200 || !answer.event_id) throw new Error(`send ${i}: HTTP ${res.statusCode} ${JSON.stringify(answer)}`);
          ids[i] = answer.event_id;
          break;
        } catch (error) {
          // The same transaction ID makes a retry safe (no duplicate).
          if (attempt >= 5) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 1) }, worker));
  return ids;
}

/**
 * Whether process `pid` is waiting for input on its file descriptor `fd`: Linux lists the fds an
 * epoll instance watches in /proc/PID/fdinfo (lines "tfd: N ..."), and Node's event loop
 * watches a pipe there while a read of it is pending. For "mx is now blocked reading stdin".
 */
export function isWaitingOnFd(pid: number, fd: number): boolean {
  const watched = new RegExp(`^tfd:\\s+${fd}\\s`, 'm');
  let entries: string[];
  try {
    entries = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return false; // gone
  }
  return entries.some((entry) => {
    try {
      return watched.test(readFileSync(`/proc/${pid}/fdinfo/${entry}`, 'utf8'));
    } catch {
      return false; // closed meanwhile
    }
  });
}

/** Polls `check` every 50 ms until it holds; throws (naming `what`) after `timeoutMs` (default 30 s). */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
