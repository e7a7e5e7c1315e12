// A second homeserver, stricter than the shared one, for the tests that need its restrictions
// (one server for both keeps the run short):
// - a message rate limit low enough to hit on purpose: Synapse then answers 429 M_LIMIT_EXCEEDED
//   with retry_after_ms and a Retry-After header;
// - registration only with a registration token (made with the admin API), so users of the
//   rate-limit tests are made with the shared-secret admin API and logged in with mx.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerWithSharedSecret, startSynapse, type SynapseServer } from '../homeserver/synapse.mjs';
import {
  createRoomViaApi,
  describeResult,
  mxJson,
  parseJsonLines,
  randomPassword,
  roomHistory,
  runMx,
  tempConfigDir,
  uniqueUser,
} from './helpers.js';

let synapse: SynapseServer;
/** An admin's access token on `synapse`, for its admin API. */
let adminToken: string;

beforeAll(async () => {
  synapse = await startSynapse({
    extraConfig: { rc_message: { per_second: 5, burst_count: 5 }, registration_requires_token: true },
    log: () => {},
  });
  adminToken = (await registerWithSharedSecret(synapse.url, synapse.registrationSharedSecret, { username: uniqueUser('admin'), password: randomPassword(), admin: true }))
    .access_token;
}, 120_000);
afterAll(() => synapse?.stop());

/** A user made through the admin API and logged in with mx as profile "default" of a fresh config dir. */
async function loggedInUser(): Promise<{ configDir: string }> {
  const user = uniqueUser('user');
  const password = randomPassword();
  await registerWithSharedSecret(synapse.url, synapse.registrationSharedSecret, { username: user, password });
  const configDir = tempConfigDir();
  const args = ['login', user, '--password-stdin', '--homeserver', synapse.url, '-p', 'default'];
  const login = await runMx(args, { configDir, input: password });
  expect(login.code, describeResult(args, login)).toBe(0);
  return { configDir };
}

