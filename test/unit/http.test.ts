import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { MatrixError, NetworkError, UnexpectedResponseError } from '../../src/matrix/errors.js';
import { matrixRequest, parseRetryAfter, type MatrixClient, type RequestSpec } from '../../src/matrix/http.js';
import { JSON_HEADERS, mockAgent } from './fake-io.js';

const BASE = 'http://hs.test';
const WHOAMI = '/_matrix/client/v3/account/whoami';

function setup(accessToken: string | null = 'secret-token') {
  const agent = mockAgent();
  const sleeps: number[] = [];
  const debugLines: string[] = [];
  const client: MatrixClient = {
    baseUrl: BASE,
    accessToken: accessToken ?? undefined,
    dispatcher: agent,
    sleep: async (ms) => void sleeps.push(ms),
    debug: (line) => debugLines.push(line),
  };
  return { agent, pool: agent.get(BASE), client, sleeps, debugLines };
}

const get: RequestSpec = { method: 'GET', path: WHOAMI, auth: true, idempotent: true, what: 'whoami' };
const post: RequestSpec = { method: 'POST', path: '/_matrix/client/v3/login', body: { a: 1 }, auth: false, idempotent: false, what: 'login' };

describe('matrixRequest', () => {
  it('sends the token as a Bearer header, never in the URL, and returns the JSON body', async () => {
    const { pool, client } = setup();
    let seenPath = '';
    pool
      .intercept({ path: (p) => ((seenPath = p), true), method: 'GET', headers: { authorization: 'Bearer secret-token' } })
      .reply(200, { user_id: '@a:hs.test' }, JSON_HEADERS);
    await expect(matrixRequest(client, get)).resolves.toEqual({ user_id: '@a:hs.test' });
    expect(seenPath).toBe(WHOAMI);
    expect(seenPath).not.toContain('access_token');
  });

  it('maps errors to typed Matrix errors with their exit codes and extra fields', async () => {
    const { pool, client } = setup();
    pool.intercept({ path: WHOAMI }).reply(401, { errcode: 'M_UNKNOWN_TOKEN', error: 'Invalid token', soft_logout: true }, JSON_HEADERS);
    const error = (await matrixRequest(client, get).catch((e) => e)) as MatrixError;
    expect(error).toBeInstanceOf(MatrixError);
    expect(error).toMatchObject({ status: 401, errcode: 'M_UNKNOWN_TOKEN', softLogout: true, exitCode: ExitCode.auth });
    expect(error.message).toBe(
      'whoami (the access token has expired, and a token given as MX_ACCESS_TOKEN cannot be refreshed: get a new one; ' +
        'mx login --no-refresh makes one that does not expire): Invalid token (M_UNKNOWN_TOKEN)',
    );

    pool.intercept({ path: WHOAMI }).reply(404, { errcode: 'M_NOT_FOUND', error: 'nope' }, JSON_HEADERS);
    await expect(matrixRequest(client, get)).rejects.toMatchObject({ exitCode: ExitCode.notFound, errcode: 'M_NOT_FOUND' });
    pool.intercept({ path: WHOAMI }).reply(403, { errcode: 'M_FORBIDDEN', error: 'no' }, JSON_HEADERS);
    await expect(matrixRequest(client, get)).rejects.toMatchObject({ exitCode: ExitCode.forbidden });
    pool.intercept({ path: WHOAMI }).reply(400, { errcode: 'M_USER_IN_USE', error: 'taken' }, JSON_HEADERS);
    await expect(matrixRequest(client, get)).rejects.toMatchObject({ exitCode: ExitCode.conflict });
  });

  it.each(['file:///etc', 'javascript:alert(1)', 'ftp://hs.test', 'not a url'])(
    'refuses the base URL %s before any request, as a usage error that nothing retries',
    async (baseUrl) => {
      const { agent, client, sleeps } = setup();
      await expect(matrixRequest({ ...client, baseUrl }, get)).rejects.toMatchObject({
        exitCode: ExitCode.usage,
        message: expect.stringMatching(/^the homeserver URL is not an http:\/\/ or https:\/\/ URL/),
      });
      expect(sleeps).toEqual([]);
      expect(agent.requests).toEqual([]);
    },
  );

  it('waits for Retry-After on 429 and then retries', async () => {
    const { pool, client, sleeps } = setup();
    pool
      .intercept({ path: WHOAMI })
      .reply(429, { errcode: 'M_LIMIT_EXCEEDED', error: 'slow down', retry_after_ms: 9000 }, { headers: { 'content-type': 'application/json', 'retry-after': '2' } });
    pool.intercept({ path: WHOAMI }).reply(200, { user_id: '@a:hs.test' }, JSON_HEADERS);
    await expect(matrixRequest(client, get)).resolves.toEqual({ user_id: '@a:hs.test' });
    expect(sleeps).toEqual([2000]);
  });

  it('falls back to retry_after_ms when there is no Retry-After header, also for non-idempotent calls', async () => {
    const { pool, client, sleeps } = setup();
    pool.intercept({ path: post.path, method: 'POST' }).reply(429, { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 1500 }, JSON_HEADERS);
    pool.intercept({ path: post.path, method: 'POST' }).reply(200, { ok: true }, JSON_HEADERS);
    await expect(matrixRequest(client, post)).resolves.toEqual({ ok: true });
    expect(sleeps).toEqual([1500]);
  });

  it('gives up after a bounded number of 429s with the temporary exit code', async () => {
    const { pool, client, sleeps } = setup();
    pool.intercept({ path: WHOAMI }).reply(429, { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 10 }, JSON_HEADERS).times(3);
    const policy = { rateLimitRetries: 2, maxRateLimitWaitMs: 60_000, transientRetries: 0, backoffMs: 1 };
    await expect(matrixRequest(client, get, policy)).rejects.toMatchObject({ errcode: 'M_LIMIT_EXCEEDED', exitCode: ExitCode.temporary });
    expect(sleeps).toEqual([10, 10]);
  });

  it('counts every 429 as a rate limit, whatever its errcode (or body), and gives up after the same bound', async () => {
    const { pool, client, sleeps } = setup();
    const policy = { rateLimitRetries: 2, maxRateLimitWaitMs: 60_000, transientRetries: 0, backoffMs: 1 };
    pool.intercept({ path: WHOAMI }).reply(429, { errcode: 'M_UNKNOWN', error: 'busy', retry_after_ms: 7 }, JSON_HEADERS).times(3);
    await expect(matrixRequest(client, get, policy)).rejects.toMatchObject({ status: 429, errcode: 'M_UNKNOWN', exitCode: ExitCode.temporary });
    expect(sleeps).toEqual([7, 7]);

    // A proxy's own 429 page is a rate limit too.
    sleeps.length = 0;
    pool.intercept({ path: WHOAMI }).reply(429, '<html>Too Many Requests</html>', { headers: { 'content-type': 'text/html', 'retry-after': '1' } }).times(3);
    await expect(matrixRequest(client, get, policy)).rejects.toMatchObject({ exitCode: ExitCode.temporary });
    expect(sleeps).toEqual([1000, 1000]);
  });

  it('does not wait longer than the cap a server asks for', async () => {
    const { pool, client, sleeps } = setup();
    pool.intercept({ path: WHOAMI }).reply(429, { errcode: 'M_LIMIT_EXCEEDED', retry_after_ms: 3_600_000 }, JSON_HEADERS);
    await expect(matrixRequest(client, get)).rejects.toMatchObject({ exitCode: ExitCode.temporary });
    expect(sleeps).toEqual([]);
  });

  it('turns a non-JSON answer into a clear error naming status and content type', async () => {
    const { pool, client } = setup();
    pool.intercept({ path: post.path, method: 'POST' }).reply(502, '<html>Bad Gateway</html>', { headers: { 'content-type': 'text/html' } });
    const error = (await matrixRequest(client, post).catch((e) => e)) as UnexpectedResponseError;
    expect(error).toBeInstanceOf(UnexpectedResponseError);
    expect(error.message).toMatch(/HTTP 502 with text\/html instead of a JSON object/);
    expect(error.exitCode).toBe(ExitCode.temporary);
  });

  it('reports truncated JSON and a 200 that is not an object without crashing', async () => {
    const { pool, client } = setup();
    pool.intercept({ path: WHOAMI }).reply(200, '{"user_id": "@a:hs', JSON_HEADERS);
    await expect(matrixRequest(client, get)).rejects.toThrow(/HTTP 200 with application\/json instead of a JSON object/);
    pool.intercept({ path: WHOAMI }).reply(200, '[1,2]', JSON_HEADERS);
    await expect(matrixRequest(client, get)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it('retries idempotent requests after 502/503/504 and network errors, with backoff', async () => {
    const { pool, client, sleeps } = setup();
    pool.intercept({ path: WHOAMI }).reply(503, { errcode: 'M_UNKNOWN', error: 'overloaded' }, JSON_HEADERS);
    pool.intercept({ path: WHOAMI }).replyWithError(new Error('socket hang up'));
    pool.intercept({ path: WHOAMI }).reply(200, { user_id: '@a:hs.test' }, JSON_HEADERS);
    await expect(matrixRequest(client, get)).resolves.toEqual({ user_id: '@a:hs.test' });
    expect(sleeps).toHaveLength(2);
    expect(sleeps[1]!).toBeGreaterThan(0);
  });

  it('never repeats a request that is unsafe to repeat', async () => {
    const { agent, pool, client, sleeps } = setup();
    pool.intercept({ path: post.path, method: 'POST' }).replyWithError(new Error('connection reset'));
    pool.intercept({ path: post.path, method: 'POST' }).reply(200, { ok: true }, JSON_HEADERS);
    const error = (await matrixRequest(client, post).catch((e) => e)) as NetworkError;
    expect(error).toBeInstanceOf(NetworkError);
    expect(error.exitCode).toBe(ExitCode.temporary);
    expect(sleeps).toEqual([]);
    // One request, not two: the second answer is still waiting.
    expect(agent.requests.map((r) => r.method)).toEqual(['POST']);

    pool.intercept({ path: post.path, method: 'POST' }).reply(503, { errcode: 'M_UNKNOWN' }, JSON_HEADERS);
    await expect(matrixRequest(client, { ...post })).resolves.toEqual({ ok: true });
    await expect(matrixRequest(client, post)).rejects.toMatchObject({ status: 503, exitCode: ExitCode.temporary });
  });

  it('fails before any request when auth is needed and there is no token', async () => {
    const { agent, client } = setup(null);
    await expect(matrixRequest(client, get)).rejects.toMatchObject({ exitCode: ExitCode.auth });
    expect(agent.requests).toEqual([]);
  });

  it('logs request lines for --debug without secrets', async () => {
    const { pool, client, debugLines } = setup();
    pool.intercept({ path: (p) => p.startsWith('/_matrix/client/v1/register') }).reply(200, { valid: true }, JSON_HEADERS);
    await matrixRequest(client, {
      method: 'GET', path: '/_matrix/client/v1/register/m.login.registration_token/validity',
      query: { token: 'reg-secret' }, auth: true, idempotent: true, what: 'check token',
    });
    const log = debugLines.join('\n');
    expect(log).toContain('> GET http://hs.test/_matrix/client/v1/register/m.login.registration_token/validity?token=REDACTED');
    expect(log).toMatch(/< 200 application\/json \d+ ms/);
    expect(log).not.toContain('reg-secret');
    expect(log).not.toContain('secret-token');
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(10_000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('the connection pool', () => {
  it('sends back-to-back requests over one connection (an error answer included)', async () => {
    const { createServer } = await import('node:http');
    const { createDispatcher } = await import('../../src/http-agent.js');
    let connections = 0;
    const server = createServer((req, res) => {
      res.writeHead(req.method === 'GET' ? 404 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(req.method === 'GET' ? { errcode: 'M_NOT_FOUND' } : { ok: true }));
    });
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const dispatcher = await createDispatcher({}, { connectTimeoutMs: 10_000 });
    const client: MatrixClient = { baseUrl: `http://127.0.0.1:${port}`, accessToken: 't', dispatcher, sleep: async () => {} };
    try {
      await expect(matrixRequest(client, get)).rejects.toMatchObject({ errcode: 'M_NOT_FOUND' });
      await expect(matrixRequest(client, { ...post, auth: true })).resolves.toEqual({ ok: true });
      await expect(matrixRequest(client, get)).rejects.toMatchObject({ errcode: 'M_NOT_FOUND' });
      expect(connections).toBe(1);
    } finally {
      await dispatcher.close();
      server.close();
    }
  });
});
