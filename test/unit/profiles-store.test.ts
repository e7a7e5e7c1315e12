import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bundleForChildProcess } from './bundle-module.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, LocalStateError, UsageError } from '../../src/errors.js';
import { damagedProfiles, ProfileStore, profileIn, removeDamagedProfile, selectProfileName, type StoreData } from '../../src/profiles/store.js';

let dir: string;
let storeFile: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'mx-store-'));
  storeFile = path.join(dir, 'state', 'profiles.json');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const mode = (p: string) => statSync(p).mode & 0o777;
const addProfile = (name: string) => (d: StoreData) => {
  d.profiles[name] = { homeserver: `https://${name}.example` };
};

describe('ProfileStore.read', () => {
  it('treats a missing file, or a missing folder, as an empty store', async () => {
    expect(await new ProfileStore(storeFile).read()).toEqual({ version: 1, profiles: {} });
    expect(readdirSync(dir)).toEqual([]); // reading creates nothing
  });
});

describe('ProfileStore.update', () => {
  it('writes the data fn leaves and returns what fn returns', async () => {
    const store = new ProfileStore(storeFile);
    const result = await store.update((d) => {
      d.profiles.ann = { homeserver: 'https://hs.example', userId: '@ann:hs.example', accessToken: 'syt_x' };
      d.defaultProfile = 'ann';
      return 42;
    });
    expect(result).toBe(42);
    expect(JSON.parse(readFileSync(storeFile, 'utf8'))).toEqual({
      version: 1,
      profiles: { ann: { homeserver: 'https://hs.example', userId: '@ann:hs.example', accessToken: 'syt_x' } },
      defaultProfile: 'ann',
    });
    expect(await store.read()).toEqual(JSON.parse(readFileSync(storeFile, 'utf8')));
  });

  it('leaves no temp file and no lock behind', async () => {
    const store = new ProfileStore(storeFile);
    await store.update(addProfile('a'));
    await store.update(addProfile('b'));
    expect(readdirSync(path.dirname(storeFile))).toEqual(['profiles.json']);
  });

  it('makes the folder 0700 and the file 0600 even with umask 0', async () => {
    const old = process.umask(0);
    try {
      await new ProfileStore(storeFile).update(addProfile('a'));
    } finally {
      process.umask(old);
    }
    expect(mode(path.dirname(storeFile))).toBe(0o700);
    expect(mode(storeFile)).toBe(0o600);
  });

  it('makes the folder 0700 and the file 0600 with a umask that strips owner bits', async () => {
    const old = process.umask(0o277);
    try {
      await new ProfileStore(storeFile).update(addProfile('a'));
      await new ProfileStore(storeFile).update(addProfile('b'));
    } finally {
      process.umask(old);
    }
    expect(mode(path.dirname(storeFile))).toBe(0o700);
    expect(mode(storeFile)).toBe(0o600);
  });

  it('tightens a store file that a user made world-readable', async () => {
    mkdirSync(path.dirname(storeFile));
    writeFileSync(storeFile, JSON.stringify({ version: 1, profiles: {} }));
    chmodSync(storeFile, 0o644);
    await new ProfileStore(storeFile).update(addProfile('a'));
    expect(mode(storeFile)).toBe(0o600);
  });

  it('writes nothing when fn throws, and passes the error on unchanged', async () => {
    const store = new ProfileStore(storeFile);
    await store.update(addProfile('a'));
    const before = readFileSync(storeFile);
    const boom = new Error('boom');
    await expect(
      store.update((d) => {
        addProfile('b')(d);
        delete d.profiles.a;
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(readFileSync(storeFile)).toEqual(before);
    expect(readdirSync(path.dirname(storeFile))).toEqual(['profiles.json']);
  });

  it('writes nothing when an async fn rejects, even on the first write', async () => {
    await expect(
      new ProfileStore(storeFile).update(async (d) => {
        addProfile('a')(d);
        throw new Error('later');
      }),
    ).rejects.toThrow('later');
    expect(readdirSync(path.dirname(storeFile))).toEqual([]);
  });

  it('does not rewrite the file when fn changes nothing', async () => {
    const store = new ProfileStore(storeFile);
    await store.update(addProfile('a'));
    const { ino } = statSync(storeFile);
    await store.update(() => undefined);
    expect(statSync(storeFile).ino).toBe(ino); // a rewrite renames a new inode in
  });

  it('keeps fields it does not know (written by a newer mx)', async () => {
    mkdirSync(path.dirname(storeFile));
    const original = {
      version: 1,
      futureTopLevel: { nested: [1, 2] },
      profiles: {
        ann: { homeserver: 'https://hs', accessToken: 't', futureField: 'keep me', positions: { tail: 's1' } },
      },
    };
    writeFileSync(storeFile, JSON.stringify(original));
    await new ProfileStore(storeFile).update((d) => {
      d.profiles.ann!.positions!.tail = 's2';
      addProfile('bob')(d);
    });
    expect(JSON.parse(readFileSync(storeFile, 'utf8'))).toEqual({
      ...original,
      profiles: {
        ann: { ...original.profiles.ann, positions: { tail: 's2' } },
        bob: { homeserver: 'https://bob.example' },
      },
    });
  });

  it('refuses to write a store it could not read back', async () => {
    await expect(
      new ProfileStore(storeFile).update((d) => {
        (d as { profiles: unknown }).profiles = [];
      }),
    ).rejects.toThrow(/invalid profile store/);
    expect(readdirSync(path.dirname(storeFile))).toEqual([]);
  });
});

describe('a corrupt store', () => {
  const cases: [string, string, RegExp][] = [
    ['not JSON', '{"version": 1, "profiles": {', /not valid JSON \(.*line 1, column/],
    ['empty', '', /not valid JSON/],
    ['an array', '[]', /does not hold a JSON object/],
    ['wrong version', '{"version": "1", "profiles": {}}', /"version" is "1", expected 1/],
    ['no version', '{"profiles": {}}', /"version" is missing/],
    ['newer version', '{"version": 2, "profiles": {}}', /format version 2, written by a newer mx/],
    ['profiles not an object', '{"version": 1, "profiles": []}', /"profiles" is not an object/],
    ['no profiles', '{"version": 1}', /"profiles" is not an object/],
    ['a huge version', `{"version": "${'9'.repeat(100_000)}", "profiles": {}}`, /"version" is "9{80}\.\.\. \(100000 characters\)", expected 1/],
    ['a version that is a list', `{"version": [${'[1],'.repeat(1000)}1], "profiles": {}}`, /"version" is a list, expected 1/],
    ['nested 100,000 deep', `{"version": 1, "profiles": {"a": {"homeserver": "https://hs", "x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}}`, /nests more than 32 levels deep/],
    ['objects nested deep', `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`, /nests more than 32 levels deep/],
    ['huge', `{"version": 1, "profiles": {}, "x": "${'x'.repeat(9 * 1024 * 1024)}"}`, /is 9 MiB, far larger than mx writes one/],
  ];

  for (const [what, content, message] of cases) {
    it(`(${what}) is reported with its path and left byte-for-byte untouched`, async () => {
      mkdirSync(path.dirname(storeFile));
      writeFileSync(storeFile, content);
      const mtime = statSync(storeFile).mtimeMs;
      const store = new ProfileStore(storeFile);
      let called = false;
      for (const attempt of [
        () => store.read(),
        () =>
          store.update((d) => {
            called = true;
            addProfile('x')(d);
          }),
      ]) {
        const err = await attempt().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(LocalStateError);
        expect((err as LocalStateError).exitCode).toBe(ExitCode.localState);
        expect((err as Error).message).toContain(storeFile);
        expect((err as Error).message).toMatch(message);
        expect((err as Error).message.length).toBeLessThan(400);
      }
      expect(called).toBe(false);
      expect(readFileSync(storeFile, 'utf8')).toBe(content);
      expect(statSync(storeFile).mtimeMs).toBe(mtime);
      expect(readdirSync(path.dirname(storeFile))).toEqual(['profiles.json']);
    });
  }

  it('tells the user to fix or move it, without quoting the tokens in it', async () => {
    mkdirSync(path.dirname(storeFile));
    writeFileSync(storeFile, '{"version":1,"profiles":{"a":{"homeserver":"h","accessToken":syt_SECRET}}}');
    const err = await new ProfileStore(storeFile).read().catch((e: Error) => e);
    expect(String(err)).toMatch(/Fix it by hand, or move it aside/);
    expect(String(err)).not.toContain('SECRET');
  });
});

describe('a damaged profile', () => {
  const good = { homeserver: 'https://hs.example', userId: '@ann:hs.example', deviceId: 'DEV', accessToken: 'syt_good', cryptoKey: Buffer.alloc(32, 1).toString('base64') };
  const cases: [string, unknown, RegExp][] = [
    ['not an object', 5, /it is not an object/],
    ['without homeserver', {}, /"homeserver" is missing or not a string/],
    ['with an empty homeserver', { homeserver: '' }, /"homeserver" is empty/],
    ['with a homeserver holding a line break', { homeserver: 'https://hs.example\r\n' }, /"homeserver" is not a homeserver URL/],
    ['with a homeserver holding credentials', { homeserver: 'https://me:SECRET@hs.example' }, /"homeserver" is not a homeserver URL/],
    ['with a file: homeserver', { homeserver: 'file:///etc/passwd' }, /"homeserver" is not an http:\/\/ or https:\/\/ URL/],
    ['with a javascript: homeserver', { homeserver: 'javascript:alert(1)' }, /"homeserver" is not an http:\/\/ or https:\/\/ URL/],
    ['with a bare host as homeserver', { homeserver: 'hs.example' }, /"homeserver" is not an http:\/\/ or https:\/\/ URL/],
    ['with a trailing slash', { homeserver: 'https://HS.example/' }, /"homeserver" is not written as mx writes it: write it as https:\/\/hs\.example/],
    ['with a user ID without @', { ...good, userId: 'ann:hs.example' }, /"userId" is not a user ID \(a user ID starts with @/],
    ['with a user ID without server name', { ...good, userId: '@ann' }, /"userId" is not a user ID \(missing ":server.name"/],
    ['with an empty device ID', { ...good, deviceId: '' }, /"deviceId" is empty or holds control characters/],
    ['with a device ID holding a line break', { ...good, deviceId: 'D\nE' }, /"deviceId" is empty or holds control characters/],
    ['with a token of the wrong type', { ...good, accessToken: 7 }, /"accessToken" is not a string/],
    ['with an empty token', { ...good, accessToken: '' }, /"accessToken" is empty or holds spaces or control characters/],
    ['with a token holding a header', { ...good, accessToken: 'syt_SECRET\r\nX-Evil: 1' }, /"accessToken" is empty or holds spaces or control characters/],
    ['with a refresh token holding a space', { ...good, refreshToken: 'syr SECRET' }, /"refreshToken" is empty or holds spaces/],
    ['with a crypto key of 16 bytes', { ...good, cryptoKey: Buffer.from('SECRETSECRETSECR').toString('base64') }, /"cryptoKey" is not the base64 of 32 bytes/],
    ['with a crypto key that is not base64', { ...good, cryptoKey: `SECRET${'!'.repeat(38)}=` }, /"cryptoKey" is not the base64 of 32 bytes/],
    ['with an expiry that is not a number', { ...good, accessTokenExpiresAt: '2030' }, /"accessTokenExpiresAt" is not a number/],
    ['with positions that are not strings', { ...good, positions: { tail: 1 } }, /"positions" is not an object of strings/],
  ];

  function writeStore(bad: unknown, badName = 'bad'): string {
    mkdirSync(path.dirname(storeFile));
    const text = JSON.stringify({ version: 1, defaultProfile: 'good', profiles: { [badName]: bad, good } });
    writeFileSync(storeFile, text);
    return text;
  }

  it.each(cases)('(%s) is an error naming it and the field, never a secret; the others stay usable and it stays as it was', async (_what, bad, message) => {
    writeStore(bad);
    const store = new ProfileStore(storeFile);
    const data = await store.read();
    expect(profileIn(data, 'good')).toEqual(good);
    const err = (() => {
      try {
        profileIn(data, 'bad');
      } catch (e) {
        return e as LocalStateError;
      }
    })();
    expect(err).toBeInstanceOf(LocalStateError);
    expect(err!.exitCode).toBe(ExitCode.localState);
    expect(err!.message).toMatch(message);
    expect(err!.message).toMatch(new RegExp(`^The profile "bad" in ${storeFile.replace(/[.]/g, '\\.')} is damaged: .*fix it by hand, or remove it with mx profile rm bad\\.$`));
    expect(err!.message).not.toMatch(/SECRET|\n/);
    expect(damagedProfiles(data)).toEqual([err!.message]);

    // An update of another profile writes the damaged one back as it was.
    await store.update((d) => {
      profileIn(d, 'good')!.positions = { tail: 's1' };
      addProfile('x')(d);
    });
    const after = JSON.parse(readFileSync(storeFile, 'utf8'));
    expect(after.profiles).toEqual({ bad, good: { ...good, positions: { tail: 's1' } }, x: { homeserver: 'https://x.example' } });
    expect(after.defaultProfile).toBe('good');
    // Removing it is the way out (besides fixing it by hand).
    await store.update((d) => {
      expect(removeDamagedProfile(d, 'bad')).toBe(true);
    });
    expect(Object.keys(JSON.parse(readFileSync(storeFile, 'utf8')).profiles)).toEqual(['good', 'x']);
  });

  it('(a name that is not a profile name) is reported with the name cut short, and kept', async () => {
    const name = `a b${'x'.repeat(10_000)}`;
    writeStore(good, name);
    const store = new ProfileStore(storeFile);
    const [problem] = damagedProfiles(await store.read());
    expect(problem).toMatch(/^The profile "a bx{77}\.\.\. \(10003 characters\)" in .* is damaged: its name is not a profile name/);
    expect(problem!.length).toBeLessThan(400);
    await store.update(addProfile('x'));
    expect(JSON.parse(readFileSync(storeFile, 'utf8')).profiles[name]).toEqual(good);
  });

  it('is not looked up through the prototype of the profiles object', async () => {
    writeStore(good, 'other');
    const data = await new ProfileStore(storeFile).read();
    expect(profileIn(data, 'constructor')).toBeUndefined();
    expect(profileIn(data, 'toString')).toBeUndefined();
  });
});

describe('locking', () => {
  it('serializes concurrent updates within one process', async () => {
    const store = new ProfileStore(storeFile);
    await Promise.all(Array.from({ length: 25 }, (_, i) => store.update(addProfile(`p${i}`))));
    expect(Object.keys((await store.read()).profiles)).toHaveLength(25);
  });

  it('takes over a lock left by a dead process (stale mtime) at once', async () => {
    mkdirSync(`${storeFile}.lock`, { recursive: true });
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${storeFile}.lock`, old, old);
    // No time to wait for the lock at all: only a takeover on the first try succeeds.
    await new ProfileStore(storeFile, { lockTimeoutMs: 0 }).update(addProfile('a'));
    expect(Object.keys((await new ProfileStore(storeFile).read()).profiles)).toEqual(['a']);
    expect(readdirSync(path.dirname(storeFile))).toEqual(['profiles.json']);
  });

  it('gives up on a lock that stays held, with a LocalStateError naming the file', async () => {
    const lockDir = `${storeFile}.lock`;
    mkdirSync(lockDir, { recursive: true });
    // A live holder keeps refreshing the mtime.
    const keepFresh = setInterval(() => utimesSync(lockDir, new Date(), new Date()), 100);
    try {
      const err = await new ProfileStore(storeFile, { lockTimeoutMs: 400 })
        .update(addProfile('a'))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LocalStateError);
      expect((err as Error).message).toContain(storeFile);
      expect((err as Error).message).toMatch(/another mx process may hold it/);
    } finally {
      clearInterval(keepFresh);
    }
    expect(readdirSync(path.dirname(storeFile))).toEqual(['profiles.json.lock']);
  });
});

// The real module, bundled, in separate node processes: the lock must hold across processes.
describe('across processes', () => {
  let bundleUrl: string;
  let cleanup: () => void;

  beforeAll(async () => {
    ({ url: bundleUrl, cleanup } = await bundleForChildProcess('src/profiles/store.ts'));
  });
  afterAll(() => cleanup());

  function runNode(script: string, env: Record<string, string>) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, BUNDLE: bundleUrl, STORE: storeFile, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b));
    child.stderr.on('data', (b: Buffer) => (stderr += b));
    const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on('close', (code) => resolve({ code, stdout, stderr })),
    );
    return { child, exited, stdout: () => stdout };
  }

  it('loses no update when 20 processes write at once, and readers never see a partial file', async () => {
    // Each writer, holding the lock, waits until the reader has seen the store as it found it
    // (k profiles): so the reader sees every state between empty and full, while the other
    // writers wait for the lock, and reads on while each write and rename happen.
    const seenDir = path.join(dir, 'seen');
    mkdirSync(seenDir);
    const script = `
      import { existsSync } from 'node:fs';
      const { ProfileStore } = await import(process.env.BUNDLE);
      await new ProfileStore(process.env.STORE).update(async (d) => {
        const k = Object.keys(d.profiles).length;
        while (!existsSync(process.env.SEEN + '/' + k)) await new Promise((r) => setTimeout(r, 2));
        d.profiles['p' + process.env.I] = { homeserver: 'https://hs' + process.env.I, positions: { tail: 's' + process.env.I } };
      });`;
    const n = 20;
    const runs = Array.from({ length: n }, (_, i) => runNode(script, { I: String(i), SEEN: seenDir }));
    let done = false;
    const all = Promise.all(runs.map((r) => r.exited)).finally(() => (done = true));
    // Read while they write: every read must parse (atomic replace, no torn writes).
    const reader = new ProfileStore(storeFile);
    const counts = new Set<number>();
    while (!done) {
      const count = Object.keys((await reader.read()).profiles).length;
      if (!counts.has(count)) writeFileSync(path.join(seenDir, String(count)), '');
      counts.add(count);
      await new Promise((r) => setTimeout(r, 2));
    }
    const results = await all;
    for (const r of results) expect(r, r.stderr).toMatchObject({ code: 0 });
    const data = await reader.read();
    expect(Object.keys(data.profiles).sort()).toEqual(Array.from({ length: n }, (_, i) => `p${i}`).sort());
    expect(data.profiles.p7).toEqual({ homeserver: 'https://hs7', positions: { tail: 's7' } });
    expect(readdirSync(path.dirname(storeFile))).toEqual(['profiles.json']);
    // Every state from 0 to n-1 profiles was read (and parsed) before the write that followed it.
    expect([...counts].filter((c) => c < n).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
  }, 60_000);

  it('recovers from a holder killed with SIGKILL mid-update; its half-done update is not written', async () => {
    const script = `
      const { ProfileStore } = await import(process.env.BUNDLE);
      await new ProfileStore(process.env.STORE, { staleMs: 2000 }).update(async (d) => {
        d.profiles.victim = { homeserver: 'https://never' };
        process.stdout.write('HOLDING\\n');
        setInterval(() => {}, 1000);
        await new Promise(() => {});
      });`;
    const holder = runNode(script, {});
    await new Promise<void>((resolve, reject) => {
      holder.child.stdout.on('data', () => holder.stdout().includes('HOLDING') && resolve());
      void holder.exited.then((r) => reject(new Error(`holder exited early: ${r.stderr}`)));
    });
    holder.child.kill('SIGKILL');
    await holder.exited;
    // The lock, and the owner token it checks before each write, left by the killed holder.
    expect(readdirSync(path.dirname(storeFile)).sort()).toEqual(['profiles.json.lock', 'profiles.json.lock.owner']);

    // Taken over once stale (2 s after the last refresh); the bound only turns a hang into an error.
    await new ProfileStore(storeFile, { staleMs: 2000, lockTimeoutMs: 20_000 }).update(addProfile('survivor'));
    expect(Object.keys((await new ProfileStore(storeFile).read()).profiles)).toEqual(['survivor']);
    expect(readdirSync(path.dirname(storeFile))).toEqual(['profiles.json']);
  }, 30_000);

  it('a holder paused past the stale time finds its lock taken over when it resumes, and writes nothing', async () => {
    // A holder stopped (SIGSTOP, a suspended laptop) while it holds the lock, as it could be in
    // the middle of refreshing a token over the network, wakes up after another took over and
    // then goes on to write.
    const script = `
      const { ProfileStore } = await import(process.env.BUNDLE);
      try {
        await new ProfileStore(process.env.STORE, { staleMs: 2000 }).update(async (d) => {
          d.profiles.sleeper = { homeserver: 'https://stale' };
          process.stdout.write('HOLDING\\n');
          const { existsSync } = await import('node:fs');
          while (!existsSync(process.env.WAKE)) await new Promise((r) => setTimeout(r, 20));
        });
        process.stdout.write('WROTE\\n');
      } catch (error) {
        process.stdout.write('REFUSED ' + error.message + '\\n');
      }`;
    const wake = path.join(dir, 'wake');
    const holder = runNode(script, { WAKE: wake });
    await new Promise<void>((resolve, reject) => {
      holder.child.stdout.on('data', () => holder.stdout().includes('HOLDING') && resolve());
      void holder.exited.then((r) => reject(new Error(`holder exited early: ${r.stderr}`)));
    });
    holder.child.kill('SIGSTOP');
    await new ProfileStore(storeFile, { staleMs: 2000, lockTimeoutMs: 20_000 }).update(addProfile('awake'));
    writeFileSync(wake, '');
    holder.child.kill('SIGCONT');
    const { stdout, stderr } = await holder.exited;
    expect(stdout, stderr).toMatch(/REFUSED Lost the lock on the profile store .*nothing was written/);
    expect(Object.keys((await new ProfileStore(storeFile).read()).profiles)).toEqual(['awake']);
  }, 30_000);
});

describe('selectProfileName', () => {
  const data = { defaultProfile: 'stored' };
  const config = { profile: 'fromconfig' };
  const env = { MX_PROFILE: 'fromenv' };

  it('follows --profile > MX_PROFILE > config > store default > "default"', () => {
    expect(selectProfileName({ flag: 'flag', env, config, data })).toBe('flag');
    expect(selectProfileName({ env, config, data })).toBe('fromenv');
    expect(selectProfileName({ env: {}, config, data })).toBe('fromconfig');
    expect(selectProfileName({ env: {}, config: {}, data })).toBe('stored');
    const empty: StoreData = { version: 1, profiles: {} };
    expect(selectProfileName({ env: {}, config: {}, data: empty })).toBe('default');
    expect(selectProfileName({ env: {} })).toBe('default');
  });

  it('treats an empty MX_PROFILE as unset', () => {
    expect(selectProfileName({ env: { MX_PROFILE: '' }, data })).toBe('stored');
  });

  it('accepts letters, digits, ".", "_" and "-" up to 64 characters', () => {
    for (const name of ['a', 'work', 'ci-bot_2', 'A.b.C', '_x', '-', 'x'.repeat(64)]) {
      expect(selectProfileName({ flag: name, env: {} })).toBe(name);
    }
  });

  it('rejects other names with a UsageError saying where they came from', () => {
    for (const name of ['', '.hidden', '..', 'a/b', 'a b', 'ümlaut', 'x'.repeat(65), '../etc']) {
      expect(() => selectProfileName({ flag: name, env: {} })).toThrow(UsageError);
    }
    expect(() => selectProfileName({ env: { MX_PROFILE: 'a/b' } })).toThrow(/from MX_PROFILE/);
    expect(() => selectProfileName({ flag: '.x', env: {} })).toThrow(/from --profile/);
  });

  it('reports a bad stored default as local state, not usage', () => {
    expect(() => selectProfileName({ env: {}, data: { defaultProfile: '../x' } })).toThrow(LocalStateError);
  });
});
