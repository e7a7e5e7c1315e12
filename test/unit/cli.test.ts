import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { MockAgent } from 'undici';
import { describe, expect, it, vi } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, JSON_HEADERS, tempDirMaker, withoutEncryptionSetupWarning } from './fake-io.js';

const configDir = tempDirMaker('mx-unit-');

async function run(argv: string[], options: Parameters<typeof fakeIo>[0] = {}) {
  const io = fakeIo({ ...options, env: { MX_CONFIG_DIR: configDir(), ...options.env } });
  const code = await main(argv, io);
  return { code, out: io.out(), err: io.err(), io };
}

describe('mx in-process', () => {
  it('prints its version, matching package.json', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const { code, out } = await run(['--version']);
    expect(code).toBe(0);
    expect(out).toBe(`${pkg.version}\n`);
  });

  it.each([
    [['whoami', '--bogus'], /Unknown argument: bogus/],
    [['frobnicate'], /Unknown command: frobnicate/],
    [[], /give a command/],
    [['login', '@alice'], /invalid user ID "@alice": missing ":server.name"/],
    [['login', 'alice', '--homeserver', 'ftp://example.org'], /must use https:\/\/ or http:\/\//],
    [['login', 'alice', '--homeserver', 'http://exa mple.org'], /is not a URL/],
    [['whoami', '-o', 'xml'], /Invalid values/],
    [['whoami', '-p', '../etc'], /profile name/i],
    [['whoami', '--config', 'mx.config.js'], /never code/],
    [['api', 'FETCH', '/v3/x'], /method must be one of/],
    [['login', '--token', '--with-token'], /mutually exclusive/],
    [['api', 'POST', '/v3/createRoom', '--data', '@no-such-file.json'], /cannot read --data file .*no-such-file.json: ENOENT/],
    [['api', 'POST', '/v3/createRoom', '--data', '{nope'], /--data is not valid JSON/],
  ])('mx %j is a usage error (exit 2) with a one-line message, before any request', async (argv, message) => {
    const { code, err, io } = await run(argv);
    expect(code).toBe(2);
    const error = JSON.parse(err.trim()).error;
    expect(error.message).toMatch(message);
    expect(error.exit_code).toBe(2);
    expect(err.trim().split('\n')).toHaveLength(1);
    expect(io.requests()).toEqual([]);
  });

  it('prints errors as text on a terminal', async () => {
    const { code, err } = await run(['whoami', '--bogus'], { stdoutIsTTY: true, stderrIsTTY: true });
    expect(code).toBe(2);
    expect(err).toBe('mx: Unknown argument: bogus (see --help)\n');
  });

  it('finds the homeserver from a full user ID via .well-known, then logs in with the offered flow', async () => {
    const io = fakeIo({ env: { MX_CONFIG_DIR: configDir(), MX_PASSWORD: 'hunter2' } });
    const agent = io.dispatcher as MockAgent;
    agent
      .get('https://example.org')
      .intercept({ path: '/.well-known/matrix/client' })
      .reply(200, { 'm.homeserver': { base_url: 'https://matrix.example.org/' } }, JSON_HEADERS);
    const hs = agent.get('https://matrix.example.org');
    hs.intercept({ path: '/_matrix/client/versions' }).reply(200, { versions: ['v1.12'] }, JSON_HEADERS);
    hs.intercept({ path: '/_matrix/client/v3/login', method: 'GET' }).reply(200, { flows: [{ type: 'm.login.password' }] }, JSON_HEADERS);
    let loginBody: Record<string, unknown> = {};
    hs.intercept({ path: '/_matrix/client/v3/login', method: 'POST' }).reply((request) => {
      loginBody = JSON.parse(String(request.body));
      return { statusCode: 200, data: { user_id: '@alice:example.org', access_token: 'tok', device_id: 'D1' }, responseOptions: JSON_HEADERS };
    });

    const code = await main(['login', '@alice:example.org'], io);
    expect(withoutEncryptionSetupWarning(io.err())).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(io.out())).toEqual({ user_id: '@alice:example.org', device_id: 'D1', homeserver: 'https://matrix.example.org', profile: 'default' });
    expect(loginBody).toMatchObject({ type: 'm.login.password', identifier: { type: 'm.id.user', user: '@alice:example.org' }, password: 'hunter2' });
    const store = JSON.parse(readFileSync(path.join(io.env.MX_CONFIG_DIR!, 'profiles.json'), 'utf8'));
    expect(store.profiles.default).toMatchObject({ homeserver: 'https://matrix.example.org', accessToken: 'tok', deviceId: 'D1' });
  });

  it('refuses password login when the server does not offer it, without sending the password', async () => {
    const io = fakeIo({ env: { MX_CONFIG_DIR: configDir(), MX_PASSWORD: 'hunter2' } });
    const hs = (io.dispatcher as MockAgent).get('https://hs.test');
    hs.intercept({ path: '/_matrix/client/v3/login', method: 'GET' }).reply(200, { flows: [{ type: 'm.login.sso' }, { type: 'm.login.token' }] }, JSON_HEADERS);
    const code = await main(['login', 'alice', '--homeserver', 'https://hs.test'], io);
    expect(code).toBe(3);
    expect(JSON.parse(io.err()).error.message).toBe(
      'https://hs.test does not offer password login (it offers: m.login.sso, m.login.token); log in with mx login --sso ' +
        '(single sign-on in a browser), or mx login --token (a login token from stdin), or adopt a token with mx login --with-token',
    );
    expect(io.requests()).toEqual(['GET /_matrix/client/v3/login']);
  });

  it('warns about plain http to a host that is not loopback', async () => {
    const io = fakeIo({ env: { MX_CONFIG_DIR: configDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: 'http://hs.test' } });
    (io.dispatcher as MockAgent)
      .get('http://hs.test')
      .intercept({ path: '/_matrix/client/v3/account/whoami' })
      .reply(200, { user_id: '@a:hs.test', device_id: 'D' }, JSON_HEADERS);
    expect(await main(['whoami'], io)).toBe(0);
    // Piped, so JSON mode: the warning is one JSON line on stderr.
    expect(JSON.parse(io.err())).toEqual({ warning: { message: 'http://hs.test is plain http: passwords and tokens cross the network unencrypted' } });
    const text = fakeIo({ env: { MX_CONFIG_DIR: configDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: 'http://hs.test' } });
    (text.dispatcher as MockAgent)
      .get('http://hs.test')
      .intercept({ path: '/_matrix/client/v3/account/whoami' })
      .reply(200, { user_id: '@a:hs.test', device_id: 'D' }, JSON_HEADERS);
    expect(await main(['whoami', '-o', 'text'], text)).toBe(0);
    expect(text.err()).toBe('mx: warning: http://hs.test is plain http: passwords and tokens cross the network unencrypted\n');
  });

  it('will not send a stored token to another homeserver', async () => {
    const dir = configDir();
    const io = fakeIo({ env: { MX_CONFIG_DIR: dir, MX_PASSWORD: 'pw' } });
    const hs = (io.dispatcher as MockAgent).get('https://hs.test');
    hs.intercept({ path: '/_matrix/client/v3/login', method: 'GET' }).reply(200, { flows: [{ type: 'm.login.password' }] }, JSON_HEADERS);
    hs.intercept({ path: '/_matrix/client/v3/login', method: 'POST' }).reply(200, { user_id: '@a:hs.test', access_token: 'tok', device_id: 'D' }, JSON_HEADERS);
    expect(await main(['login', 'a', '--homeserver', 'https://hs.test'], io)).toBe(0);
    const other = await run(['whoami', '--homeserver', 'https://evil.test'], { env: { MX_CONFIG_DIR: dir } });
    expect(other.code).toBe(2);
    expect(other.err).toContain('will not send its token elsewhere');
    expect(other.io.requests()).toEqual([]);
  });

  it('mx api sends a JSON body read from stdin with --data -', async () => {
    const io = fakeIo({ env: { MX_CONFIG_DIR: configDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: 'https://hs.test' }, input: '{"name":"x"}\n' });
    let body = '';
    (io.dispatcher as MockAgent)
      .get('https://hs.test')
      .intercept({ path: '/_matrix/client/v3/createRoom', method: 'POST', headers: { authorization: 'Bearer tok' } })
      .reply((request) => {
        body = String(request.body);
        return { statusCode: 200, data: { room_id: '!r:hs.test' }, responseOptions: JSON_HEADERS };
      });
    expect(await main(['api', 'POST', '/v3/createRoom', '--data', '-'], io)).toBe(0);
    expect(JSON.parse(body)).toEqual({ name: 'x' });
    expect(JSON.parse(io.out())).toEqual({ room_id: '!r:hs.test' });
  });

  it('--retries caps the retries after a rate limit; the temporary exit code when they run out', async () => {
    const io = fakeIo({ env: { MX_CONFIG_DIR: configDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: 'https://hs.test' } });
    (io.dispatcher as MockAgent)
      .get('https://hs.test')
      .intercept({ path: '/_matrix/client/v3/account/whoami' })
      .reply(429, { errcode: 'M_LIMIT_EXCEEDED', error: 'Too Many Requests', retry_after_ms: 100 }, JSON_HEADERS)
      .times(2);
    expect(await main(['whoami', '--retries', '1'], io)).toBe(7);
    expect(io.sleeps).toEqual([100]);
    expect(JSON.parse(io.err()).error).toMatchObject({ errcode: 'M_LIMIT_EXCEEDED', exit_code: 7 });
  });

  it('rejects a --retries or MX_RETRIES that is not a small whole number, before any request', async () => {
    const flag = await run(['whoami', '--retries', '-1']);
    expect(flag.code).toBe(2);
    expect(flag.io.requests()).toEqual([]);
    const env = await run(['whoami'], { env: { MX_RETRIES: 'lots' } });
    expect(env.code).toBe(2);
    expect(env.err).toContain('MX_RETRIES must be a whole number');
    expect(env.io.requests()).toEqual([]);
  });
});

