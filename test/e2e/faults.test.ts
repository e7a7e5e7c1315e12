import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { describeResult, homeserverUrl, mxJson, registerUser, runMx, type RegisteredUser } from './helpers.js';

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

  it('a homeserver that refuses connections fails fast with the temporary exit code and a clear message', async () => {
    proxy.refuseConnections = true;
    try {
      const started = Date.now();
      const whoami = await viaProxy(['whoami']);
      expect(whoami.code).toBe(7);
      expect(JSON.parse(whoami.stderr).error.message).toMatch(/^whoami: cannot reach http:\/\/127\.0\.0\.1:\d+: /);
      expect(Date.now() - started).toBeLessThan(15_000);
    } finally {
      proxy.refuseConnections = false;
    }
  });
});
