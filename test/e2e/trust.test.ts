// Trust and recovery (mx crypto, mx device) with a real client no one here wrote on the other
// side: matrix-js-sdk with its Rust crypto (test/peer) sets up and uses cross-signing, secret
// storage, key backup and key files the way Element does.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { peersStoppedAfterEach } from './encryption-helpers.js';
import { describeResult, homeserverUrl, mxJson, parseJsonLines, registerUser, runMx, tempConfigDir, waitUntil, expectExit } from './helpers.js';

interface Line {
  type: string;
  content: Record<string, any>;
  encryption?: { decrypted: boolean; reason?: string; verified?: boolean; identity?: string };
}

const peerOf = peersStoppedAfterEach();

/** Every file of the crypto stores under a config dir, with its bytes (lock files left out: they change with every use). */
function cryptoStoreFiles(configDir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = path.join(dir, name);
      if (name.startsWith('lock')) continue;
      if (statSync(full).isDirectory()) walk(full);
      else out[path.relative(configDir, full)] = readFileSync(full).toString('base64');
    }
  };
  walk(path.join(configDir, 'crypto'));
  return out;
}

/** `mx login` as an existing user, on a new device, into profile `profile` of `configDir`. */
async function mxLogin(userId: string, password: string, configDir: string, profile: string): Promise<string> {
  const out = await mxJson<{ device_id: string }>(['login', userId, '--password-stdin', '--homeserver', homeserverUrl(), '-p', profile], { configDir, input: password });
  return out.device_id;
}

const bodies = (lines: Line[]) => lines.filter((l) => l.type === 'm.room.message').map((l) => l.content.body);

describe('recovery with the recovery key of an account Element set up', () => {
  it('a new mx device recovers: cross-signed by the account (the peer sees it), history from the backup decrypts, new keys are backed up; a wrong or malformed key changes nothing', async () => {
    const peer = await peerOf({ homeserverUrl: homeserverUrl(), deviceName: 'element' });
    const recoveryKey = await peer.setUpRecovery();
    const roomId = await peer.createEncryptedRoom({ name: 'notes to self' });
    await peer.sendText(roomId, 'written before mx 1');
    await peer.sendText(roomId, 'written before mx 2');
    await waitUntil(async () => (await peer.serverBackupKeyCount()) >= 1, 'the peer to back up its room key', 15_000);

    const configDir = tempConfigDir();
    const deviceId = await mxLogin(peer.userId, peer.password!, configDir, 'element-user');
    const opts = { configDir };
    const before = parseJsonLines<Line>((await runMx(['room', 'messages', roomId, '--all', '--dir', 'f'], opts)).stdout);
    expect(before.filter((l) => l.type === 'm.room.encrypted').map((l) => l.encryption?.reason)).toEqual(['missing_key', 'missing_key']);

    const store = cryptoStoreFiles(configDir);
    const wrongKey = recoveryKey.replace(/^(\S+ \S+) (\S)/, (_, head, c) => `${head} ${c === 'a' ? 'b' : 'a'}`);
    const badArgs = ['crypto', 'recover', '--recovery-key-stdin'];
    // A typo: the check digit says so (usage).
    expectExit(await runMx(badArgs, { ...opts, input: wrongKey }), 2, /typo|not a recovery key/);
    // Another well-formed key: it does not open the secret storage (auth).
    const { encodeRecoveryKey } = await import('matrix-js-sdk/lib/crypto-api/recovery-key.js');
    const otherKey = encodeRecoveryKey(new Uint8Array(32).fill(7))!;
    expectExit(await runMx(badArgs, { ...opts, input: otherKey }), 3, /wrong recovery key/);
    expectExit(await runMx(badArgs, { ...opts, input: 'not a key at all' }), 2);
    expect(cryptoStoreFiles(configDir)).toEqual(store);
    expect((await mxJson<{ cross_signed: boolean }>(['crypto', 'status'], opts)).cross_signed).toBe(false);

    // The key from the environment, as a CI secret would give it.
    const recovered = await mxJson<{ cross_signed: boolean; backup: { imported: number } }>(['crypto', 'recover'], { ...opts, env: { MX_RECOVERY_KEY: recoveryKey } });
    expect(recovered.cross_signed).toBe(true);
    expect(recovered.backup.imported).toBeGreaterThanOrEqual(1);
    const history = parseJsonLines<Line>((await runMx(['room', 'messages', roomId, '--all', '--dir', 'f'], opts)).stdout);
    expect(bodies(history)).toEqual(['written before mx 1', 'written before mx 2']);
    expect(history.some((l) => l.type === 'm.room.encrypted')).toBe(false);
    expect(await peer.deviceSignedByOwner(peer.userId, deviceId)).toBe(true);

    const status = await mxJson<{ cross_signed: boolean; cross_signing: Record<string, boolean>; backup: { version: string; backing_up_to: string } }>(['crypto', 'status'], opts);
    expect(status.cross_signed).toBe(true);
    expect(status.cross_signing).toMatchObject({ on_account: true, master: true, self_signing: true });
    expect(status.backup.backing_up_to).toBe(status.backup.version);
    // mx's own new room key goes into the backup as it is made.
    const count = await peer.serverBackupKeyCount();
    await mxJson(['send', roomId, 'from mx, backed up'], opts);
    expect(await peer.serverBackupKeyCount()).toBe(count + 1);
  });
});

