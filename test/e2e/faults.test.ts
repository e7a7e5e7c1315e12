import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { describeResult, homeserverUrl, mxJson, registerUser, runMx, tempConfigDir, type RegisteredUser } from './helpers.js';

interface Event {
  type: string;
  event_id: string;
  content: { body?: string };
}

describe('faults between mx and the homeserver', () => {
  let proxy: FaultProxy;
  let alice: RegisteredUser;
  let token: string;
  let roomId: string;

  beforeAll(async () => {
    proxy = await startFaultProxy(homeserverUrl());
    alice = await registerUser({ profile: 'default' });
    token = JSON.parse(readFileSync(path.join(alice.configDir, 'profiles.json'), 'utf8')).profiles.default.accessToken;
    roomId = (await mxJson<{ room_id: string }>(['room', 'create'], { configDir: alice.configDir })).room_id;
  });
  afterAll(() => proxy.close());

  /** mx through the proxy, with the profile's token from the environment (no files). */
  const viaProxy = (args: string[], input?: string) =>
    runMx(args, { configDir: alice.configDir, env: { MX_HOMESERVER: proxy.url, MX_ACCESS_TOKEN: token }, ...(input === undefined ? {} : { input }) });

  async function messageBodies(): Promise<string[]> {
    const history = await runMx(['room', 'messages', roomId, '--all', '--dir', 'f', '--type', 'm.room.message'], { configDir: alice.configDir });
    return history.stdout.split('\n').filter(Boolean).map((line) => (JSON.parse(line) as Event).content.body ?? '');
  }

  it('a PUT with a transaction ID whose answer is lost is retried and leaves exactly one event', async () => {
    proxy.dropAfterForwarding('/send/m.room.message/', 1);
    const before = proxy.dropped;
    const put = await viaProxy(['api', 'PUT', `/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.message/lost-answer-1`, '--data', '{"msgtype":"m.text","body":"once"}']);
    expect(put.code, describeResult(['api', 'PUT'], put)).toBe(0);
    expect(proxy.dropped - before).toBe(1);
    expect((await messageBodies()).filter((body) => body === 'once')).toHaveLength(1);
  });

  it('mx send whose answer is lost retries with the same transaction ID: exactly one copy', async () => {
    proxy.dropAfterForwarding('/send/m.room.message/', 1);
    const before = proxy.dropped;
    const sent = await viaProxy(['send', roomId, 'exactly once']);
    expect(sent.code, describeResult(['send'], sent)).toBe(0);
    expect(proxy.dropped - before).toBe(1);
    const bodies = await messageBodies();
    expect(bodies.filter((body) => body === 'exactly once')).toHaveLength(1);
    // The event ID mx printed is the one in the room.
    expect(JSON.parse(sent.stdout).event_id).toMatch(/^\$/);
  });

  it('mx send --lines with answers lost along the way: no duplicate, no gap, in order', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `lossy ${i + 1}`);
    proxy.dropAfterForwarding('/send/m.room.message/', 3);
    const before = proxy.dropped;
    const sent = await viaProxy(['send', roomId, '--lines'], lines.join('\n'));
    expect(sent.code, describeResult(['send', '--lines'], sent)).toBe(0);
    expect(proxy.dropped - before).toBe(3);
    expect((await messageBodies()).filter((body) => body.startsWith('lossy '))).toEqual(lines);
  });

  it('a POST whose answer is lost is not repeated: the temporary exit code, and the server did it once', async () => {
    proxy.dropAfterForwarding('/createRoom', 1);
    const before = proxy.dropped;
    const post = await viaProxy(['api', 'POST', '/v3/createRoom', '--data', '{"name":"made once"}']);
    expect(post.code).toBe(7);
    expect(proxy.dropped - before).toBe(1);
    expect(JSON.parse(post.stderr).error.message).toMatch(/cannot reach/);
    const rooms = await mxJson<{ name: string | null }[]>(['room', 'list'], { configDir: alice.configDir });
    expect(rooms.filter((room) => room.name === 'made once')).toHaveLength(1);
  });

  it('a homeserver that refuses connections: the temporary exit code and a clear message', async () => {
    proxy.refuseConnections = true;
    try {
      const whoami = await viaProxy(['whoami']);
      expect(whoami.code, describeResult(['whoami'], whoami)).toBe(7);
      expect(JSON.parse(whoami.stderr).error.message).toMatch(/^whoami: cannot reach http:\/\/127\.0\.0\.1:\d+: /);
    } finally {
      proxy.refuseConnections = false;
    }
  });
});

