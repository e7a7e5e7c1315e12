// mx tail while its homeserver goes away and comes back: a Synapse of this file's own (the
// shared one must stay up for the other files), stopped and restarted on the same port and data.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSynapse, type SynapseServer } from '../homeserver/synapse.mjs';
import {
  createRoomViaApi,
  describeResult,
  profileCredentials,
  registerUser,
  roomHistory,
  runMx,
  sendTexts,
  startMx,
  waitUntil,
} from './helpers.js';

const messageIds = (text: string) =>
  text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as { event_id: string; type: string })
    .filter((event) => event.type === 'm.room.message')
    .map((event) => event.event_id);

// This file always starts a Synapse of its own (also with MX_TEST_HOMESERVER): it needs one it controls.
describe('mx tail across a homeserver restart', () => {
  let synapse: SynapseServer | undefined;
  beforeAll(async () => {
    synapse = await startSynapse({ log: () => {} });
  }, 120_000);
  afterAll(async () => {
    await synapse?.stop();
  });

  async function userWithRoom() {
    const user = await registerUser({ homeserver: synapse!.url });
    const roomId = await createRoomViaApi(user.configDir, user.profile);
    const start = await runMx(['tail', '--until-idle'], { configDir: user.configDir });
    expect(start.code, describeResult(['tail', '--until-idle'], start)).toBe(0);
    return { user, roomId, creds: await profileCredentials(user.configDir, user.profile) };
  }

  it('reconnects with backoff and loses nothing when Synapse stops and starts again', async () => {
    const { user, roomId, creds } = await userWithRoom();
    const tail = startMx(['tail', '--timeout', '5000'], { configDir: user.configDir, timeoutMs: 170_000 });
    const before = await sendTexts(creds, roomId, Array.from({ length: 50 }, (_, i) => `before ${i}`), { concurrency: 2 });
    await waitUntil(() => messageIds(tail.stdout()).length >= 50, 'the first 50 messages', 60_000);

    await synapse!.stop({ keepData: true });
    await waitUntil(() => /retrying in/.test(tail.stderr()), 'tail to notice the homeserver is gone', 60_000);
    await synapse!.restart();
    const after = await sendTexts(creds, roomId, Array.from({ length: 50 }, (_, i) => `after ${i}`), { concurrency: 2 });
    await waitUntil(() => messageIds(tail.stdout()).length >= 100, 'all 100 messages', 90_000);

    tail.child.kill('SIGINT');
    const result = await tail.done;
    expect(result.signal, result.stderr).toBeNull();
    expect(result.code, result.stderr).toBe(130);
    // Piped, so the notices are JSON lines on stderr: one per failed attempt, then one for the
    // reconnect; stdout holds only events.
    const notices = result.stderr.trim().split('\n').map((line) => JSON.parse(line).notice);
    expect(notices.filter((n) => n.retry_in_ms > 0).length).toBeGreaterThan(0);
    expect(notices.at(-1)).toMatchObject({ message: 'tail: reconnected' });
    const got = messageIds(result.stdout);
    const history = (await roomHistory(user.configDir, roomId)).filter((e) => e.type === 'm.room.message').map((e) => e.event_id);
    expect(got).toEqual(history);
    expect(new Set(got)).toEqual(new Set([...before, ...after]));
  }, 240_000);

  it('--max-retries gives up with the temporary-failure exit code while the homeserver is down', async () => {
    const { user } = await userWithRoom();
    await synapse!.stop({ keepData: true });
    try {
      const r = await runMx(['tail', '--max-retries', '2'], { configDir: user.configDir });
      expect(r.code, r.stderr).toBe(7);
      // Two retries: the third failure in a row ends it.
      const lines = r.stderr.trim().split('\n').map((line) => JSON.parse(line));
      expect(lines.filter((l) => l.notice).length).toBe(2);
      expect(lines.at(-1).error.message).toMatch(/giving up after 2 retries/);
      expect(r.stdout).toBe('');
    } finally {
      await synapse!.restart();
    }
  }, 120_000);
});