describe('recovery with a secret storage passphrase', () => {
  it('recovers with the passphrase Element set up instead of the key; a wrong passphrase changes nothing', async () => {
    const peer = await peerOf({ homeserverUrl: homeserverUrl(), deviceName: 'element' });
    await peer.setUpRecovery('a phrase only I know');
    const configDir = tempConfigDir();
    const deviceId = await mxLogin(peer.userId, peer.password!, configDir, 'element-user');
    const store = cryptoStoreFiles(configDir);
    const args = ['crypto', 'recover', '--recovery-key-stdin'];
    expectExit(await runMx(args, { configDir, input: 'a phrase I got wrong' }), 3, /wrong passphrase/);
    expect(cryptoStoreFiles(configDir)).toEqual(store);
    expect((await mxJson<{ cross_signed: boolean }>(args, { configDir, input: 'a phrase only I know\n' })).cross_signed).toBe(true);
    expect(await peer.deviceSignedByOwner(peer.userId, deviceId)).toBe(true);
  });
});

describe('mx crypto setup on a fresh account', () => {
  it('prints the recovery key once; Element logs in, recovers with it and reads what mx sent; a second setup is refused', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted', '--name', 'mx only'], opts);
    await mxJson(['send', roomId, 'sent by mx 1'], opts);
    await mxJson(['send', roomId, 'sent by mx 2'], opts);

    const setup = await mxJson<{ recovery_key: string; backup_version: string; cross_signing: string }>(['crypto', 'setup', '--password-stdin'], { ...opts, input: user.password });
    expect(setup.recovery_key).toMatch(/^Es\S\S( \S{4}){11}$/);
    expect(setup.cross_signing).toBe('created');
    const again = await runMx(['crypto', 'setup', '--password-stdin'], { ...opts, input: user.password });
    expectExit(again, 6, /already has secret storage/);

    const element = await peerOf({ homeserverUrl: homeserverUrl(), user: user.userId, password: user.password, deviceName: 'element' });
    expect(await element.recoverWith(setup.recovery_key)).toBeGreaterThanOrEqual(1);
    const read = await element.waitForDecryptedMessages(roomId, 2, 20_000);
    expect(read.map((m) => m.content.body)).toEqual(['sent by mx 1', 'sent by mx 2']);
    expect(await element.deviceSignedByOwner(user.userId, String(user.output.device_id))).toBe(true);
  });

  it('--reset replaces cross-signing, secret storage and backup (the password is asked for): the old recovery key stops working, the new one recovers', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const old = await mxJson<{ recovery_key: string; backup_version: string }>(['crypto', 'setup', '--password-stdin'], { ...opts, input: user.password });
    const masterKey = async () =>
      Object.values((await mxJson<{ master_keys: Record<string, { keys: Record<string, string> }> }>(['api', 'POST', '/v3/keys/query', '--data', JSON.stringify({ device_keys: { [user.userId]: [] } })], opts)).master_keys[user.userId]!.keys)[0];
    const oldMaster = await masterKey();
    // Replacing cross-signing keys needs the password.
    expectExit(await runMx(['crypto', 'setup', '--reset', '--password-stdin'], { ...opts, input: 'wrong password' }), 3);
    const reset = await runMx(['crypto', 'setup', '--reset', '--password-stdin'], { ...opts, input: user.password });
    expect(reset.code, describeResult(['crypto', 'setup', '--reset'], reset)).toBe(0);
    expect(reset.stderr).toMatch(/old recovery key stops working/);
    const fresh = JSON.parse(reset.stdout) as { recovery_key: string; backup_version: string; cross_signing: string };
    expect(fresh.cross_signing).toBe('created');
    expect(fresh.recovery_key).not.toBe(old.recovery_key);
    expect(fresh.backup_version).not.toBe(old.backup_version);
    expect(await masterKey()).not.toBe(oldMaster);

    await mxLogin(user.userId, user.password, user.configDir, 'second');
    const second = { configDir: user.configDir, env: { MX_PROFILE: 'second' } };
    expectExit(await runMx(['crypto', 'recover', '--recovery-key-stdin'], { ...second, input: old.recovery_key }), 3, /wrong recovery key/);
    expect((await mxJson<{ cross_signed: boolean }>(['crypto', 'recover', '--recovery-key-stdin'], { ...second, input: fresh.recovery_key })).cross_signed).toBe(true);
  });

  it('--recovery-key-file writes the key to a new 0600 file and never over an existing one', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const file = path.join(user.configDir, 'recovery-key.txt');
    writeFileSync(file, 'an older key');
    const refused = await runMx(['crypto', 'setup', '--password-stdin', '--recovery-key-file', file], { ...opts, input: user.password });
    expectExit(refused, 6, /exists already/);
    expect(readFileSync(file, 'utf8')).toBe('an older key');
    expect((await mxJson<{ secret_storage: { on_account: boolean } }>(['crypto', 'status'], opts)).secret_storage.on_account).toBe(false);

    const fresh = path.join(user.configDir, 'new-recovery-key.txt');
    const done = await mxJson<{ recovery_key_file: string; recovery_key?: string }>(['crypto', 'setup', '--password-stdin', '--recovery-key-file', fresh], { ...opts, input: user.password });
    expect(done.recovery_key).toBeUndefined();
    expect(done.recovery_key_file).toBe(fresh);
    expect(statSync(fresh).mode & 0o777).toBe(0o600);
    expect(readFileSync(fresh, 'utf8')).toMatch(/^Es\S\S( \S{4}){11}\n$/);
  });
});

