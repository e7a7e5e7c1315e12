// Logins that expire: a Synapse whose access tokens live 5 seconds (refreshable_access_token_lifetime),
// 20 mx processes sending in waves over several lifetimes while a tail runs, all in one profile:
// nothing fails, nothing is sent twice, the tail loses no event, and the profile stays logged in.
import { copyFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSynapse, type SynapseServer } from '../homeserver/synapse.mjs';
import { describeResult, expectExit, mxJson, parseJsonLines, randomPassword, roomHistory, runMx, startMx, tempConfigDir, uniqueUser, waitUntil } from './helpers.js';

const LIFETIME_MS = 5_000;
let synapse: SynapseServer;

beforeAll(async () => {
  synapse = await startSynapse({ extraConfig: { refreshable_access_token_lifetime: `${LIFETIME_MS / 1000}s` }, log: () => {} });
}, 120_000);
afterAll(() => synapse?.stop());

/** A user registered with mx on the short-lived server, as profile "default" of a fresh config dir. */
async function user(extra: string[] = []): Promise<{ configDir: string; password: string; name: string }> {
  const configDir = tempConfigDir();
  const name = uniqueUser('expiring');
  const password = randomPassword();
  const r = await runMx(['register', name, '--password-stdin', '--homeserver', synapse.url, ...extra], { configDir, input: password });
  expect(r.code, describeResult(['register'], r)).toBe(0);
  return { configDir, password, name };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('access tokens that expire', () => {
  it('20 processes sending in waves over several token lifetimes and a tail, in one profile: all sent once, all tailed, still logged in', async () => {
    const { configDir } = await user();
    const opts = { configDir };
    const profile = await mxJson<{ access_token_expires_at: string | null; refreshable: boolean }>(['profile', 'show'], opts);
    expect(profile.refreshable).toBe(true);
    expect(Date.parse(profile.access_token_expires_at!) - Date.now()).toBeLessThanOrEqual(LIFETIME_MS);
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create'], opts);
    await runMx(['tail', '--until-idle'], opts); // the position: now

    const tail = startMx(['tail', '--room', roomId, '--timeout', '2000'], { ...opts, timeoutMs: 120_000 });
    const waves = 3;
    const perWave = 20;
    const sent: string[] = [];
    for (let wave = 0; wave < waves; wave++) {
      const results = await Promise.all(Array.from({ length: perWave }, (_, i) => runMx(['send', roomId, `wave ${wave} message ${i}`], { ...opts, timeoutMs: 60_000 })));
      for (const r of results) {
        expect(r.code, describeResult(r.args, r)).toBe(0);
        sent.push(JSON.parse(r.stdout).event_id);
      }
      // Past the token's lifetime before the next wave.
      await sleep(LIFETIME_MS + 500);
    }
    const tailed = () => parseJsonLines<{ event_id: string; type: string }>(tail.stdout()).filter((e) => e.type === 'm.room.message');
    await waitUntil(() => tailed().length >= sent.length, 'the tail to write every message', 30_000);
    tail.child.kill('SIGTERM');
    const ended = await tail.done;
    expect(ended.code, describeResult(['tail'], ended)).toBe(143);
    expect(ended.stderr).not.toMatch(/error/i);

    const ids = tailed().map((e) => e.event_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(new Set(sent));
    const history = (await roomHistory(configDir, roomId)).filter((e) => e.type === 'm.room.message');
    expect(history).toHaveLength(waves * perWave);
    expect((await runMx(['whoami'], opts)).code).toBe(0);
  }, 180_000);

  it('--no-refresh gets a token that does not expire; MX_ACCESS_TOKEN with one that does says why it stopped', async () => {
    const lasting = await user(['--no-refresh']);
    expect(await mxJson(['profile', 'show'], { configDir: lasting.configDir })).toMatchObject({ access_token_expires_at: null, refreshable: false });

    const expiring = await user();
    const token = (await mxJson<{ access_token: string }>(['profile', 'show', '--show-token'], { configDir: expiring.configDir })).access_token;
    await sleep(LIFETIME_MS + 500);
    const ci = await runMx(['whoami'], { configDir: tempConfigDir(), env: { MX_HOMESERVER: synapse.url, MX_ACCESS_TOKEN: token } });
    expectExit(ci, 3, /MX_ACCESS_TOKEN cannot be refreshed/);
    // The profile itself lives on, and so does the non-expiring token.
    expect((await runMx(['whoami'], { configDir: expiring.configDir })).code).toBe(0);
    expect((await runMx(['whoami'], { configDir: lasting.configDir })).code).toBe(0);
  }, 60_000);

  it('a login logged out elsewhere exits 3 naming mx login -p, keeps the profile\'s user, and logs in again on the same device with its keys', async () => {
    const { configDir, password, name } = await user();
    const before = await mxJson<{ user_id: string; device_id: string }>(['profile', 'show'], { configDir });
    // Another client logs every device out.
    const other = tempConfigDir();
    await mxJson(['login', name, '--password-stdin', '--homeserver', synapse.url], { configDir: other, input: password });
    await mxJson(['logout', '--all'], { configDir: other });
    expectExit(await runMx(['whoami'], { configDir }), 3, /mx login -p default/);
    expect(await mxJson(['profile', 'show'], { configDir })).toMatchObject({ user_id: before.user_id, device_id: before.device_id });
    const again = await mxJson<{ device_id: string }>(['login', name, '--password-stdin'], { configDir, input: password });
    expect(again.device_id).toBe(before.device_id);
    expect((await runMx(['whoami'], { configDir })).code).toBe(0);
    // The device's identity is kept, and is on the server again for others to encrypt to.
    const { ed25519 } = await mxJson<{ ed25519: string }>(['crypto', 'status'], { configDir });
    const query = { device_keys: { [before.user_id]: [before.device_id] } };
    const keys = await mxJson<{ device_keys: Record<string, Record<string, { keys: Record<string, string> }>> }>(
      ['api', 'POST', '/v3/keys/query', '--data', JSON.stringify(query)], { configDir },
    );
    expect(keys.device_keys[before.user_id]?.[before.device_id]?.keys[`ed25519:${before.device_id}`]).toBe(ed25519);
  }, 60_000);

  it('a refresh token another copy of the profile spent exits 3 naming mx login -p, and the profile keeps its homeserver and user', async () => {
    const { configDir } = await user();
    const before = await mxJson<{ user_id: string; homeserver: string }>(['profile', 'show'], { configDir });
    const copy = tempConfigDir();
    copyFileSync(path.join(configDir, 'profiles.json'), path.join(copy, 'profiles.json'));
    await sleep(LIFETIME_MS + 500);
    // The copy refreshes first, and uses the new token: the original's refresh token is spent.
    expect((await runMx(['whoami'], { configDir: copy })).code).toBe(0);
    expectExit(await runMx(['whoami'], { configDir }), 3, /the server refused its refresh token .*M_FORBIDDEN.*: run mx login -p default/);
    expect(await mxJson(['profile', 'show'], { configDir })).toMatchObject({ user_id: before.user_id, homeserver: before.homeserver });
  }, 60_000);
});