describe('a signal (io.signal aborted, as cli.ts does on SIGINT/SIGTERM)', () => {
  const env = () => ({ MX_CONFIG_DIR: configDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: 'https://hs.test' });

  it('abandons a request in flight: main returns 130 without waiting for the answer', async () => {
    const controller = new AbortController();
    const io = fakeIo({ env: env(), signal: controller.signal });
    // An answer that would take ten minutes: only an abandoned request lets main return.
    (io.dispatcher as MockAgent)
      .get('https://hs.test')
      .intercept({ path: '/_matrix/client/v3/sync?timeout=30000' })
      .reply(200, { next_batch: 's1' }, JSON_HEADERS)
      .delay(600_000);
    const running = main(['api', 'GET', '/v3/sync?timeout=30000'], io);
    await vi.waitUntil(() => io.requests().length === 1);
    controller.abort('SIGINT');
    expect(await running).toBe(130);
    expect(io.out()).toBe('');
    expect(io.err()).toBe('');
  });

  it('stops a command waiting for stdin: main returns 143', async () => {
    const controller = new AbortController();
    const stdin = new PassThrough(); // open, never ended
    const io = fakeIo({ env: env(), signal: controller.signal, stdin });
    const running = main(['api', 'POST', '/v3/createRoom', '--data', '-'], io);
    await vi.waitUntil(() => stdin.listenerCount('readable') + stdin.listenerCount('data') > 0);
    controller.abort('SIGTERM');
    expect(await running).toBe(143);
    expect(io.requests()).toEqual([]);
  }, 2_000);
});