describe('key files', () => {
  it("the peer's key file imports into mx and decrypts history; mx's imports into the peer's new device; bad files and passphrases change nothing", async () => {
    const peer = await peerOf({ homeserverUrl: homeserverUrl(), deviceName: 'element' });
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const roomId = await peer.createEncryptedRoom({ historyVisibility: 'shared' });
    await peer.sendText(roomId, 'before mx joined');
    await peer.invite(roomId, user.userId);
    expect((await runMx(['join', roomId], opts)).code).toBe(0);
    await peer.waitForMembership(roomId, user.userId, 'join');
    const locked = parseJsonLines<Line>((await runMx(['room', 'messages', roomId, '--all', '--dir', 'f'], opts)).stdout);
    expect(locked.find((l) => l.type === 'm.room.encrypted')?.encryption?.reason).toBe('missing_key');

    const keyFile = path.join(user.configDir, 'element-keys.txt');
    writeFileSync(keyFile, await peer.exportKeyFile('correct horse'));
    const store = cryptoStoreFiles(user.configDir);
    const importArgs = ['crypto', 'import', keyFile, '--passphrase-stdin'];
    expectExit(await runMx(importArgs, { ...opts, input: 'wrong horse' }), 3, /wrong passphrase/);
    const text = readFileSync(keyFile, 'utf8');
    const truncated = path.join(user.configDir, 'truncated.txt');
    writeFileSync(truncated, text.slice(0, Math.floor(text.length / 2)));
    expectExit(await runMx(['crypto', 'import', truncated, '--passphrase-stdin'], { ...opts, input: 'correct horse' }), 2, /cut short/);
    const garbage = path.join(user.configDir, 'garbage.txt');
    writeFileSync(garbage, 'hello\n');
    expectExit(await runMx(['crypto', 'import', garbage, '--passphrase-stdin'], { ...opts, input: 'correct horse' }), 2, /not a key file/);
    expect(cryptoStoreFiles(user.configDir)).toEqual(store);

    const imported = await mxJson<{ keys: number; imported: number }>(importArgs, { ...opts, input: 'correct horse' });
    expect(imported.imported).toBeGreaterThanOrEqual(1);
    expect(bodies(parseJsonLines<Line>((await runMx(['room', 'messages', roomId, '--all', '--dir', 'f'], opts)).stdout))).toEqual(['before mx joined']);

    await mxJson(['send', roomId, 'from mx'], opts);
    const mxFile = path.join(user.configDir, 'mx-keys.txt');
    const exported = await mxJson<{ file: string; keys: number }>(['crypto', 'export', mxFile], { ...opts, env: { MX_PASSPHRASE: 'mx passphrase' } });
    expect(exported.keys).toBeGreaterThanOrEqual(2);
    expect(statSync(mxFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(mxFile, 'utf8')).toMatch(/^-----BEGIN MEGOLM SESSION DATA-----\n[\s\S]+\n-----END MEGOLM SESSION DATA-----\n$/);
    expectExit(await runMx(['crypto', 'export', mxFile], { ...opts, env: { MX_PASSPHRASE: 'x' } }), 6, /exists already/);
    // - is stdout for export and stdin for import.
    const piped = await runMx(['crypto', 'export', '-'], { ...opts, env: { MX_PASSPHRASE: 'piped' } });
    expect(piped.stdout).toMatch(/^-----BEGIN MEGOLM SESSION DATA-----\n/);
    const reimported = await mxJson<{ keys: number; imported: number }>(['crypto', 'import', '-'], { ...opts, input: piped.stdout, env: { MX_PASSPHRASE: 'piped' } });
    expect(reimported).toEqual({ keys: exported.keys, imported: 0 });

    // A new device of the peer's user has no keys for what came before it: mx's file gives them.
    const laterDevice = await peerOf({ homeserverUrl: homeserverUrl(), user: peer.userId, password: peer.password, deviceName: 'element 2' });
    await laterDevice.importKeyFile(readFileSync(mxFile, 'utf8'), 'mx passphrase');
    const read = await laterDevice.waitForDecryptedMessages(roomId, (m) => m.content.body === 'from mx', 20_000);
    expect(read).toHaveLength(1);
  });
});

describe('a backup replaced by another client', () => {
  it('recover refuses it and changes nothing; the device backing up to the old one stops and says so', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const key = await mxJson<{ recovery_key: string; backup_version: string }>(['crypto', 'setup', '--password-stdin'], { ...opts, input: user.password });
    const other = await peerOf({ homeserverUrl: homeserverUrl(), user: user.userId, password: user.password, deviceName: 'other client' });
    const newVersion = await other.replaceBackupOutsideSecretStorage();
    expect(newVersion).not.toBe(key.backup_version);

    await mxLogin(user.userId, user.password, user.configDir, 'second');
    const second = { configDir: user.configDir, env: { MX_PROFILE: 'second' } };
    const store = cryptoStoreFiles(user.configDir);
    const r = await runMx(['crypto', 'recover', '--recovery-key-stdin'], { ...second, input: key.recovery_key });
    expectExit(r, 9, /another client replaced it/);
    expect(cryptoStoreFiles(user.configDir)).toEqual(store);
    expect((await mxJson<{ cross_signed: boolean }>(['crypto', 'status'], second)).cross_signed).toBe(false);

    // The first device still uploads to the old version: its next new key tells it otherwise.
    const { room_id: roomId } = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted'], opts);
    const sent = await runMx(['send', roomId, 'a new room key'], opts);
    expect(sent.code, describeResult(['send'], sent)).toBe(0);
    expect(sent.stderr).toMatch(/key backup on the server was replaced/);
    expect((await mxJson<{ backup: { backing_up_to: string | null; version: string } }>(['crypto', 'status'], opts)).backup).toEqual({ version: newVersion, backing_up_to: null });
  });
});

