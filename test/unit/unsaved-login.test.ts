// Logout and login change something on the server that only the saved profile remembers. They
// check first that the store can be saved (nothing happens on the server when it cannot), and
// when saving fails all the same after the server's answer, they say exactly what happened (a
// new device is logged out again). A MockAgent plays the server; as root, file modes stop
// nothing, so the store is made unwritable with things in the way: a folder where the write
// probe must go, or a file where the store's folder was.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';
import { fakeIo, JSON_HEADERS, mockAgent, tempDirMaker } from './fake-io.js';

const HS = 'https://hs.test';
const ME = '@me:hs.test';
const PROFILE = { homeserver: HS, userId: ME, deviceId: 'OLD', accessToken: 'syt_old', cryptoKey: Buffer.alloc(32, 3).toString('base64') };
const tempDir = tempDirMaker('mx-unsaved-');

function setup() {
  const root = tempDir();
  const configDir = path.join(root, 'config');
  mkdirSync(configDir, { mode: 0o700 });
  const storeFile = path.join(configDir, 'profiles.json');
  const text = JSON.stringify({ version: 1, defaultProfile: 'default', profiles: { default: PROFILE } });
  writeFileSync(storeFile, text, { mode: 0o600 });
  const agent = mockAgent();
  const io = fakeIo({ env: { MX_CONFIG_DIR: configDir, MX_PASSWORD: 'pw' }, dispatcher: agent });
  return {
    configDir, storeFile, text, io, pool: agent.get(HS),
    /** The probe assertWritable writes beside the store cannot be made: a folder is in its place. */
    blockProbe: () => mkdirSync(`${storeFile}.${process.pid}.probe`),
    /** From now on the store cannot be saved: its folder moves away, a file takes its place. */
    breakStore: () => {
      renameSync(configDir, `${configDir}.moved`);
      writeFileSync(configDir, '');
    },
    run: (argv: string[]) => main(argv, io),
    error: () => {
      const lines = io.err().trim().split('\n');
      expect(lines, io.err()).toHaveLength(1);
      return JSON.parse(lines[0]!).error as { message: string; exit_code: number };
    },
  };
}

describe('logout', () => {
  it('does not log out when the profile could not be saved without the token', async () => {
    const t = setup();
    t.blockProbe();
    expect(await t.run(['logout'])).toBe(8);
    expect(t.error().message).toMatch(/^Cannot write the profile store .*profiles\.json: EISDIR.*; nothing was done on the server$/);
    expect(t.io.requests()).toEqual([]);
    expect(readFileSync(t.storeFile, 'utf8')).toBe(t.text);
  });

  it('says what happened when the store fails after the server logged out: the profile still holds the dead token', async () => {
    const t = setup();
    t.pool.intercept({ path: '/_matrix/client/v3/logout', method: 'POST' }).reply(() => {
      t.breakStore();
      return { statusCode: 200, data: {}, responseOptions: JSON_HEADERS };
    });
    expect(await t.run(['logout'])).toBe(8);
    expect(t.error().message).toMatch(
      /^the server has logged device OLD out, but profile "default" could not be saved \(Cannot create the folder .*\): it still holds the dead token; once the store can be written, run mx logout -p default to clear it$/,
    );
    expect(JSON.parse(readFileSync(path.join(`${t.configDir}.moved`, 'profiles.json'), 'utf8')).profiles.default).toEqual(PROFILE);
  });
});

describe('login', () => {
  const LOGIN = '/_matrix/client/v3/login';
  /** The server logs in device NEW, and the store breaks before mx saves it. */
  const logInThenBreakStore = (t: ReturnType<typeof setup>) => {
    t.pool.intercept({ path: LOGIN, method: 'GET' }).reply(200, { flows: [{ type: 'm.login.password' }] }, JSON_HEADERS);
    t.pool.intercept({ path: LOGIN, method: 'POST' }).reply(() => {
      t.breakStore();
      return { statusCode: 200, data: { user_id: ME, device_id: 'NEW', access_token: 'syt_new' }, responseOptions: JSON_HEADERS };
    });
  };

  it('logs nothing in when the new login could not be saved', async () => {
    const t = setup();
    t.blockProbe();
    expect(await t.run(['login', 'me', '-p', 'second', '--homeserver', HS])).toBe(8);
    expect(t.error().message).toMatch(/^Cannot write the profile store .*: EISDIR.*; nothing was logged in$/);
    expect(t.io.requests()).toEqual([]);
    expect(readFileSync(t.storeFile, 'utf8')).toBe(t.text);
  });

  it('logs the new device out again when saving fails after the server logged it in, and says so', async () => {
    const t = setup();
    logInThenBreakStore(t);
    t.pool.intercept({ path: '/_matrix/client/v3/logout', method: 'POST', headers: { authorization: 'Bearer syt_new' } }).reply(200, {}, JSON_HEADERS);
    expect(await t.run(['login', 'me', '-p', 'second', '--homeserver', HS])).toBe(8);
    expect(t.error().message).toMatch(/^Cannot create the folder .*; the new login \(device NEW of @me:hs\.test\) was logged out again$/);
    expect(t.io.requests()).toEqual([`GET ${LOGIN}`, `POST ${LOGIN}`, 'POST /_matrix/client/v3/logout']);
  });

  it('does not save a login whose answer is no profile (a user ID without @), and logs it out again', async () => {
    const t = setup();
    t.pool.intercept({ path: LOGIN, method: 'GET' }).reply(200, { flows: [{ type: 'm.login.password' }] }, JSON_HEADERS);
    t.pool.intercept({ path: LOGIN, method: 'POST' }).reply(200, { user_id: 'me\r\nX', device_id: 'NEW', access_token: 'syt_new' }, JSON_HEADERS);
    t.pool.intercept({ path: '/_matrix/client/v3/logout', method: 'POST', headers: { authorization: 'Bearer syt_new' } }).reply(200, {}, JSON_HEADERS);
    expect(await t.run(['login', 'me', '-p', 'second', '--homeserver', HS])).toBe(1);
    expect(t.error().message).toMatch(
      /^the homeserver's answer cannot be saved as profile "second": "userId" is not a user ID \(a user ID starts with @.*\); the new login \(device NEW of me\\r\\nX\) was logged out again$/,
    );
    expect(readFileSync(t.storeFile, 'utf8')).toBe(t.text);
  });

  it('says which device is left on the server when it cannot be logged out again either', async () => {
    const t = setup();
    logInThenBreakStore(t);
    t.pool.intercept({ path: '/_matrix/client/v3/logout', method: 'POST' }).reply(400, { errcode: 'M_UNKNOWN', error: 'no' }, JSON_HEADERS);
    expect(await t.run(['login', 'me', '-p', 'second', '--homeserver', HS])).toBe(8);
    expect(t.error().message).toMatch(/; the new login \(device NEW of @me:hs\.test\) could not be logged out again: delete it with mx device delete NEW from another login$/);
    expect(existsSync(path.join(`${t.configDir}.moved`, 'profiles.json'))).toBe(true);
  });
});
