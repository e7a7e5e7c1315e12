// Tests the harness itself: the homeserver the global setup provides is up and open for
// registration. Uses undici directly, not mx.
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { homeserver, homeserverUrl } from './helpers.js';

describe('test homeserver', () => {
  it('answers /_matrix/client/versions with v1.x spec versions', async () => {
    const res = await request(`${homeserverUrl()}/_matrix/client/versions`);
    expect(res.statusCode).toBe(200);
    const body = (await res.body.json()) as { versions: string[] };
    expect(body.versions.some((v) => /^v1\.\d+$/.test(v))).toBe(true);
  });

  it('offers interactive registration: POST /v3/register without auth answers 401 with a session and flows', async () => {
    const res = await request(`${homeserverUrl()}/_matrix/client/v3/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'harness-probe', password: 'unused' }),
    });
    expect(res.statusCode).toBe(401);
    const body = (await res.body.json()) as { session?: unknown; flows?: Array<{ stages: string[] }> };
    expect(typeof body.session).toBe('string');
    expect(Array.isArray(body.flows)).toBe(true);
    expect(body.flows!.length).toBeGreaterThan(0);
    if (!homeserver().external) {
      expect(body.flows).toContainEqual({ stages: ['m.login.dummy'] });
    }
  });
});
