import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { registerUser, runMx, tempConfigDir, waitUntil } from './helpers.js';

/** Every process's command line on this machine, read from /proc. */
function allCommandLines(): string[] {
  const lines: string[] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      lines.push(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' '));
    } catch {
      // The process ended while we looked.
    }
  }
  return lines;
}

describe('secrets', () => {
  it('never shows the access token in stdout, in --debug stderr, or in any process argv', async () => {
    const alice = await registerUser({ profile: 'default' });
    const token: string = JSON.parse(readFileSync(path.join(alice.configDir, 'profiles.json'), 'utf8')).profiles.default.accessToken;
    expect(token).toMatch(/^syt_/);

    const seen: string[] = [];
    let running = true;
    const watcher = (async () => {
      while (running) {
        seen.push(...allCommandLines());
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    const runs = await Promise.all([
      runMx(['whoami', '--debug'], { configDir: alice.configDir }),
      runMx(['profile', 'show', '--debug'], { configDir: alice.configDir }),
      runMx(['profile', 'list', '--debug', '-o', 'table'], { configDir: alice.configDir }),
      runMx(['api', 'GET', '/v3/joined_rooms', '--debug'], { configDir: alice.configDir }),
      runMx(['login', alice.user, '--password-stdin', '-p', 'two', '--homeserver', alice.homeserver, '--debug'], {
        input: alice.password, configDir: alice.configDir,
      }),
      runMx(['whoami', '--debug'], { configDir: alice.configDir, env: { MX_PROFILE: 'nope' } }),
      runMx(['logout', '--debug', '-p', 'two'], { configDir: alice.configDir }),
      runMx(['room', 'create', '--alias', `s${Date.now().toString(36)}`, '--debug'], { configDir: alice.configDir }),
      runMx(['sync', '--debug'], { configDir: alice.configDir }),
      runMx(['tail', '--until-idle', '--debug'], { configDir: alice.configDir }),
      runMx(['send', '!nope:localhost', 'hi', '--debug'], { configDir: alice.configDir }),
      runMx(['room', 'messages', '#missing:localhost', '--debug'], { configDir: alice.configDir }),
      // A refused token: the error message names the problem, not the token.
      runMx(['whoami', '--debug'], { configDir: alice.configDir, env: { MX_HOMESERVER: alice.homeserver, MX_ACCESS_TOKEN: `${token}x` } }),
    ]);
    running = false;
    await watcher;

    expect(seen.some((line) => line.includes('bin/mx.js'))).toBe(true); // the watcher did see mx running
    for (const run of runs) {
      expect(run.stdout).not.toContain(token);
      expect(run.stderr).not.toContain(token);
      expect(run.stderr).not.toContain(alice.password);
    }
    expect(runs[0]!.stderr).toContain('[debug] > GET');
    expect(runs.at(-1)!.code).toBe(3);
    expect(runs.at(-1)!.stderr).not.toContain(`${token}x`);
    expect(seen.filter((line) => line.includes(token) || line.includes(alice.password))).toEqual([]);

    // Only an explicit --show-token prints it.
    const shown = await runMx(['profile', 'show', '--show-token'], { configDir: alice.configDir });
    expect(JSON.parse(shown.stdout).access_token).toBe(token);
  });

  it('never passes a secret variable to a program mx starts (the browser of mx login --sso)', async () => {
    // A homeserver that offers single sign-on only, and an opener that writes down its environment.
    const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"flows":[{"type":"m.login.sso"}]}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const bin = tempConfigDir();
    const dump = path.join(bin, 'env.txt');
    writeFileSync(path.join(bin, 'xdg-open'), `#!/bin/sh\nenv > ${dump}.tmp && mv ${dump}.tmp ${dump}\n`, { mode: 0o755 });
    const secrets = {
      MX_PASSWORD: 'secret-password', MX_ACCESS_TOKEN: 'secret-access-token', MX_RECOVERY_KEY: 'secret-recovery-key',
      MX_PASSPHRASE: 'secret-passphrase', MX_LOGIN_TOKEN: 'secret-login-token', MX_REGISTRATION_TOKEN: 'secret-registration-token',
    };
    try {
      const { port } = server.address() as AddressInfo;
      const r = await runMx(['login', '--sso', '--homeserver', `http://127.0.0.1:${port}`, '--sso-timeout', '1'], {
        env: { ...secrets, DISPLAY: ':0', PATH: `${bin}:${process.env.PATH}`, KEEP_ME: 'kept' },
      });
      expect(r.code, r.stderr).toBe(3); // nobody signed in
      await waitUntil(() => existsSync(dump), 'the browser to start');
      const env = readFileSync(dump, 'utf8');
      expect(env).toMatch(/^KEEP_ME=kept$/m);
      expect(env).not.toMatch(/^MX_/m);
      for (const value of Object.values(secrets)) expect(env).not.toContain(value);
    } finally {
      server.close();
    }
  });
});