describe('identities', () => {
  it("a sender's identity is unverified, then changed (said once on stderr) when they reset cross-signing, until mx crypto trust accepts it", async () => {
    const peer = await peerOf({ homeserverUrl: homeserverUrl(), deviceName: 'element' });
    await peer.bootstrapCrossSigning();
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const roomId = await peer.createEncryptedRoom({ invite: [user.userId] });
    expect((await runMx(['join', roomId], opts)).code).toBe(0);
    await peer.waitForMembership(roomId, user.userId, 'join');
    await peer.waitForDevice(user.userId, String(user.output.device_id));
    await peer.sendText(roomId, 'first identity');
    const first = await runMx(['room', 'messages', roomId, '--limit', '1'], opts);
    expect(parseJsonLines<Line>(first.stdout)[0]?.encryption).toMatchObject({ decrypted: true, verified: true, identity: 'unverified' });

    await peer.bootstrapCrossSigning(); // new cross-signing keys for the same user
    await peer.sendText(roomId, 'second identity');
    const tail = await runMx(['room', 'messages', roomId, '--limit', '2'], opts);
    const lines = parseJsonLines<Line>(tail.stdout);
    expect(lines.map((l) => l.encryption?.identity)).toEqual(['changed', 'changed']);
    expect(tail.stderr.match(/identity \(cross-signing keys\) changed/g)).toHaveLength(1);

    const trusted = await mxJson<{ accepted: boolean; was: string }>(['crypto', 'trust', peer.userId], opts);
    expect(trusted).toMatchObject({ accepted: true, was: 'changed' });
    const after = await runMx(['room', 'messages', roomId, '--limit', '1'], opts);
    expect(parseJsonLines<Line>(after.stdout)[0]?.encryption?.identity).toBe('unverified');
    expect(after.stderr).not.toMatch(/changed/);
  });
});

