// A profile store that cannot be written (a read-only mount; as root, file modes would not stop
// anything): logout, deleting this device and login check it before they ask the server, so
// that the server never logs out a device the profile still holds, nor makes one no profile
// knows. The store is bind-mounted read-only in a mount namespace of mx's own (helpers.ts).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectExit, mxJson, readOnlyMounts, registerUser, runMx } from './helpers.js';

const storeText = (configDir: string) => readFileSync(path.join(configDir, 'profiles.json'), 'utf8');
const deviceIds = async (configDir: string) =>
  (await mxJson<{ device_id: string }[]>(['device', 'list', '-p', 'main'], { configDir })).map((d) => d.device_id).sort();

describe.skipIf(!readOnlyMounts())('a read-only profile store (skipped where unshare cannot make a mount namespace)', () => {
  it('logout and device delete of this device change nothing on the server; the profile keeps its working login', async () => {
    const alice = await registerUser({ profile: 'main' });
    const { configDir } = alice;
    const before = storeText(configDir);
    const devices = await deviceIds(configDir);
    const current = (await mxJson<{ device_id: string }>(['whoami', '-p', 'main'], { configDir })).device_id;

    for (const args of [['logout', '-p', 'main'], ['device', 'delete', current, '--force', '--password-stdin', '-p', 'main']]) {
      const r = await runMx(args, { configDir, readOnlyDir: configDir, input: alice.password });
      expectExit(r, 8, /profile store .*read-only file system.*; nothing was done on the server/i);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
      expect(storeText(configDir)).toBe(before);
    }
    // The token still works, and the device is still there.
    expect((await runMx(['whoami', '-p', 'main'], { configDir })).code).toBe(0);
    expect(await deviceIds(configDir)).toEqual(devices);
  });

  it('login leaves no device on the server that no profile knows', async () => {
    const alice = await registerUser({ profile: 'main' });
    const { configDir } = alice;
    const before = storeText(configDir);
    const devices = await deviceIds(configDir);
    const r = await runMx(['login', alice.user, '--password-stdin', '-p', 'second', '--homeserver', alice.homeserver], {
      configDir, readOnlyDir: configDir, input: alice.password,
    });
    expectExit(r, 8, /profile store .*read-only file system.*; nothing was logged in/i);
    expect(storeText(configDir)).toBe(before);
    expect(await deviceIds(configDir)).toEqual(devices);
  });
});
