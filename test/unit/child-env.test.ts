// Programs mx starts get no secret: the browser `mx login --sso` opens and the pipe watcher of
// `mx tail` are, here, scripts on PATH that write down the environment they were given.
import { chmodSync, closeSync, constants, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { childEnv } from '../../src/child-env.js';
import { main } from '../../src/main.js';
import { watchReaderGone } from '../../src/stream/reader-gone.js';
import { fakeIo, JSON_HEADERS, mockAgent, tempDirMaker } from './fake-io.js';

const tempDir = tempDirMaker('mx-child-env-');
const SECRETS = {
  MX_PASSWORD: 'secret-password',
  MX_ACCESS_TOKEN: 'secret-access-token',
  MX_RECOVERY_KEY: 'secret-recovery-key',
  MX_PASSPHRASE: 'secret-passphrase',
  MX_LOGIN_TOKEN: 'secret-login-token',
  MX_REGISTRATION_TOKEN: 'secret-registration-token',
};

/** A folder holding an executable `name` that writes its environment to the returned file and exits. */
function envDumper(name: string): { bin: string; dump: string } {
  const bin = tempDir();
  const dump = path.join(bin, 'env.txt');
  const script = path.join(bin, name);
  writeFileSync(script, `#!/bin/sh\nenv > ${dump}.tmp && mv ${dump}.tmp ${dump}\n`);
  chmodSync(script, 0o755);
  return { bin, dump };
}

async function dumpedEnv(dump: string): Promise<string> {
  for (let i = 0; i < 200 && !existsSync(dump); i++) await sleep(25);
  return readFileSync(dump, 'utf8');
}

function expectNoSecret(dumped: string): void {
  expect(dumped).toMatch(/^KEEP_ME=kept$/m);
  for (const [name, value] of Object.entries(SECRETS)) {
    expect(dumped).not.toContain(name);
    expect(dumped).not.toContain(value);
  }
  expect(dumped).not.toMatch(/^MX_/m);
}

describe('childEnv', () => {
  it('keeps everything but the MX_ variables (whatever their case)', () => {
    expect(childEnv({ PATH: '/bin', DISPLAY: ':0', MX_PROFILE: 'work', mx_password: 'x', UNSET: undefined, ...SECRETS })).toEqual({ PATH: '/bin', DISPLAY: ':0' });
  });
});

describe('programs mx starts', () => {
  it('the browser that mx login --sso opens sees none of mx\'s secret variables', async () => {
    const { bin, dump } = envDumper('xdg-open');
    const agent = mockAgent();
    agent.get('https://hs.test').intercept({ path: '/_matrix/client/v3/login', method: 'GET' }).reply(200, { flows: [{ type: 'm.login.sso' }] }, JSON_HEADERS);
    const io = fakeIo({
      env: { MX_CONFIG_DIR: tempDir(), PATH: `${bin}:/usr/bin:/bin`, DISPLAY: ':0', KEEP_ME: 'kept', ...SECRETS },
      dispatcher: agent,
    });
    // Nobody signs in: the login gives up after its time limit, once the browser was started.
    expect(await main(['login', '--sso', '--homeserver', 'https://hs.test', '--sso-timeout', '0.5'], io)).toBe(3);
    expect(io.err()).toMatch(/Sign in in the browser that opened/);
    expectNoSecret(await dumpedEnv(dump));
  });

  it('the pipe watcher of mx tail sees none of them either', async () => {
    const { bin, dump } = envDumper('tail');
    const fifo = path.join(tempDir(), 'out');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY);
    try {
      const stop = watchReaderGone({ fd: writer } as unknown as Writable, { PATH: `${bin}:/usr/bin:/bin`, KEEP_ME: 'kept', ...SECRETS }, () => {});
      expectNoSecret(await dumpedEnv(dump));
      stop();
    } finally {
      closeSync(writer);
      closeSync(reader);
    }
  });
});
