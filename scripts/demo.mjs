#!/usr/bin/env node
// `npm run demo`: a walkthrough of mx against a throwaway local Synapse.
//
// Starts Synapse with the test harness (test/homeserver/synapse.mjs; the first run builds the
// Synapse tree: as root, or as a normal user where user namespaces are allowed), points MX_CONFIG_DIR at a temp dir, and runs the built CLI
// (bin/mx.js) step by step, printing each command as `$ mx ...` followed by its output.
// Steps are a list: add new ones (rooms, send, sync) to STEPS below.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSynapse } from '../test/homeserver/synapse.mjs';

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const mxBin = path.join(repoRoot, 'bin', 'mx.js');

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const bold = (s) => (color ? `\x1b[1m${s}\x1b[22m` : s);
const dim = (s) => (color ? `\x1b[2m${s}\x1b[22m` : s);
const red = (s) => (color ? `\x1b[31m${s}\x1b[39m` : s);

/**
 * @typedef {object} Ctx
 * @property {string} url        the homeserver's base URL
 * @property {string} serverName
 * @property {string} password   alice's password (fed on stdin, never on argv)
 * @property {Record<string, unknown>} vars  values later steps need (room ids, ...), set by `after`
 *
 * @typedef {object} Step
 * @property {string} [note]                     a comment printed before the command
 * @property {(ctx: Ctx) => string[]} args       mx's arguments
 * @property {(ctx: Ctx) => string} [stdin]      piped to mx's stdin (else stdin is /dev/null)
 * @property {string} [stdinShown]               how the pipe is shown, e.g. `printf '%s' "$PASSWORD"`
 * @property {number} [expectCode]               default 0; the demo fails if mx exits otherwise
 * @property {(result: { code: number, stdout: string, stderr: string }, ctx: Ctx) => void} [after]
 */

/** @type {Step[]} */
const STEPS = [
  {
    note:
      'Register a new account; the password comes from stdin, never from argv. mx also sets up cross-signing, secret storage and a key backup, ' +
      'so that the device is verified from its first message (the recovery key stays on this machine: mx crypto recovery-key shows it).',
    args: (c) => ['register', 'alice', '--homeserver', c.url, '--password-stdin', '-o', 'text'],
    stdin: (c) => c.password,
    stdinShown: `printf '%s' "$PASSWORD"`,
  },
  {
    note: 'The registration was saved as the default profile.',
    args: () => ['whoami', '-o', 'text'],
  },
  {
    note: 'Log in again as a second device, saved as the profile "laptop"; mx verifies it in the same step with the recovery key it kept.',
    args: (c) => ['login', 'alice', '--password-stdin', '-p', 'laptop', '--homeserver', c.url, '-o', 'text'],
    stdin: (c) => c.password,
    stdinShown: `printf '%s' "$PASSWORD"`,
  },
  {
    args: () => ['profile', 'list', '-o', 'table'],
  },
  {
    args: () => ['whoami', '-p', 'laptop', '-o', 'text'],
  },
  {
    note: 'Log the laptop device out: its access token is revoked on the server.',
    args: () => ['logout', '-p', 'laptop', '-o', 'text'],
  },
  {
    note: 'The laptop profile has no valid token any more: exit code 3 means an authentication failure.',
    args: () => ['whoami', '-p', 'laptop', '-o', 'text'],
    expectCode: 3,
  },
  {
    note: 'A second user, bob, in a profile of his own.',
    args: (c) => ['register', 'bob', '--homeserver', c.url, '--password-stdin', '-p', 'bob', '-o', 'text'],
    stdin: (c) => c.password,
    stdinShown: `printf '%s' "$PASSWORD"`,
  },
  {
    note: 'Alice creates a room with a human-readable alias.',
    args: () => ['room', 'create', '--alias', 'tutorial', '--name', 'Tutorial', '-o', 'text'],
  },
  {
    args: (c) => ['send', `#tutorial:${c.serverName}`, 'hello', '-o', 'text'],
  },
  {
    args: (c) => ['invite', `#tutorial:${c.serverName}`, `@bob:${c.serverName}`, '-o', 'text'],
  },
  {
    note: 'Bob accepts the invite by joining.',
    args: (c) => ['join', `#tutorial:${c.serverName}`, '-p', 'bob', '-o', 'text'],
  },
  {
    note: 'Alice opens a public room; bob joins it by its alias.',
    args: () => ['room', 'create', '--public', '--alias', 'lobby', '-o', 'text'],
  },
  {
    args: (c) => ['join', `#lobby:${c.serverName}`, '-p', 'bob', '-o', 'text'],
  },
  {
    note: 'Bob reads the history and the member list.',
    args: (c) => ['room', 'messages', `#tutorial:${c.serverName}`, '-p', 'bob', '--type', 'm.room.message', '-o', 'text'],
  },
  {
    args: (c) => ['room', 'members', `#tutorial:${c.serverName}`, '-p', 'bob', '-o', 'table'],
  },
  {
    note: 'Get all state: an initial sync (later runs continue from the saved position).',
    args: () => ['sync', '-p', 'bob', '--limit', '1', '-o', 'table'],
  },
  {
    note: 'Bob starts following events: the first tail stores where the stream stands now.',
    args: () => ['tail', '-p', 'bob', '--until-idle', '-o', 'text'],
  },
  {
    note: 'Alice sends three lines, one message each.',
    args: (c) => ['send', `#tutorial:${c.serverName}`, '--lines', '-o', 'text'],
    stdin: () => 'first\nsecond\nthird\n',
    stdinShown: `printf 'first\\nsecond\\nthird\\n'`,
  },
  {
    note: "Bob's tail resumes from its stored position: exactly the new events, as NDJSON for jq.",
    args: () => ['tail', '-p', 'bob', '--until-idle'],
  },
  {
    note: 'An end-to-end encrypted direct chat with Bob (direct chats are encrypted, as in Element).',
    args: (c) => ['room', 'create', '--direct', '--invite', `@bob:${c.serverName}`],
    after: (r, c) => {
      c.vars.secretRoom = JSON.parse(r.stdout).room_id;
    },
  },
  {
    args: (c) => ['join', '-p', 'bob', c.vars.secretRoom, '-o', 'text'],
  },
  {
    note: 'Encrypted with the room key mx shared with Bob\'s device; the server stores only ciphertext.',
    args: (c) => ['send', c.vars.secretRoom, 'the launch code is 0000'],
  },
  {
    note: 'Bob reads it decrypted, with an "encryption" field saying how it came: "verified": true, Alice\'s device is cross-signed by Alice.',
    args: () => ['tail', '-p', 'bob', '--until-idle', '--type', 'm.room.message'],
    after: (r) => {
      const events = r.stdout.trim().split('\n').map((line) => JSON.parse(line));
      if (!events.some((e) => e.encryption?.decrypted && e.encryption.verified)) throw new Error('Bob did not read a decrypted message from a verified device');
    },
  },
  {
    note: "Bob's device is trusted the same way, as Element users' clients require before they share room keys with it.",
    args: () => ['crypto', 'status', '-p', 'bob', '-o', 'text'],
  },
];