describe('mx api with answers that are not JSON', () => {
  const MEDIA = '/_matrix/client/v1/media/download/hs.test/abc';
  const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0xff, 0xfe, 0x0a]);

  function mediaIo(options: Parameters<typeof fakeIo>[0] = {}) {
    const io = fakeIo({ ...options, env: { MX_CONFIG_DIR: configDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: 'https://hs.test' } });
    (io.dispatcher as MockAgent)
      .get('https://hs.test')
      .intercept({ path: MEDIA, headers: { authorization: 'Bearer tok' } })
      .reply(200, bytes, { headers: { 'content-type': 'image/png' } });
    return io;
  }

  it('writes the bytes as received to stdout', async () => {
    const io = mediaIo();
    expect(await main(['api', 'GET', MEDIA], io)).toBe(0);
    expect(io.outBytes().equals(bytes)).toBe(true);
  });

  it('--output-file writes them to a file only its owner can read', async () => {
    const io = mediaIo();
    const file = path.join(configDir(), 'cat.png');
    expect(await main(['api', 'GET', MEDIA, '--output-file', file], io)).toBe(0);
    expect(readFileSync(file).equals(bytes)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(io.out()).toBe('');
  });

  it('will not print binary data on a terminal', async () => {
    const io = mediaIo({ stdoutIsTTY: true });
    expect(await main(['api', 'GET', MEDIA], io)).toBe(2);
    expect(io.err()).toMatch(/the answer is image\/png \(8 bytes\): not printed on a terminal; use --output-file FILE/);
  });

  it('an error answer keeps its exit code', async () => {
    const io = fakeIo({ env: { MX_CONFIG_DIR: configDir(), MX_ACCESS_TOKEN: 'tok', MX_HOMESERVER: 'https://hs.test' } });
    (io.dispatcher as MockAgent)
      .get('https://hs.test')
      .intercept({ path: MEDIA })
      .reply(404, { errcode: 'M_NOT_FOUND', error: 'Not found' }, JSON_HEADERS);
    expect(await main(['api', 'GET', MEDIA], io)).toBe(5);
    expect(JSON.parse(io.out())).toEqual({ errcode: 'M_NOT_FOUND', error: 'Not found' });
  });
});
