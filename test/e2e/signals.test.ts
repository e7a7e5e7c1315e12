import { describe, expect, it } from 'vitest';
import { describeResult, isWaitingOnFd, mxJson, registerUser, startMx, waitUntil } from './helpers.js';

// mx handles SIGINT and SIGTERM itself: it stops what it does and exits with 130 or 143. A
// process killed by the signal would also be reported as 128 + n by a shell, so each test
// checks that mx exited by itself (no terminating signal) with that code.
describe('signals', () => {
  it('SIGINT during a long request: mx exits by itself with code 130 and no stack trace', async () => {
    const alice = await registerUser();
    // A long poll from the current position, which would otherwise take 30 s.
    const { next_batch: now } = await mxJson<{ next_batch: string }>(['api', 'GET', '/v3/sync?timeout=0'], { configDir: alice.configDir });
    const args = ['api', 'GET', `/v3/sync?timeout=30000&since=${encodeURIComponent(now)}`, '--debug'];
    const mx = startMx(args, { configDir: alice.configDir });
    await waitUntil(() => mx.stderr().includes('> GET'), 'mx to send its request');
    mx.child.kill('SIGINT');
    const result = await mx.done;
    expect(result.signal, describeResult(args, result)).toBeNull();
    expect(result.code, describeResult(args, result)).toBe(130);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  it('SIGTERM while waiting for stdin: mx exits by itself with code 143, having sent nothing', async () => {
    const alice = await registerUser();
    const args = ['api', 'POST', '/v3/createRoom', '--data', '-', '--debug'];
    const mx = startMx(args, { configDir: alice.configDir, keepStdinOpen: true });
    await waitUntil(() => isWaitingOnFd(mx.child.pid!, 0), 'mx to wait for its stdin');
    mx.child.kill('SIGTERM');
    const result = await mx.done;
    expect(result.signal, describeResult(args, result)).toBeNull();
    expect(result.code, describeResult(args, result)).toBe(143);
    expect(result.stderr).not.toContain('> POST');
  });
});