/** POST /_synapse/admin/v1/registration_tokens/new with `body`; returns the token. */
async function newRegistrationToken(body: Record<string, unknown> = {}): Promise<string> {
  const res = await fetch(`${synapse.url}/_synapse/admin/v1/registration_tokens/new`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as { token?: string };
  if (res.status !== 200 || !answer.token) throw new Error(`registration_tokens/new: HTTP ${res.status} ${JSON.stringify(answer)}`);
  return answer.token;
}

describe('real rate limiting', () => {
  let configDir: string;
  beforeAll(async () => {
    ({ configDir } = await loggedInUser());
  });

  it('50 quick sends all arrive once and in order, mx waiting as the server asks', async () => {
    const roomId = await createRoomViaApi(configDir, 'default');
    const bodies = Array.from({ length: 50 }, (_, i) => `burst ${i + 1}`);
    const sent = await runMx(['send', roomId, '--lines', '--debug'], { configDir, input: bodies.join('\n'), timeoutMs: 120_000 });
    expect(sent.code, describeResult(['send', '--lines'], sent)).toBe(0);
    expect(parseJsonLines(sent.stdout)).toHaveLength(50);
    // The limit was really hit, and mx waited instead of failing.
    expect(sent.stderr).toMatch(/retrying PUT .* in \d+ ms .*M_LIMIT_EXCEEDED/);

    const messages = (await roomHistory(configDir, roomId)).filter((e) => e.type === 'm.room.message');
    expect(messages.map((e) => e.content.body)).toEqual(bodies);
  });

  it('with retries capped, a rate-limited send fails with the temporary exit code, not a duplicate', async () => {
    const roomId = await createRoomViaApi(configDir, 'default');
    const bodies = Array.from({ length: 30 }, (_, i) => `capped ${i + 1}`);
    const sent = await runMx(['send', roomId, '--lines', '--retries', '0'], { configDir, input: bodies.join('\n') });
    expect(sent.code, describeResult(['send', '--lines', '--retries', '0'], sent)).toBe(7);
    expect(JSON.parse(sent.stderr.trim().split('\n').pop()!).error.errcode).toBe('M_LIMIT_EXCEEDED');
    // What was reported as sent is exactly what the room holds: a prefix, each line once.
    const reported = parseJsonLines(sent.stdout).length;
    const messages = (await roomHistory(configDir, roomId)).filter((e) => e.type === 'm.room.message');
    expect(messages.map((e) => e.content.body)).toEqual(bodies.slice(0, reported));
    expect(reported).toBeGreaterThan(0);
    expect(reported).toBeLessThan(30);
  });
});

describe('registration that requires a token', () => {
  const profiles = (configDir: string): Record<string, { userId?: string; accessToken?: string }> => {
    try {
      return JSON.parse(readFileSync(path.join(configDir, 'profiles.json'), 'utf8')).profiles;
    } catch {
      return {}; // no store written
    }
  };
  const register = (user: string, configDir: string, extra: string[] = [], env: Record<string, string> = {}) => {
    const args = ['register', user, '--password-stdin', '--homeserver', synapse.url, '-p', 'me', ...extra];
    return runMx(args, { configDir, input: randomPassword(), env }).then((result) => ({ args, result }));
  };

  it.each([
    ['--registration-token', (token: string) => ({ extra: ['--registration-token', token], env: {} })],
    ['MX_REGISTRATION_TOKEN', (token: string) => ({ extra: [], env: { MX_REGISTRATION_TOKEN: token } })],
  ])('registers with a token from %s: profile saved, whoami answers', async (_how, give) => {
    const token = await newRegistrationToken();
    const configDir = tempConfigDir();
    const user = uniqueUser('invited');
    const { extra, env } = give(token);
    const { args, result } = await register(user, configDir, extra, env);
    expect(result.code, describeResult(args, result)).toBe(0);
    const userId = `@${user}:${synapse.serverName}`;
    expect(JSON.parse(result.stdout)).toMatchObject({ user_id: userId, homeserver: synapse.url, profile: 'me' });
    expect(profiles(configDir).me).toMatchObject({ userId, accessToken: expect.any(String) });
    const me = await mxJson<{ user_id: string }>(['whoami', '-p', 'me'], { configDir });
    expect(me.user_id).toBe(userId);
  });

  it('refuses a wrong token, and a used-up one, with the auth exit code and the server\'s reason; nothing is saved', async () => {
    const configDir = tempConfigDir();
    const wrong = await register(uniqueUser('wrong'), configDir, ['--registration-token', 'not-a-token']);
    expect(wrong.result.code, describeResult(wrong.args, wrong.result)).toBe(3);
    expect(JSON.parse(wrong.result.stderr).error).toEqual({
      message: 'register: Invalid registration token (M_UNAUTHORIZED)', exit_code: 3, status: 401, errcode: 'M_UNAUTHORIZED',
    });

    const once = await newRegistrationToken({ uses_allowed: 1 });
    const first = await register(uniqueUser('first'), tempConfigDir(), ['--registration-token', once]);
    expect(first.result.code, describeResult(first.args, first.result)).toBe(0);
    const second = await register(uniqueUser('second'), configDir, ['--registration-token', once]);
    expect(second.result.code, describeResult(second.args, second.result)).toBe(3);
    expect(JSON.parse(second.result.stderr).error).toMatchObject({ errcode: 'M_UNAUTHORIZED' });
    expect(profiles(configDir)).toEqual({});
  });

  it('without a token, a usage error that says how to give one', async () => {
    const configDir = tempConfigDir();
    const { args, result } = await register(uniqueUser('uninvited'), configDir);
    expect(result.code, describeResult(args, result)).toBe(2);
    expect(JSON.parse(result.stderr).error).toEqual({
      message: 'this homeserver needs a registration token: pass --registration-token TOKEN or set MX_REGISTRATION_TOKEN',
      exit_code: 2,
    });
    expect(result.stdout).toBe('');
    expect(profiles(configDir)).toEqual({});
  });
});
