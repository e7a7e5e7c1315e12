// What mx reads and writes on disk besides answering: nothing at all in MX_ACCESS_TOKEN mode,
// warnings for a config file it ignores in part, and for a profile store others could read.
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MockAgent } from 'undici';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, JSON_HEADERS, tempDirMaker } from './fake-io.js';

const tempDir = tempDirMaker('mx-files-');
const HS = 'https://hs.test';

function whoamiIo(env: Record<string, string>) {
  const io = fakeIo({ env });
  (io.dispatcher as MockAgent)
    .get(HS)
    .intercept({ path: '/_matrix/client/v3/account/whoami' })
    .reply(200, { user_id: '@a:hs.test', device_id: 'D' }, JSON_HEADERS);
  return io;
}

function storeWithProfile(dir: string): void {
  const store = { version: 1, defaultProfile: 'a', profiles: { a: { homeserver: HS, userId: '@a:hs.test', accessToken: 'tok' } } };
  writeFileSync(path.join(dir, 'profiles.json'), JSON.stringify(store), { mode: 0o600 });
}

describe('MX_HOMESERVER + MX_ACCESS_TOKEN', () => {
  it('reads no file: a damaged profile store and config do not matter', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'profiles.json'), '{"version":1,"profiles":', { mode: 0o600 });
    writeFileSync(path.join(dir, 'config.json'), '{"output": "xml"}');
    const io = whoamiIo({ MX_CONFIG_DIR: dir, MX_HOMESERVER: HS, MX_ACCESS_TOKEN: 'tok' });
    expect(await main(['whoami'], io)).toBe(0);
    expect(JSON.parse(io.out())).toMatchObject({ user_id: '@a:hs.test', profile: null });
    expect(io.err()).toBe('');
  });

  it('still reads a config file named with --config', async () => {
    const dir = tempDir();
    writeFileSync(path.join(dir, 'mine.json'), '{"output": "xml"}');
    const io = fakeIo({ env: { MX_CONFIG_DIR: dir, MX_HOMESERVER: HS, MX_ACCESS_TOKEN: 'tok' } });
    expect(await main(['whoami', '--config', path.join(dir, 'mine.json')], io)).toBe(8);
    expect(JSON.parse(io.err()).error.message).toMatch(/"output" must be one of/);
    expect(io.requests()).toEqual([]);
  });
});

describe('config warnings', () => {
  it('are shown on stderr: unknown settings and files that were ignored', async () => {
    const dir = tempDir();
    storeWithProfile(dir);
    writeFileSync(path.join(dir, 'config.json'), '{"output": "json", "colour": "always"}');
    writeFileSync(path.join(dir, 'config.yaml'), 'output: text\n');
    const io = whoamiIo({ MX_CONFIG_DIR: dir });
    expect(await main(['whoami'], io)).toBe(0);
    const warnings = io.err().trim().split('\n').map((line) => JSON.parse(line).warning.message);
    expect(warnings).toEqual([
      expect.stringMatching(/^Using the config file .*config\.json; ignoring .*config\.yaml\.$/),
      expect.stringMatching(/^Ignoring the unknown setting "colour" in the config file/),
    ]);
  });
});

describe('a profile store others could read', () => {
  it('warns about a folder with loose permissions, like ssh, and names the fix', async () => {
    const dir = path.join(tempDir(), 'loose');
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(dir, 0o755);
    storeWithProfile(dir);
    const io = whoamiIo({ MX_CONFIG_DIR: dir });
    expect(await main(['whoami', '-o', 'text'], io)).toBe(0);
    expect(io.err()).toBe(`mx: warning: the folder ${dir} holds access tokens but other users may open it (mode 0755): run chmod 700 ${dir}\n`);
  });

  it('tightens a store file others could read to 0600, and says so', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o700);
    storeWithProfile(dir);
    chmodSync(path.join(dir, 'profiles.json'), 0o644);
    const io = whoamiIo({ MX_CONFIG_DIR: dir });
    expect(await main(['whoami', '-o', 'text'], io)).toBe(0);
    expect(statSync(path.join(dir, 'profiles.json')).mode & 0o777).toBe(0o600);
    expect(io.err()).toMatch(/was readable by other users \(mode 0644\); mx set it to 0600/);
  });

  it('says nothing when folder and file are private', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o700);
    storeWithProfile(dir);
    const io = whoamiIo({ MX_CONFIG_DIR: dir });
    expect(await main(['whoami'], io)).toBe(0);
    expect(io.err()).toBe('');
  });
});