/** A homeserver impostor that answers every request with one canned response. */
async function startFakeServer(answer: { status: number; contentType: string; body: string }) {
  const server = http.createServer((_request, response) => {
    response.writeHead(answer.status, { 'content-type': answer.contentType });
    response.end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A port on which nothing listens: the homeserver is down. */
async function deadPort(): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

/** A config dir with a logged-in profile "p" on `homeserver` and saved stream positions. */
function profileOn(homeserver: string): { configDir: string; storeText: () => string } {
  const configDir = tempConfigDir();
  const file = path.join(configDir, 'profiles.json');
  const store = {
    version: 1,
    defaultProfile: 'p',
    profiles: { p: { homeserver, userId: '@p:localhost', deviceId: 'D', accessToken: 'syt_fake', positions: { sync: 's1_1', 'tail:default': 's2_2' } } },
  };
  writeFileSync(file, JSON.stringify(store), { mode: 0o600 });
  return { configDir, storeText: () => readFileSync(file, 'utf8') };
}

describe('a homeserver that is down, or answers nonsense', () => {
  const commands: string[][] = [
    ['whoami'],
    ['send', '!room:localhost', 'hello'],
    ['room', 'list'],
    ['room', 'messages', '!room:localhost'],
    ['room', 'create', '--name', 'x'],
    ['join', '#room:localhost'],
    ['invite', '!room:localhost', '@b:localhost'],
    ['sync'],
    ['tail', '--until-idle', '--max-retries', '1'],
    ['api', 'GET', '/v3/joined_rooms'],
  ];

  it.each(commands.map((args) => [args.join(' '), args] as const))('mx %s against a dead homeserver: exit 7, one clear line, positions kept', async (_name, args) => {
    const { configDir, storeText } = profileOn(await deadPort());
    const before = storeText();
    const result = await runMx(args, { configDir, timeoutMs: 60_000 });
    expect(result.code, describeResult(args, result)).toBe(7);
    const lastLine = result.stderr.trim().split('\n').pop()!;
    expect(JSON.parse(lastLine).error.message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(storeText()).toBe(before);
  });

  it.each([
    ['an HTML error page', { status: 502, contentType: 'text/html', body: '<html><h1>502 Bad Gateway</h1></html>' }, 7, /HTTP 502 with text\/html instead of a JSON object/],
    ['truncated JSON', { status: 200, contentType: 'application/json', body: '{"next_batch": "s9_9", "rooms": {' }, 1, /HTTP 200 with application\/json instead of a JSON object/],
    ['a 200 of the wrong shape', { status: 200, contentType: 'application/json', body: '{"hello": "world"}' }, 1, /no .{0,2}next_batch/],
  ])('mx sync and tail given %s: a clear error, no crash, no position moved', async (_what, answer, code, message) => {
    const fake = await startFakeServer(answer);
    try {
      const { configDir, storeText } = profileOn(fake.url);
      const before = storeText();
      for (const args of [['sync'], ['tail', '--until-idle', '--max-retries', '0', '--retries', '0']]) {
        const result = await runMx(args, { configDir });
        expect(result.code, describeResult(args, result)).toBe(code);
        expect(result.stderr).toMatch(message);
        expect(result.stderr).not.toMatch(/\n\s+at /);
        expect(result.stdout).toBe('');
      }
      expect(storeText()).toBe(before);
    } finally {
      await fake.close();
    }
  });
});
