// A device trusted from its first command: Element (matrix-js-sdk in OnlySignedDevicesIsolationMode,
// with cross-signing set up, as Element is today) shares room keys only with devices their owner
// cross-signed and refuses messages from the others. `mx register` alone must be enough for both
// directions to work; `mx login` into an Element user's account asks to be verified, and with the
// recovery key is verified in the same step.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Peer, StartPeerOptions } from '../peer/index.js';
import { peersStoppedAfterEach } from './encryption-helpers.js';
import * as helpers from './helpers.js';
import { describeResult, homeserverUrl, parseJsonLines, randomPassword, registerUser, tempConfigDir, uniqueUser, waitUntil } from './helpers.js';

// mx as a user runs it: the key-sharing default (the harness shares with every device otherwise).
const AS_A_USER = { MX_SHARE_KEYS_WITH: undefined };
const runMx: typeof helpers.runMx = (args, opts = {}) => helpers.runMx(args, { ...opts, env: { ...AS_A_USER, ...opts.env } });
const mxJson: typeof helpers.mxJson = (args, opts = {}) => helpers.mxJson(args, { ...opts, env: { ...AS_A_USER, ...opts.env } });

interface Line {
  type: string;
  content: Record<string, any>;
  encryption?: { decrypted: boolean; reason?: string; verified?: boolean; identity?: string };
}

const peerOf = peersStoppedAfterEach();
async function element(opts: Partial<StartPeerOptions> = {}): Promise<Peer> {
  return peerOf({ homeserverUrl: homeserverUrl(), deviceName: 'element', asElement: true, ...opts });
}

/** The room's messages as mx decrypts them (JSON lines). */
async function mxMessages(configDir: string, roomId: string, profile?: string): Promise<Line[]> {
  const args = ['room', 'messages', roomId, '--limit', '50', ...(profile ? ['-p', profile] : [])];
  const r = await runMx(args, { configDir });
  expect(r.code, describeResult(args, r)).toBe(0);
  return parseJsonLines<Line>(r.stdout).filter((l) => l.type === 'm.room.message');
}

/** mx sends `body`; the peer must decrypt it, from a device its owner cross-signed (no shield). */
async function elementReads(peer: Peer, configDir: string, roomId: string, body: string, profile?: string): Promise<void> {
  const args = ['send', roomId, body, ...(profile ? ['-p', profile] : [])];
  const sent = await runMx(args, { configDir });
  expect(sent.code, describeResult(args, sent)).toBe(0);
  expect(sent.stderr, 'a send from a verified device says nothing about trust').not.toMatch(/not verified/);
  const [message] = await peer.waitForDecryptedMessages(roomId, (m) => m.content.body === body, 15_000);
  expect(message!.shield?.colour).toBe('none');
}

describe('a new account of mx, with nothing but mx register', () => {
  it('talks with Element both ways, in a room Element made and in one mx made; its key stays on the machine, out of every output', async () => {
    const peer = await element();
    const user = await registerUser({ cryptoSetup: true, user: uniqueUser('fresh'), env: AS_A_USER });
    expect(user.output.encryption).toMatchObject({ cross_signed: true, set_up: { backup_version: expect.any(String) } });
    const status = await mxJson<{ cross_signed: boolean; trust: string }>(['crypto', 'status'], { configDir: user.configDir });
    expect(status.cross_signed).toBe(true);
    expect(status.trust).toMatch(/cross-signed by its owner: other users' clients \(Element\) share room keys with it/);

    // A room Element made.
    const elementsRoom = await peer.createEncryptedRoom({ invite: [user.userId] });
    expect((await runMx(['join', elementsRoom], { configDir: user.configDir })).code).toBe(0);
    await peer.waitForMembership(elementsRoom, user.userId, 'join');
    await peer.waitForDevice(user.userId, String(user.output.device_id));
    await peer.sendText(elementsRoom, 'from element');
    const read = await mxMessages(user.configDir, elementsRoom);
    expect(read.map((l) => l.content.body)).toContain('from element');
    expect(read.find((l) => l.content.body === 'from element')!.encryption).toMatchObject({ decrypted: true, verified: true });
    await elementReads(peer, user.configDir, elementsRoom, 'from mx, in element\'s room');

    // A room mx made.
    const made = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted', '--invite', peer.userId], { configDir: user.configDir });
    await peer.joinRoom(made.room_id);
    await elementReads(peer, user.configDir, made.room_id, 'from mx, in mx\'s room');
    await peer.sendText(made.room_id, 'element answers');
    expect((await mxMessages(user.configDir, made.room_id)).map((l) => l.content.body)).toContain('element answers');
  });

  it('never shows its recovery key unasked: not in register\'s output (with --debug), nor in a file others can read', async () => {
    const configDir = tempConfigDir();
    const name = uniqueUser('secret');
    const password = randomPassword();
    const args = ['register', name, '--password-stdin', '--homeserver', homeserverUrl(), '--debug'];
    const reg = await runMx(args, { configDir, input: password });
    expect(reg.code, describeResult(args, reg)).toBe(0);
    expect(reg.stderr).toMatch(/mx crypto recovery-key -p default shows it/);
    const shown = await mxJson<{ user_id: string; recovery_key: string; key_id: string }>(['crypto', 'recovery-key'], { configDir });
    expect(shown.recovery_key).toMatch(/^(\w{4} ){11}\w{4}$/);
    const compact = shown.recovery_key.replace(/ /g, '');
    for (const text of [reg.stdout, reg.stderr]) {
      expect(text).not.toContain(shown.recovery_key);
      expect(text).not.toContain(compact);
    }
    // Only the kept file holds it, 0600 in a 0700 folder.
    const holders: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir)) {
        const full = path.join(dir, entry);
        const st = statSync(full);
        if (st.isDirectory()) walk(full);
        else if (readFileSync(full, 'latin1').includes(shown.recovery_key)) holders.push(full);
      }
    };
    walk(configDir);
    expect(holders).toHaveLength(1);
    expect(statSync(holders[0]!).mode & 0o077).toBe(0);
    expect(statSync(path.dirname(holders[0]!)).mode & 0o077).toBe(0);

    // And it is the account's key: a new machine recovers with it, in the login itself.
    const elsewhere = tempConfigDir();
    const keyFile = path.join(elsewhere, 'key.txt');
    writeFileSync(keyFile, `${shown.recovery_key}\n`, { mode: 0o600 });
    const login = await mxJson<{ encryption: Record<string, any> }>(
      ['login', shown.user_id, '--password-stdin', '--homeserver', homeserverUrl(), '--recovery-key-file', keyFile],
      { configDir: elsewhere, input: password },
    );
    expect(login.encryption).toMatchObject({ cross_signed: true, recovered: { with: '--recovery-key-file' } });
  });

  it('a guest account, which the server does not let set up cross-signing, still registers, and says what was not done', async () => {
    const configDir = tempConfigDir();
    const r = await runMx(['register', '--guest', '--homeserver', homeserverUrl()], { configDir });
    expect(r.code, describeResult(['register', '--guest'], r)).toBe(0);
    expect(JSON.parse(r.stdout).encryption).toMatchObject({ cross_signed: false, advice: expect.stringMatching(/M_GUEST_ACCESS_FORBIDDEN.*mx crypto setup -p default/) });
    expect(r.stderr).toMatch(/could not set up cross-signing and key backup for the new account/);
  });

  it('--no-crypto-setup leaves the account without cross-signing, and mx says what that means', async () => {
    const user = await registerUser({ cryptoSetup: false });
    expect(user.output.encryption).toBeUndefined();
    const status = await mxJson<{ cross_signed: boolean; trust: string }>(['crypto', 'status'], { configDir: user.configDir });
    expect(status.cross_signed).toBe(false);
    expect(status.trust).toMatch(/no cross-signing.*Element users' clients will not share room keys with it.*mx crypto setup -p /);
  });
});

