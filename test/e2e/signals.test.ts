import { describe, expect, it } from 'vitest';
import { mxJson, registerUser, startMx } from './helpers.js';

/** Waits until `check` holds, polling; fails the test after `ms`. */
async function waitFor(check: () => boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('signals', () => {
  it('SIGINT during a long request exits promptly with code 130 and no stack trace', async () => {
    const alice = await registerUser();
    // A long poll from the current position, which would otherwise take 30 s.
    const { next_batch: now } = await mxJson<{ next_batch: string }>(['api', 'GET', '/v3/sync?timeout=0'], { configDir: alice.configDir });
    const mx = startMx(['api', 'GET', `/v3/sync?timeout=30000&since=${encodeURIComponent(now)}`, '--debug'], { configDir: alice.configDir });
    await waitFor(() => mx.stderr().includes('> GET'));
    const sent = Date.now();
    mx.child.kill('SIGINT');
    const result = await mx.done;
    expect(result.code).toBe(130);
    expect(Date.now() - sent).toBeLessThan(5_000);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('SIGTERM while waiting for stdin exits with code 143', async () => {
    const alice = await registerUser();
    const mx = startMx(['api', 'POST', '/v3/createRoom', '--data', '-'], { configDir: alice.configDir, keepStdinOpen: true });
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    mx.child.kill('SIGTERM');
    const result = await mx.done;
    expect(result.code, result.stderr).toBe(143);
  });
});
