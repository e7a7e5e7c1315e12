import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { request } from 'undici';
import { describeResult, expectExit, homeserverUrl, mxJson, profileCredentials, randomPassword, registerUser, runMx, tempConfigDir, uniqueUser } from './helpers.js';

const EXIT = { ok: 0, usage: 2, auth: 3, notFound: 5, conflict: 6 };

function storedProfiles(configDir: string): Record<string, { accessToken?: string; userId?: string }> {
  return JSON.parse(readFileSync(path.join(configDir, 'profiles.json'), 'utf8')).profiles;
}

describe('account commands against a real homeserver', () => {
  it('registers, says who it is, and keeps the token out of the output', async () => {
    const alice = await registerUser({ profile: 'default' });
    expect(alice.output).toMatchObject({ user_id: alice.userId, homeserver: homeserverUrl(), profile: 'default' });
    const token = storedProfiles(alice.configDir).default!.accessToken!;
    expect(token).toBeTruthy();
    expect(JSON.stringify(alice.output)).not.toContain(token);

    const me = await mxJson<{ user_id: string; device_id: string }>(['whoami'], { configDir: alice.configDir });
    expect(me.user_id).toBe(alice.userId);
    expect(me.device_id).toBe(alice.output.device_id);
  });

  it('rejects a wrong password with the auth exit code and accepts the right one', async () => {
    const alice = await registerUser();
    const wrong = await runMx(['login', alice.user, '--password-stdin', '-p', 'laptop', '--homeserver', alice.homeserver], {
      input: 'not-the-password', configDir: alice.configDir,
    });
    expect(wrong.code, describeResult(['login'], wrong)).toBe(EXIT.auth);
    expect(wrong.stderr).toContain('wrong user name or password');
    expect(wrong.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(storedProfiles(alice.configDir).laptop).toBeUndefined();

    const right = await mxJson<{ user_id: string; device_id: string }>(
      ['login', alice.userId, '--password-stdin', '-p', 'laptop', '--homeserver', alice.homeserver],
      { input: alice.password, configDir: alice.configDir },
    );
    expect(right.user_id).toBe(alice.userId);
    expect(right.device_id).not.toBe(alice.output.device_id);
  });

  it('keeps two named profiles side by side and logs one out without touching the other', async () => {
    const configDir = tempConfigDir();
    const alice = await registerUser({ profile: 'alice', configDir });
    const bob = await registerUser({ profile: 'bob', configDir });

    expect((await mxJson<{ user_id: string }>(['whoami', '-p', 'alice'], { configDir })).user_id).toBe(alice.userId);
    expect((await mxJson<{ user_id: string }>(['whoami'], { configDir, env: { MX_PROFILE: 'bob' } })).user_id).toBe(bob.userId);

    const list = await mxJson<{ name: string; user_id: string; default: boolean; logged_in: boolean }[]>(['profile', 'list'], { configDir });
    expect(list.map((p) => [p.name, p.user_id, p.logged_in])).toEqual([
      ['alice', alice.userId, true],
      ['bob', bob.userId, true],
    ]);
    // The first profile saved becomes the default.
    expect(list.find((p) => p.default)?.name).toBe('alice');

    expect((await runMx(['logout', '-p', 'bob'], { configDir })).code).toBe(EXIT.ok);
    const after = await runMx(['whoami', '-p', 'bob'], { configDir });
    expect(after.code).toBe(EXIT.auth);
    expect(after.stderr).toContain('logged out');
    expect((await mxJson<{ user_id: string }>(['whoami', '-p', 'alice'], { configDir })).user_id).toBe(alice.userId);
  });

  it('invalidates the token on the server at logout', async () => {
    const alice = await registerUser();
    const token = storedProfiles(alice.configDir)[alice.profile]!.accessToken!;
    expect((await runMx(['logout', '-p', alice.profile], { configDir: alice.configDir })).code).toBe(EXIT.ok);
    expect(storedProfiles(alice.configDir)[alice.profile]!.accessToken).toBeUndefined();
    // The old token, used directly (as CI would), is refused by the server.
    const reuse = await runMx(['whoami'], { configDir: tempConfigDir(), env: { MX_HOMESERVER: alice.homeserver, MX_ACCESS_TOKEN: token } });
    expect(reuse.code).toBe(EXIT.auth);
    expect(JSON.parse(reuse.stderr).error.errcode).toBe('M_UNKNOWN_TOKEN');
  });

  it('works from MX_HOMESERVER and MX_ACCESS_TOKEN alone, writing no files', async () => {
    const alice = await registerUser();
    const token = storedProfiles(alice.configDir)[alice.profile]!.accessToken!;
    const empty = tempConfigDir();
    const me = await mxJson<{ user_id: string; profile: string | null }>(['whoami'], {
      configDir: empty, env: { MX_HOMESERVER: alice.homeserver, MX_ACCESS_TOKEN: token },
    });
    expect(me).toMatchObject({ user_id: alice.userId, profile: null });
    expect(readdirSync(empty)).toEqual([]);
  });

  it('adopts an access token from stdin with --with-token, checked by whoami', async () => {
    const alice = await registerUser();
    const token = storedProfiles(alice.configDir)[alice.profile]!.accessToken!;
    const configDir = tempConfigDir();
    const adopted = await mxJson<{ user_id: string }>(['login', '--with-token', '--homeserver', alice.homeserver], { input: `${token}\n`, configDir });
    expect(adopted.user_id).toBe(alice.userId);
    expect(storedProfiles(configDir).default!.accessToken).toBe(token);

    const bogus = await runMx(['login', '--with-token', '--homeserver', alice.homeserver, '-p', 'x'], { input: 'syt_not_a_token', configDir });
    expect(bogus.code).toBe(EXIT.auth);
    expect(storedProfiles(configDir).x).toBeUndefined();
  });

  it('refuses a second profile on a device another profile has (its encryption keys are that profile\'s), naming it', async () => {
    const alice = await registerUser();
    const token = storedProfiles(alice.configDir)[alice.profile]!.accessToken!;
    const before = storedProfiles(alice.configDir);
    const twin = await runMx(['login', '--with-token', '--homeserver', alice.homeserver, '-p', 'twin'], { input: `${token}\n`, configDir: alice.configDir });
    expectExit(twin, EXIT.conflict);
    expect(JSON.parse(twin.stderr).error.message).toContain(`is already profile "${alice.profile}"'s: use -p ${alice.profile}`);
    expect(storedProfiles(alice.configDir)).toEqual(before);
    // The device, its token and its store still work for the profile that has it.
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted'], { configDir: alice.configDir });
    expect((await runMx(['send', roomId, 'still mine'], { configDir: alice.configDir })).code).toBe(0);
  });

  it('refuses a taken user ID with the conflict exit code', async () => {
    const alice = await registerUser();
    const again = await runMx(['register', alice.user, '--password-stdin', '--homeserver', alice.homeserver, '-p', 'again'], {
      input: randomPassword(), configDir: alice.configDir,
    });
    expect(again.code).toBe(EXIT.conflict);
    expect(JSON.parse(again.stderr).error.errcode).toBe('M_USER_IN_USE');
  });

  it('registers a guest', async () => {
    const configDir = tempConfigDir();
    const guest = await mxJson<{ user_id: string }>(['register', '--guest', '--homeserver', homeserverUrl()], { configDir });
    const me = await mxJson<{ user_id: string; is_guest: boolean }>(['whoami'], { configDir });
    expect(me).toEqual(expect.objectContaining({ user_id: guest.user_id, is_guest: true }));
  });

  it('reads the password from MX_PASSWORD, never from argv', async () => {
    const configDir = tempConfigDir();
    const user = uniqueUser('envpw');
    const password = randomPassword();
    const reg = await runMx(['register', user, '--homeserver', homeserverUrl()], { configDir, env: { MX_PASSWORD: password } });
    expect(reg.code, describeResult(['register'], reg)).toBe(EXIT.ok);
    const noPassword = await runMx(['login', user, '-p', 'two', '--homeserver', homeserverUrl()], { configDir });
    expect(noPassword.code).toBe(EXIT.usage);
    expect(noPassword.stderr).toContain('--password-stdin');
    expect(existsSync(path.join(configDir, 'profiles.json'))).toBe(true);
  });

  it('makes raw API calls with mx api', async () => {
    const alice = await registerUser();
    const opts = { configDir: alice.configDir };
    const name = `Alice ${uniqueUser('n')}`;
    const put = await runMx(['api', 'PUT', `/v3/profile/${encodeURIComponent(alice.userId)}/displayname`, '--data', JSON.stringify({ displayname: name })], opts);
    expect(put.code, describeResult(['api'], put)).toBe(EXIT.ok);
    const got = await mxJson<{ displayname: string }>(['api', 'GET', `/v3/profile/${encodeURIComponent(alice.userId)}/displayname`], opts);
    expect(got.displayname).toBe(name);
    const missing = await runMx(['api', 'GET', '/v3/rooms/!nope:localhost/state'], opts);
    expect(missing.code).toBe(4);
    expect(JSON.parse(missing.stdout).errcode).toBe('M_FORBIDDEN');
  });

  it('mx api passes answers that are not JSON through as bytes: media to stdout or to a 0600 file', async () => {
    const alice = await registerUser();
    const opts = { configDir: alice.configDir };
    const { homeserver, accessToken } = await profileCredentials(alice.configDir, alice.profile);
    const upload = async (data: Buffer, contentType: string) => {
      const res = await request(`${homeserver}/_matrix/media/v3/upload`, {
        method: 'POST', body: data, headers: { authorization: `Bearer ${accessToken}`, 'content-type': contentType },
      });
      const { content_uri } = (await res.body.json()) as { content_uri: string };
      return `/v1/media/download/${content_uri.slice('mxc://'.length)}`;
    };
    const text = Buffer.from('plain text, not JSON\nline two\n');
    const shown = await runMx(['api', 'GET', await upload(text, 'text/plain')], opts);
    expect(shown.code, describeResult(['api'], shown)).toBe(EXIT.ok);
    expect(shown.stdout).toBe(text.toString());

    const png = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 1, 2, 0xfe, 0xff]);
    const file = path.join(alice.configDir, 'download.png');
    const saved = await runMx(['api', 'GET', await upload(png, 'image/png'), '--output-file', file], opts);
    expect(saved.code, describeResult(['api'], saved)).toBe(EXIT.ok);
    expect(readFileSync(file).equals(png)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    const missing = await runMx(['api', 'GET', '/v1/media/download/localhost/nosuchmedia'], opts);
    expect(missing.code).toBe(EXIT.notFound);
  });

  it('20 parallel mx processes saving 20 profiles leave all 20 intact, in a 0600 file', async () => {
    const alice = await registerUser({ profile: 'first' });
    const names = Array.from({ length: 20 }, (_, i) => `p${i}`);
    const results = await Promise.all(
      names.map((name) =>
        runMx(['login', alice.user, '--password-stdin', '-p', name, '--homeserver', alice.homeserver], {
          input: alice.password, configDir: alice.configDir, timeoutMs: 60_000,
        }),
      ),
    );
    for (const r of results) expect(r.code, describeResult(['login'], r)).toBe(EXIT.ok);
    const profiles = storedProfiles(alice.configDir);
    expect(Object.keys(profiles).sort()).toEqual(['first', ...names].sort());
    for (const name of names) expect(profiles[name]).toMatchObject({ userId: alice.userId, accessToken: expect.any(String) });
    const devices = new Set(names.map((name) => (profiles[name] as { deviceId: string }).deviceId));
    expect(devices.size).toBe(20);
    expect(statSync(path.join(alice.configDir, 'profiles.json')).mode & 0o777).toBe(0o600);
    expect(statSync(alice.configDir).mode & 0o777).toBe(0o700);
  });
});
