import { readFileSync, statSync, writeFileSync, chmodSync, mkdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResult, registerUser, runMx, startMx, tempConfigDir, waitUntil } from './helpers.js';

interface Store {
  defaultProfile?: string;
  profiles: Record<string, { userId?: string; accessToken?: string; positions?: Record<string, string> }>;
}
const readStore = (configDir: string): Store => JSON.parse(readFileSync(path.join(configDir, 'profiles.json'), 'utf8'));

describe('the profile store under stress', () => {
  it('50 concurrent mx processes saving positions and profiles lose nothing', async () => {
    const alice = await registerUser({ profile: 'main' });
    const opts = { configDir: alice.configDir, timeoutMs: 120_000 };
    const runs = await Promise.all([
      // 25 tails, each saving its own cursor in the same profile...
      ...Array.from({ length: 25 }, (_, i) => runMx(['tail', '-p', 'main', '--until-idle', '--cursor', `c${i}`], opts)),
      // ...while 25 logins each save a profile of their own.
      ...Array.from({ length: 25 }, (_, i) =>
        runMx(['login', alice.user, '--password-stdin', '-p', `p${i}`, '--homeserver', alice.homeserver], { ...opts, input: alice.password })),
    ]);
    for (const run of runs) expect(run.code, describeResult(['(one of 50)'], run)).toBe(0);
    const store = readStore(alice.configDir);
    expect(Object.keys(store.profiles).sort()).toEqual(['main', ...Array.from({ length: 25 }, (_, i) => `p${i}`)].sort());
    const cursors = Object.keys(store.profiles.main!.positions ?? {}).filter((key) => key.startsWith('tail:c'));
    expect(cursors).toHaveLength(25);
    expect(store.profiles.main!.accessToken).toBeTruthy();
  }, 180_000);

  it('kill -9 in the middle of writes leaves a readable store with everything that was saved', async () => {
    const alice = await registerUser({ profile: 'main' });
    const procs = Array.from({ length: 12 }, (_, i) =>
      startMx(['login', alice.user, '--password-stdin', '-p', `k${i}`, '--homeserver', alice.homeserver, '--debug'], {
        configDir: alice.configDir, input: alice.password, timeoutMs: 120_000,
      }));
    // Kill every other one as soon as the server has answered its login: it is then saving the
    // new profile (taking the lock, writing, renaming), while the others do the same.
    const loggedIn = /> POST \S+\/login\n.*< 2\d\d /;
    await Promise.all(procs.map(async (proc, i) => {
      if (i % 2 === 0) return;
      await waitUntil(() => loggedIn.test(proc.stderr()) || proc.child.exitCode !== null, `login k${i} to be answered`, 60_000);
      proc.child.kill('SIGKILL');
    }));
    const results = await Promise.all(procs.map((proc) => proc.done));
    for (const [i, result] of results.entries()) {
      if (i % 2 === 0 || result.signal === null) expect(result.code, describeResult([`login k${i}`], result)).toBe(0);
    }
    expect(results.filter((result) => result.signal === 'SIGKILL').length, 'processes killed').toBeGreaterThan(0);
    const saved = results.flatMap((result, i) => (result.code === 0 ? [`k${i}`] : []));
    const store = readStore(alice.configDir);
    for (const name of saved) expect(store.profiles[name]?.accessToken, name).toBeTruthy();
    // A killed process's profile is there whole or not at all.
    for (const [name, profile] of Object.entries(store.profiles)) expect(profile, name).toMatchObject({ userId: alice.userId, accessToken: expect.any(String) });
    // The store still works for the next process (a lock left by a killed one is taken over).
    const after = await runMx(['login', alice.user, '--password-stdin', '-p', 'after', '--homeserver', alice.homeserver], {
      configDir: alice.configDir, input: alice.password, timeoutMs: 60_000,
    });
    expect(after.code, describeResult(['login'], after)).toBe(0);
    expect(readStore(alice.configDir).profiles.after).toBeDefined();
  }, 180_000);

  it.each([
    ['truncated', (text: string) => text.slice(0, Math.floor(text.length / 2))],
    ['garbled', (text: string) => text.replace(/"/g, "'")],
    ['emptied', () => ''],
  ])('a store file %s by hand is reported (exit 8) and never replaced', async (_how, damage) => {
    const alice = await registerUser({ profile: 'main' });
    const file = path.join(alice.configDir, 'profiles.json');
    const damaged = damage(readFileSync(file, 'utf8'));
    writeFileSync(file, damaged);
    for (const args of [['whoami'], ['profile', 'list'], ['login', alice.user, '--password-stdin', '-p', 'x', '--homeserver', alice.homeserver], ['tail', '--until-idle']]) {
      const result = await runMx(args, { configDir: alice.configDir, input: alice.password, env: { MX_PROFILE: 'main' } });
      expect(result.code, describeResult(args, result)).toBe(8);
      expect(result.stderr).toContain(file);
      expect(readFileSync(file, 'utf8')).toBe(damaged);
    }
  });
});

describe('files holding secrets', () => {
  it('are 0600 in a 0700 folder, also after an update by a process with a loose umask', async () => {
    const configDir = path.join(tempConfigDir(), 'fresh');
    const alice = await registerUser({ profile: 'a', configDir, env: {} });
    const check = () => {
      expect(statSync(configDir).mode & 0o777).toBe(0o700);
      expect(statSync(path.join(configDir, 'profiles.json')).mode & 0o777).toBe(0o600);
    };
    check();
    const login = await runMx(['login', alice.user, '--password-stdin', '-p', 'b', '--homeserver', alice.homeserver], {
      configDir, input: alice.password, umask: '000',
    });
    expect(login.code, describeResult(['login'], login)).toBe(0);
    check();
    // Even a file someone loosened by hand is tightened at the next write.
    chmodSync(path.join(configDir, 'profiles.json'), 0o644);
    expect((await runMx(['profile', 'use', 'b'], { configDir, umask: '000' })).code).toBe(0);
    check();
  });

  it('a config file is never executed, wherever it is found', async () => {
    const alice = await registerUser({ profile: 'default' });
    const workDir = path.join(tempConfigDir(), 'project');
    const marker = path.join(workDir, 'EXECUTED');
    const payload = `require('fs').writeFileSync(${JSON.stringify(marker)}, 'pwned'); module.exports = { output: 'text' };`;
    mkdirSync(path.join(workDir, '.config'), { recursive: true });
    for (const name of ['mx.config.js', 'mx.config.cjs', '.mxrc.js', '.config/config.js', '.config/mxrc.js', 'config.js']) {
      writeFileSync(path.join(workDir, name), payload);
    }
    writeFileSync(path.join(alice.configDir, 'config.js'), payload);
    const result = await runMx(['whoami'], { configDir: alice.configDir, cwd: workDir });
    expect(result.code, describeResult(['whoami'], result)).toBe(0);
    expect(JSON.parse(result.stdout).user_id).toBe(alice.userId);
    expect(existsSync(marker)).toBe(false);
    const explicit = await runMx(['whoami', '--config', path.join(workDir, 'mx.config.js')], { configDir: alice.configDir, cwd: workDir });
    expect(explicit.code).toBe(2);
    expect(existsSync(marker)).toBe(false);
  });
});
