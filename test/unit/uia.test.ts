// mx register's user-interactive auth, in-process: the MockAgent plays a homeserver that asks
// for auth stages; what is checked is what mx sends back and how it explains what it cannot do.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MockAgent } from 'undici';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, JSON_HEADERS, tempDirMaker, withoutEncryptionSetupWarning } from './fake-io.js';

const HS = 'https://hs.test';
const REGISTER = '/_matrix/client/v3/register?kind=user';
const SESSION = { user_id: '@alice:hs.test', access_token: 'tok', device_id: 'DEV' };
const tempDir = tempDirMaker('mx-uia-');

/** `mx register alice --homeserver HS` with MX_PASSWORD, against answers given in order. */
function setup(env: Record<string, string> = {}) {
  const configDir = tempDir();
  const io = fakeIo({ env: { MX_CONFIG_DIR: configDir, MX_PASSWORD: 'pw', ...env } });
  const pool = (io.dispatcher as MockAgent).get(HS);
  const bodies: Record<string, any>[] = [];
  const reply = (status: number, body: object) =>
    pool.intercept({ path: REGISTER, method: 'POST' }).reply((request) => {
      bodies.push(JSON.parse(String(request.body)));
      return { statusCode: status, data: body, responseOptions: JSON_HEADERS };
    });
  const run = async (...flags: string[]) => {
    const code = await main(['register', 'alice', '--homeserver', HS, '--no-crypto-setup', ...flags], io);
    return { code, out: io.out(), err: io.err(), error: io.err() ? JSON.parse(io.err()).error : undefined };
  };
  const storedProfiles = () => JSON.parse(readFileSync(path.join(configDir, 'profiles.json'), 'utf8')).profiles;
  return { io, reply, bodies, run, storedProfiles };
}

describe('mx register with user-interactive auth', () => {
  it('completes the m.login.dummy flow with the session the server gave, and saves the profile', async () => {
    const t = setup();
    t.reply(401, { session: 'S1', flows: [{ stages: ['m.login.dummy'] }], params: {} });
    t.reply(200, SESSION);
    const { code, out, err } = await t.run();
    expect(withoutEncryptionSetupWarning(err)).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ user_id: '@alice:hs.test', device_id: 'DEV', profile: 'default' });
    expect(t.bodies.map((b) => b.auth)).toEqual([undefined, { type: 'm.login.dummy', session: 'S1' }]);
    expect(t.bodies[0]).toMatchObject({ username: 'alice', password: 'pw' });
    expect(t.storedProfiles().default).toMatchObject({ homeserver: HS, userId: '@alice:hs.test', accessToken: 'tok' });
  });

  it.each([
    ['--registration-token', ['--registration-token', 'T0K'], {}],
    ['MX_REGISTRATION_TOKEN', [], { MX_REGISTRATION_TOKEN: 'T0K' }],
  ])('with %s: chooses a flow it can complete and walks its stages in order', async (_how, flags, env) => {
    const t = setup(env);
    const flows = [{ stages: ['m.login.recaptcha'] }, { stages: ['m.login.registration_token', 'm.login.dummy'] }];
    t.reply(401, { session: 'S2', flows, params: {} });
    t.reply(401, { session: 'S2', flows, completed: ['m.login.registration_token'], params: {} });
    t.reply(200, SESSION);
    expect((await t.run(...flags)).code).toBe(0);
    expect(t.bodies.map((b) => b.auth)).toEqual([
      undefined,
      { type: 'm.login.registration_token', session: 'S2', token: 'T0K' },
      { type: 'm.login.dummy', session: 'S2' },
    ]);
  });

  it('without a token, says one is needed and how to give it (usage error) after one request', async () => {
    const t = setup();
    t.reply(401, { session: 'S3', flows: [{ stages: ['m.login.registration_token'] }] });
    const { code, error } = await t.run();
    expect(code).toBe(2);
    expect(error).toMatchObject({
      message: 'this homeserver needs a registration token: pass --registration-token TOKEN or set MX_REGISTRATION_TOKEN',
      exit_code: 2,
    });
    expect(t.io.requests()).toEqual([`POST ${REGISTER}`]);
  });

  it('names the stages it cannot complete and the flows the server offers (exit 4)', async () => {
    const t = setup();
    t.reply(401, { session: 'S4', flows: [{ stages: ['m.login.recaptcha', 'm.login.terms'] }, { stages: ['m.login.email.identity'] }] });
    const { code, error } = await t.run('--registration-token', 'T0K');
    expect(code).toBe(4);
    expect(error.message).toBe(
      'registration needs auth mx cannot complete (m.login.recaptcha, m.login.terms, m.login.email.identity); ' +
        'the server offers: m.login.recaptcha + m.login.terms | m.login.email.identity. ' +
        'mx can do m.login.dummy and m.login.registration_token; register another way (e.g. the web client) and use mx login',
    );
    expect(t.io.requests()).toEqual([`POST ${REGISTER}`]);
  });

  it('stops when the server rejects a stage, with its error, and saves nothing', async () => {
    const t = setup();
    const flows = [{ stages: ['m.login.registration_token'] }];
    t.reply(401, { session: 'S5', flows });
    t.reply(401, { session: 'S5', flows, errcode: 'M_FORBIDDEN', error: 'Invalid token' });
    const { code, error } = await t.run('--registration-token', 'bad');
    expect(error).toMatchObject({ errcode: 'M_FORBIDDEN', status: 401, message: 'register: Invalid token (M_FORBIDDEN)', exit_code: 3 });
    // A 401 is an auth failure (exit 3), whatever its errcode.
    expect(code).toBe(3);
    expect(t.bodies.map((b) => b.auth?.token)).toEqual([undefined, 'bad']);
    expect(() => t.storedProfiles()).toThrow(/ENOENT/);
  });

  it('passes on errors that are not auth challenges (a taken user ID: exit 6)', async () => {
    const t = setup();
    t.reply(400, { errcode: 'M_USER_IN_USE', error: 'User ID already taken.' });
    const { code, error } = await t.run();
    expect(code).toBe(6);
    expect(error.errcode).toBe('M_USER_IN_USE');
  });
});