/** Quotes an argument for display the way a shell user would type it. */
function shellQuote(arg) {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs bin/mx.js with a clean environment; stdout and stderr are echoed as they come.
 * @param {string[]} args @param {{ env: NodeJS.ProcessEnv, stdin?: string }} opts
 * @returns {Promise<{ code: number, stdout: string, stderr: string }>}
 */
function runMx(args, opts) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [mxBin, ...args], {
      cwd: repoRoot,
      env: opts.env,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => {
      stdout += d;
      process.stdout.write(d);
    });
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
      process.stdout.write(d); // same stream, so output and errors stay in order in a log
    });
    if (opts.stdin !== undefined) {
      child.stdin.on('error', () => {});
      child.stdin.end(opts.stdin);
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const signo = signal ? (os.constants.signals[signal] ?? 0) : 0;
      resolve({ code: code ?? 128 + signo, stdout, stderr });
    });
  });
}

async function main() {
  if (!existsSync(mxBin)) {
    console.error(`demo: ${mxBin} not found; run \`npm ci\` (or \`npm run build\`) first`);
    return 1;
  }

  /** @type {import('../test/homeserver/synapse.d.mts').SynapseServer | undefined} */
  let synapse;
  const configDir = mkdtempSync(path.join(os.tmpdir(), 'mx-demo-'));
  let cleaning = false;
  const cleanup = async () => {
    if (cleaning) return;
    cleaning = true;
    await synapse?.stop();
    rmSync(configDir, { recursive: true, force: true });
  };
  for (const [sig, code] of /** @type {const} */ ([['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]])) {
    process.on(sig, () => {
      console.error(`\ndemo: ${sig}, stopping Synapse`);
      cleanup().finally(() => process.exit(code));
    });
  }

  try {
    console.log(dim('Starting a throwaway Synapse (the first run builds a Debian sid tree; that takes a minute or two)...'));
    synapse = await startSynapse({ log: (m) => console.log(dim(m)) });

    /** @type {Ctx} */
    const ctx = {
      url: synapse.url,
      serverName: synapse.serverName,
      password: `demo-${randomBytes(9).toString('base64url')}`,
      vars: {},
    };
    // A clean environment: nothing from the caller's MX_* variables or real profiles leaks in.
    const env = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      HOME: configDir,
      LANG: process.env.LANG ?? 'C.UTF-8',
      TERM: process.env.TERM ?? 'dumb',
      MX_CONFIG_DIR: path.join(configDir, 'mx'),
      ...(process.env.NO_COLOR ? { NO_COLOR: process.env.NO_COLOR } : {}),
    };

    console.log();
    console.log(bold(`$ export MX_CONFIG_DIR=${env.MX_CONFIG_DIR}`));
    console.log(bold('$ read -rs PASSWORD') + dim('    # a random password; never on the command line'));

    for (const step of STEPS) {
      const args = step.args(ctx);
      const stdin = step.stdin?.(ctx);
      const expectCode = step.expectCode ?? 0;
      const shown = `mx ${args.map(shellQuote).join(' ')}`;
      console.log();
      if (step.note) console.log(dim(`# ${step.note}`));
      console.log(bold(`$ ${step.stdinShown ? `${step.stdinShown} | ${shown}` : shown}`));
      const result = await runMx(args, { env, stdin });
      if (result.stdout && !result.stdout.endsWith('\n')) process.stdout.write('\n');
      if (result.code !== 0 || expectCode !== 0) {
        const ok = result.code === expectCode;
        console.log(dim(`# exit code ${result.code}${ok ? ' (as expected)' : ''}`));
      }
      if (result.code !== expectCode) {
        console.error(red(`demo: \`${shown}\` exited ${result.code}, expected ${expectCode}`));
        return 1;
      }
      step.after?.(result, ctx);
    }
    console.log();
    console.log(dim('Demo finished; stopping Synapse.'));
    return 0;
  } catch (err) {
    console.error(red(`demo: ${err instanceof Error ? err.message : String(err)}`));
    return 1;
  } finally {
    await cleanup();
  }
}

process.exitCode = await main();