describe('mx login into an account Element set up', () => {
  it('without the recovery key: logged in, told once that Element will not talk to it and what fixes it; with it: verified in the same step, both ways', async () => {
    const peer = await element();
    expect(peer.recoveryKey).toBeTruthy();
    const roomId = await peer.createEncryptedRoom({ name: 'notes to self' });

    const configDir = tempConfigDir();
    const args = ['login', peer.userId, '--password-stdin', '--homeserver', homeserverUrl(), '-p', 'laptop'];
    const plain = await runMx(args, { configDir, input: peer.password! });
    expect(plain.code, describeResult(args, plain)).toBe(0);
    expect(JSON.parse(plain.stdout).encryption).toMatchObject({ cross_signed: false });
    const notices = parseJsonLines<{ notice?: { message: string; event?: string } }>(plain.stderr).filter((l) => l.notice?.event === 'device_not_verified');
    expect(notices).toHaveLength(1);
    expect(notices[0]!.notice!.message).toMatch(/not verified.*Element users' clients will not share room keys with it.*mx crypto recover -p laptop/);

    // By default the unverified device sends nothing Element would refuse, and says why.
    const refused = await runMx(['send', roomId, 'unverified says hi', '-p', 'laptop'], { configDir });
    expect(refused.code, describeResult(['send'], refused)).toBe(9);
    expect(refused.stderr).toMatch(/mx crypto recover/);
    // Told to share anyway, it sends, says once that it is not verified, and Element refuses to read it.
    const sent = await runMx(['send', roomId, 'unverified says hi', '-p', 'laptop', '--share-keys-with', 'all'], { configDir });
    expect(sent.code, describeResult(['send'], sent)).toBe(0);
    expect(sent.stderr.match(/this device is not verified/g)).toHaveLength(1);
    const eventId = JSON.parse(sent.stdout).event_id as string;
    await waitUntil(
      () => peer.seenEvents(roomId).some((e) => e.event_id === eventId && e.status === 'undecryptable' && /UNSIGNED_SENDER_DEVICE/.test(e.failure ?? '')),
      'Element to refuse the message of a device its owner did not cross-sign',
      15_000,
    );

    // With the key, the next login is verified in the same step, and talks with Element both ways.
    const desk = tempConfigDir();
    const verified = await runMx(['login', peer.userId, '--password-stdin', '--homeserver', homeserverUrl()], {
      configDir: desk, input: peer.password!, env: { MX_RECOVERY_KEY: peer.recoveryKey! },
    });
    expect(verified.code, describeResult(['login'], verified)).toBe(0);
    const answer = JSON.parse(verified.stdout);
    expect(answer.encryption).toMatchObject({ cross_signed: true, recovered: { with: 'MX_RECOVERY_KEY' } });
    expect(verified.stderr).not.toMatch(/not verified/);
    expect(await peer.deviceSignedByOwner(peer.userId, answer.device_id)).toBe(true);
    await peer.waitForDevice(peer.userId, answer.device_id);
    await elementReads(peer, desk, roomId, 'verified says hi');
    await peer.sendText(roomId, 'element to its own verified device');
    const read = await mxMessages(desk, roomId);
    expect(read.find((l) => l.content.body === 'element to its own verified device')?.encryption).toMatchObject({ decrypted: true, verified: true });
  });
});
