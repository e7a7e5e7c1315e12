import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSynapse, type SynapseServer } from '../homeserver/synapse.mjs';
import { createRoomViaApi, describeResult, parseJsonLines, registerUser, roomHistory, runMx, type RegisteredUser } from './helpers.js';

// A second homeserver whose message rate limit is low enough to hit on purpose: Synapse then
// answers 429 M_LIMIT_EXCEEDED with retry_after_ms and a Retry-After header.
describe('real rate limiting', () => {
  let synapse: SynapseServer;
  let alice: RegisteredUser;

  beforeAll(async () => {
    synapse = await startSynapse({ extraConfig: { rc_message: { per_second: 5, burst_count: 5 } }, log: () => {} });
    alice = await registerUser({ homeserver: synapse.url, profile: 'default' });
  }, 120_000);
  afterAll(() => synapse?.stop());

  it('50 quick sends all arrive once and in order, mx waiting as the server asks', async () => {
    const roomId = await createRoomViaApi(alice.configDir, 'default');
    const bodies = Array.from({ length: 50 }, (_, i) => `burst ${i + 1}`);
    const sent = await runMx(['send', roomId, '--lines', '--debug'], { configDir: alice.configDir, input: bodies.join('\n'), timeoutMs: 120_000 });
    expect(sent.code, describeResult(['send', '--lines'], sent)).toBe(0);
    expect(parseJsonLines(sent.stdout)).toHaveLength(50);
    // The limit was really hit, and mx waited instead of failing.
    expect(sent.stderr).toMatch(/retrying PUT .* in \d+ ms .*M_LIMIT_EXCEEDED/);

    const messages = (await roomHistory(alice.configDir, roomId)).filter((e) => e.type === 'm.room.message');
    expect(messages.map((e) => e.content.body)).toEqual(bodies);
  });

  it('with retries capped, a rate-limited send fails with the temporary exit code, not a duplicate', async () => {
    const roomId = await createRoomViaApi(alice.configDir, 'default');
    const bodies = Array.from({ length: 30 }, (_, i) => `capped ${i + 1}`);
    const sent = await runMx(['send', roomId, '--lines', '--retries', '0'], { configDir: alice.configDir, input: bodies.join('\n') });
    expect(sent.code, describeResult(['send', '--lines', '--retries', '0'], sent)).toBe(7);
    expect(JSON.parse(sent.stderr.trim().split('\n').pop()!).error.errcode).toBe('M_LIMIT_EXCEEDED');
    // What was reported as sent is exactly what the room holds: a prefix, each line once.
    const reported = parseJsonLines(sent.stdout).length;
    const messages = (await roomHistory(alice.configDir, roomId)).filter((e) => e.type === 'm.room.message');
    expect(messages.map((e) => e.content.body)).toEqual(bodies.slice(0, reported));
    expect(reported).toBeGreaterThan(0);
    expect(reported).toBeLessThan(30);
  });
});