describe('secrets of trust and recovery', () => {
  it('the recovery key, the passphrase and the private keys it unlocks appear neither in --debug output nor in files others can read', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const setup = await runMx(['crypto', 'setup', '--password-stdin', '--debug'], { ...opts, input: user.password });
    expect(setup.code, describeResult(['crypto', 'setup'], setup)).toBe(0);
    const recoveryKey = JSON.parse(setup.stdout).recovery_key as string;
    // The secrets as another client reads them from secret storage.
    const { decodeRecoveryKey } = await import('matrix-js-sdk/lib/crypto-api/recovery-key.js');
    const { default: decryptSecret } = await import('matrix-js-sdk/lib/utils/decryptAESSecretStorageItem.js');
    const keyId = (await mxJson<{ key: string }>(['api', 'GET', `/v3/user/${encodeURIComponent(user.userId)}/account_data/m.secret_storage.default_key`], opts)).key;
    const secrets: string[] = [];
    for (const name of ['m.cross_signing.master', 'm.cross_signing.self_signing', 'm.cross_signing.user_signing', 'm.megolm_backup.v1']) {
      const data = await mxJson<{ encrypted: Record<string, any> }>(['api', 'GET', `/v3/user/${encodeURIComponent(user.userId)}/account_data/${name}`], opts);
      secrets.push(await decryptSecret(data.encrypted[keyId], decodeRecoveryKey(recoveryKey), name));
    }
    expect(secrets.every((secret) => secret.length >= 40)).toBe(true);

    await mxLogin(user.userId, user.password, user.configDir, 'second');
    const recover = await runMx(['crypto', 'recover', '--recovery-key-stdin', '--debug', '-p', 'second'], { ...opts, input: recoveryKey });
    expect(recover.code, describeResult(['crypto', 'recover'], recover)).toBe(0);
    const exported = await runMx(['crypto', 'export', path.join(user.configDir, 'k.txt'), '--passphrase-stdin', '--debug'], { ...opts, input: 'a passphrase of mine' });
    expect(exported.code, describeResult(['crypto', 'export'], exported)).toBe(0);
    const debugOutput = setup.stderr + recover.stderr + recover.stdout + exported.stderr + exported.stdout;
    expect(debugOutput).toMatch(/\[debug\] > PUT/);
    for (const secret of [recoveryKey, recoveryKey.replace(/ /g, ''), user.password, 'a passphrase of mine', ...secrets]) {
      expect(debugOutput).not.toContain(secret);
    }
    const exposed: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const full = path.join(dir, name);
        const mode = statSync(full).mode;
        if (mode & 0o077) exposed.push(`${full} ${(mode & 0o777).toString(8)}`);
        if (statSync(full).isDirectory()) walk(full);
      }
    };
    walk(user.configDir);
    expect(exposed).toEqual([]);
  });
});

