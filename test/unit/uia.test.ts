import { describe, expect, it } from 'vitest';
import { ExitCode, MxError, UsageError } from '../../src/errors.js';
import { register, type RegisterRequest } from '../../src/matrix/account.js';
import type { MatrixClient } from '../../src/matrix/http.js';
import { withUserInteractiveAuth } from '../../src/matrix/uia.js';
import { JSON_HEADERS, mockAgent } from './fake-io.js';

const BASE = 'http://hs.test';
const PATH = '/_matrix/client/v3/register?kind=user';
const SESSION = { user_id: '@alice:hs.test', access_token: 'tok', device_id: 'DEV' };

function setup() {
  const agent = mockAgent();
  const bodies: RegisterRequest[] = [];
  const client: MatrixClient = { baseUrl: BASE, dispatcher: agent, sleep: async () => {} };
  const pool = agent.get(BASE);
  const reply = (status: number, body: object) =>
    pool.intercept({ path: PATH, method: 'POST' }).reply((request) => {
      bodies.push(JSON.parse(String(request.body)));
      return { statusCode: status, data: body, responseOptions: JSON_HEADERS };
    });
  return { client, reply, bodies };
}

const explain = (missing: string[]) =>
  missing.includes('m.login.registration_token') && missing.length === 1
    ? new UsageError('needs a registration token')
    : new MxError(`cannot do ${missing.join(', ')}`, ExitCode.forbidden);

const attempt = (client: MatrixClient) => (auth?: RegisterRequest['auth']) =>
  register(client, { username: 'alice', password: 'pw', ...(auth ? { auth } : {}) });

describe('registration with user-interactive auth', () => {
  it('completes the m.login.dummy flow with the session the server gave', async () => {
    const { client, reply, bodies } = setup();
    reply(401, { session: 'S1', flows: [{ stages: ['m.login.dummy'] }], params: {} });
    reply(200, SESSION);
    const session = await withUserInteractiveAuth(attempt(client), { 'm.login.dummy': () => ({}) }, explain);
    expect(session.user_id).toBe('@alice:hs.test');
    expect(bodies[0]!.auth).toBeUndefined();
    expect(bodies[1]!.auth).toEqual({ type: 'm.login.dummy', session: 'S1' });
  });

  it('chooses a flow it can complete and walks its stages in order', async () => {
    const { client, reply, bodies } = setup();
    const flows = [{ stages: ['m.login.recaptcha'] }, { stages: ['m.login.registration_token', 'm.login.dummy'] }];
    reply(401, { session: 'S2', flows, params: {} });
    reply(401, { session: 'S2', flows, completed: ['m.login.registration_token'], params: {} });
    reply(200, SESSION);
    await withUserInteractiveAuth(
      attempt(client),
      { 'm.login.dummy': () => ({}), 'm.login.registration_token': () => ({ token: 'T0K' }) },
      explain,
    );
    expect(bodies.map((b) => b.auth)).toEqual([
      undefined,
      { type: 'm.login.registration_token', session: 'S2', token: 'T0K' },
      { type: 'm.login.dummy', session: 'S2' },
    ]);
  });

  it('says a registration token is needed when that is the only stage missing', async () => {
    const { client, reply } = setup();
    reply(401, { session: 'S3', flows: [{ stages: ['m.login.registration_token'] }] });
    await expect(withUserInteractiveAuth(attempt(client), { 'm.login.dummy': () => ({}) }, explain)).rejects.toMatchObject({
      exitCode: ExitCode.usage,
      message: 'needs a registration token',
    });
  });

  it('names the stages it cannot complete', async () => {
    const { client, reply } = setup();
    reply(401, { session: 'S4', flows: [{ stages: ['m.login.recaptcha', 'm.login.terms'] }, { stages: ['m.login.email.identity'] }] });
    await expect(withUserInteractiveAuth(attempt(client), { 'm.login.dummy': () => ({}) }, explain)).rejects.toThrow(
      'cannot do m.login.recaptcha, m.login.terms, m.login.email.identity',
    );
  });

  it('stops when the server rejects a stage', async () => {
    const { client, reply } = setup();
    const flows = [{ stages: ['m.login.registration_token'] }];
    reply(401, { session: 'S5', flows });
    reply(401, { session: 'S5', flows, errcode: 'M_FORBIDDEN', error: 'Invalid token' });
    await expect(
      withUserInteractiveAuth(attempt(client), { 'm.login.registration_token': () => ({ token: 'bad' }) }, explain),
    ).rejects.toMatchObject({ errcode: 'M_FORBIDDEN', message: 'register: Invalid token (M_FORBIDDEN)' });
  });

  it('passes on errors that are not auth challenges', async () => {
    const { client, reply } = setup();
    reply(400, { errcode: 'M_USER_IN_USE', error: 'User ID already taken.' });
    await expect(withUserInteractiveAuth(attempt(client), { 'm.login.dummy': () => ({}) }, explain)).rejects.toMatchObject({
      exitCode: ExitCode.conflict,
    });
  });
});