describe('mx device', () => {
  it('lists devices (this one marked, cross-signing shown), renames one, deletes another with the password, and deletes this one only with --force (a logout)', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    await mxJson(['crypto', 'setup', '--password-stdin'], { ...opts, input: user.password });
    const otherDevice = await mxLogin(user.userId, user.password, user.configDir, 'second');
    const thisDevice = String(user.output.device_id);

    await mxJson(['device', 'rename', otherDevice, 'build box'], opts);
    const list = await mxJson<{ device_id: string; display_name: string | null; current: boolean; verified: boolean | null }[]>(['device', 'list'], opts);
    expect(list.find((d) => d.device_id === thisDevice)).toMatchObject({ current: true, verified: true });
    // A login on the machine that set up the account is verified with the recovery key mx kept.
    expect(list.find((d) => d.device_id === otherDevice)).toMatchObject({ current: false, verified: true, display_name: 'build box' });
    const table = await runMx(['device', 'list', '-o', 'table'], opts);
    expect(table.stdout).toMatch(new RegExp(`\\*\\t${thisDevice}\\t`));

    expectExit(await runMx(['device', 'delete', otherDevice, '--password-stdin'], { ...opts, input: 'not the password' }), 3);
    await mxJson(['device', 'delete', otherDevice, '--password-stdin'], { ...opts, input: user.password });
    expect((await mxJson<{ device_id: string }[]>(['device', 'list'], opts)).map((d) => d.device_id)).toEqual([thisDevice]);

    expectExit(await runMx(['device', 'delete', thisDevice, '--password-stdin'], { ...opts, input: user.password }), 2, /--force/);
    const gone = await mxJson<{ logged_out: boolean }>(['device', 'delete', thisDevice, '--force', '--password-stdin'], { ...opts, input: user.password });
    expect(gone.logged_out).toBe(true);
    expect((await mxJson<{ logged_in: boolean }>(['profile', 'show'], opts)).logged_in).toBe(false);
    expect(readdirSync(path.join(user.configDir, 'crypto')).length).toBeLessThanOrEqual(1); // the second profile's store only
  });
});
