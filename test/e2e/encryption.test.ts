// mx in encrypted rooms, with a real client no one here wrote (matrix-js-sdk with its Rust
// crypto, test/peer) on the other side, against the test Synapse.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPeer, type Peer } from '../peer/index.js';
import { mxInPeerRoom } from './encryption-helpers.js';
import { describeResult, homeserverUrl, mxJson, parseJsonLines, registerUser, runMx, type RegisteredUser } from './helpers.js';

interface Line {
  event_id: string;
  type: string;
  sender: string;
  room_id: string;
  content: Record<string, any>;
  encryption?: { decrypted: boolean; algorithm: string; sender_device?: string; verified?: boolean; reason?: string };
}


async function tailUntilIdle(user: RegisteredUser, extra: string[] = []): Promise<Line[]> {
  const r = await runMx(['tail', '--until-idle', ...extra], { configDir: user.configDir });
  expect(r.code, describeResult(['tail', '--until-idle'], r)).toBe(0);
  return parseJsonLines<Line>(r.stdout);
}

describe('a new device\'s keys', () => {
  it('register uploads device keys, one-time keys and a fallback key', async () => {
    const user = await registerUser();
    const deviceId = String(user.output.device_id);
    const query = await mxJson<{ device_keys: Record<string, Record<string, { algorithms: string[]; keys: Record<string, string> }>> }>(
      ['api', 'POST', '/v3/keys/query', '--data', JSON.stringify({ device_keys: { [user.userId]: [deviceId] } })],
      { configDir: user.configDir },
    );
    const device = query.device_keys[user.userId]![deviceId]!;
    expect(device.algorithms).toContain('m.megolm.v1.aes-sha2');
    expect(Object.keys(device.keys).sort()).toEqual([`curve25519:${deviceId}`, `ed25519:${deviceId}`]);
    const sync = await mxJson<{ device_one_time_keys_count: Record<string, number>; device_unused_fallback_key_types: string[] }>(
      ['api', 'GET', '/v3/sync?timeout=0&filter=' + encodeURIComponent('{"room":{"rooms":[]}}')],
      { configDir: user.configDir },
    );
    expect(sync.device_one_time_keys_count.signed_curve25519).toBeGreaterThanOrEqual(25);
    expect(sync.device_unused_fallback_key_types).toContain('signed_curve25519');
  });
});

describe('what an encrypted send loads', () => {
  // Node's built-ins come from Node's code cache only while V8's flags are Node's defaults
  // (src/v8-flags.ts): one loaded while mx's wasm flags are set compiles from source. The
  // preload tells, for each module Node loads, whether the flags were the defaults then
  // (v8.cachedDataVersionTag() hashes them).
  const RECORDER = `
const v8 = require('node:v8');
const defaults = v8.cachedDataVersionTag();
const setFlags = v8.setFlagsFromString;
const changes = [];
v8.setFlagsFromString = function (flag) {
  setFlags.call(this, flag);
  changes.push({ at: process.moduleLoadList.length, defaults: v8.cachedDataVersionTag() === defaults });
};
process.on('exit', () => {
  const loaded = process.moduleLoadList.map((name, i) => ({ name, defaults: changes.filter((c) => c.at <= i).at(-1)?.defaults ?? true }));
  require('node:fs').writeFileSync(process.env.MX_TEST_RECORD, JSON.stringify({ changes: changes.length, loaded }));
});`;

  it('loads every public Node built-in with Node\'s default V8 flags (from Node\'s code cache)', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const room = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted'], opts);
    const preload = path.join(user.configDir, 'record.cjs');
    const record = path.join(user.configDir, 'modules.json');
    writeFileSync(preload, RECORDER);
    const sent = await mxJson<{ encrypted?: boolean }>(['send', room.room_id, 'hello'], { ...opts, env: { NODE_OPTIONS: `--require ${preload}`, MX_TEST_RECORD: record } });
    expect(sent.encrypted).toBe(true);
    const { changes, loaded } = JSON.parse(readFileSync(record, 'utf8')) as { changes: number; loaded: { name: string; defaults: boolean }[] };
    const builtins = loaded.filter((m) => m.name.startsWith('NativeModule ') && !m.name.startsWith('NativeModule internal/'));
    // The record is real: mx set its flags, and the crypto store's built-ins were loaded.
    expect(changes).toBeGreaterThan(0);
    expect(builtins.map((m) => m.name)).toContain('NativeModule crypto');
    expect(builtins.filter((m) => !m.defaults).map((m) => m.name)).toEqual([]);
  });
});

describe('encrypted rooms with another client', () => {
  let peer: Peer;
  beforeAll(async () => {
    peer = await startPeer({ homeserverUrl: homeserverUrl(), deviceName: 'peer' });
  });
  afterAll(() => peer?.stop());

  it('mx joins the peer\'s encrypted room, tails and decrypts; the history decrypts in room messages', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    await tailUntilIdle(user); // the position: now
    const sent = [await peer.sendText(roomId, 'first secret'), await peer.sendHtml(roomId, 'second *secret*', 'second <em>secret</em>')];

    const lines = (await tailUntilIdle(user)).filter((l) => l.sender === peer.userId && l.room_id === roomId);
    expect(lines.map((l) => l.event_id)).toEqual(sent);
    expect(lines[0]).toMatchObject({
      type: 'm.room.message',
      content: { msgtype: 'm.text', body: 'first secret' },
      encryption: { decrypted: true, algorithm: 'm.megolm.v1.aes-sha2', sender_device: peer.deviceId, verified: false },
    });
    expect(lines[1]!.content).toMatchObject({ body: 'second *secret*', formatted_body: 'second <em>secret</em>' });

    const history = parseJsonLines<Line>((await runMx(['room', 'messages', roomId, '--all', '--dir', 'f'], { configDir: user.configDir })).stdout);
    expect(history.filter((e) => e.type === 'm.room.message').map((e) => e.content.body)).toEqual(['first secret', 'second *secret*']);
    expect(history.some((e) => e.type === 'm.room.encrypted')).toBe(false);
    // For people: the plaintext.
    const text = await runMx(['room', 'messages', roomId, '--limit', '2', '-o', 'text'], { configDir: user.configDir });
    expect(text.stdout).toContain('first secret');
  });

  it('mx sends text, html, --lines and a file; the peer decrypts each, and the file\'s bytes match', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    const plain = await mxJson<{ event_id: string; encrypted?: boolean }>(['send', roomId, 'hello from mx'], opts);
    expect(plain.encrypted).toBe(true);
    await mxJson(['send', roomId, '--html', '<b>bold</b> move', 'bold move'], opts);
    const lines = await runMx(['send', roomId, '--lines'], { ...opts, input: 'line one\nline two\nline three\n' });
    expect(lines.code, describeResult(['send', '--lines'], lines)).toBe(0);
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));
    const file = path.join(user.configDir, 'report.bin');
    writeFileSync(file, bytes);
    const sentFile = await mxJson<{ event_id: string; content_uri: string }>(['send', roomId, '--file', file, 'the report'], opts);

    const got = await peer.waitForDecryptedMessages(roomId, (m) => m.event_id === sentFile.event_id, 20_000);
    const all = (await peer.decryptedMessages(roomId)).filter((m) => m.sender === user.userId);
    expect(all.map((m) => m.content.body)).toEqual(['hello from mx', 'bold move', 'line one', 'line two', 'line three', 'the report']);
    expect(all[1]!.content).toMatchObject({ format: 'org.matrix.custom.html', formatted_body: '<b>bold</b> move' });
    expect(all.every((m) => m.sender_device === String(user.output.device_id))).toBe(true);
    const fileMessage = got[0]!;
    expect(fileMessage.content).toMatchObject({ msgtype: 'm.file', body: 'the report', filename: 'report.bin' });
    expect(fileMessage.content.url).toBeUndefined();
    expect(fileMessage.content.file.url).toBe(sentFile.content_uri);
    expect(Buffer.from(await peer.downloadAndDecryptAttachment(fileMessage.content as any)).equals(bytes)).toBe(true);

    // What the server holds: ciphertext only.
    const raw = await mxJson<{ chunk: { type: string; sender: string; content: Record<string, unknown> }[] }>(
      ['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`], opts,
    );
    const mine = raw.chunk.filter((e) => e.sender === user.userId && e.type !== 'm.room.member');
    expect(mine).toHaveLength(6);
    expect(mine.every((e) => e.type === 'm.room.encrypted' && e.content.algorithm === 'm.megolm.v1.aes-sha2')).toBe(true);
    expect(JSON.stringify(mine)).not.toContain('hello from mx');
  });

  it('a second mx device of the user, and a device the peer adds later, get the keys of new messages', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    // The same user on a second device (its own profile, its own store).
    const second = await runMx(['login', user.user, '--password-stdin', '--homeserver', homeserverUrl(), '-p', 'second'], { configDir: user.configDir, input: user.password });
    expect(second.code, describeResult(['login'], second)).toBe(0);
    const secondDevice = JSON.parse(second.stdout).device_id as string;
    await peer.waitForDevice(user.userId, secondDevice);
    // Both devices' stream positions: now.
    for (const profile of [user.profile, 'second']) await tailUntilIdle(user, ['-p', profile]);

    const later = await peer.startAnotherDevice({ deviceName: 'peer, later' });
    try {
      await later.waitForRoom(roomId, { encrypted: true });
      const fromMx = await mxJson<{ event_id: string }>(['send', roomId, 'for every device'], { configDir: user.configDir });
      const atLater = await later.waitForDecryptedMessages(roomId, (m) => m.event_id === fromMx.event_id, 20_000);
      expect(atLater[0]!.content.body).toBe('for every device');

      const fromPeer = await peer.sendText(roomId, 'to both mx devices');
      for (const profile of [user.profile, 'second']) {
        const lines = await tailUntilIdle(user, ['-p', profile]);
        const got = lines.find((l) => l.event_id === fromPeer);
        expect(got?.content.body, `profile ${profile}`).toBe('to both mx devices');
      }
    } finally {
      await later.stop();
    }
  });

  it('an undecryptable event comes out with a reason, never dropped; other events still decrypt', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    await tailUntilIdle(user);
    const put = (type: string, content: object, txn: string) =>
      runMx(['api', 'PUT', `/v3/rooms/${encodeURIComponent(roomId)}/send/${type}/${txn}`, '--data', JSON.stringify(content)], opts);
    // Malformed: no ciphertext, and garbage from a session nobody has.
    expect((await put('m.room.encrypted', { algorithm: 'm.megolm.v1.aes-sha2' }, 'bad1')).code).toBe(0);
    // A well-formed Megolm ciphertext (the peer's), claimed for a session nobody shared.
    const real = await peer.sendText(roomId, 'a real one');
    const realEvent = await mxJson<{ content: Record<string, unknown> }>(['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(real)}`], opts);
    expect((await put('m.room.encrypted', { ...realEvent.content, session_id: 'nosuchsession' }, 'bad2')).code).toBe(0);
    expect((await put('m.room.encrypted', { algorithm: 'm.olm.v1.curve25519-aes-sha2', ciphertext: {} }, 'bad3')).code).toBe(0);
    // An Olm message meant for another device, to mx's device.
    const deviceId = String(user.output.device_id);
    const toDevice = { messages: { [user.userId]: { [deviceId]: { algorithm: 'm.olm.v1.curve25519-aes-sha2', sender_key: 'A'.repeat(43), ciphertext: { ['B'.repeat(43)]: { type: 0, body: 'garbage' } } } } } };
    expect((await runMx(['api', 'PUT', '/v3/sendToDevice/m.room.encrypted/olm1', '--data', JSON.stringify(toDevice)], opts)).code).toBe(0);
    const good = await peer.sendText(roomId, 'still readable');

    const lines = (await tailUntilIdle(user)).filter((l) => l.room_id === roomId && l.type !== 'm.room.member');
    const bad = lines.filter((l) => l.type === 'm.room.encrypted');
    expect(bad).toHaveLength(3);
    expect(bad.map((l) => l.encryption?.decrypted)).toEqual([false, false, false]);
    expect(bad.map((l) => l.encryption?.reason), JSON.stringify(bad.map((l) => l.encryption))).toEqual(['malformed', 'missing_key', 'unsupported_algorithm']);
    expect(lines.find((l) => l.event_id === good)?.content.body).toBe('still readable');
    expect(lines.find((l) => l.event_id === real)?.content.body).toBe('a real one');
    const text = await runMx(['room', 'messages', roomId, '--limit', '4', '-o', 'text'], opts);
    expect(text.stdout).toMatch(/\[unable to decrypt: missing_key\]/);
  });

  it('a peer\'s plaintext nested deeper than mx reads, or an encrypted event without content, ends neither a tail nor a listing', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const opts = { configDir: user.configDir };
    await tailUntilIdle(user);
    let deep: unknown = 'bottom';
    for (let i = 0; i < 1000; i++) deep = [deep];
    const nested = await peer.sendEvent(roomId, 'm.room.message', { msgtype: 'm.text', body: 'deep', deep });
    expect((await runMx(['api', 'PUT', `/v3/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/nocontent`, '--data', '{}'], opts)).code).toBe(0);
    const after = await peer.sendText(roomId, 'after the deep one');
    const lines = (await tailUntilIdle(user)).filter((l) => l.room_id === roomId && l.type !== 'm.room.member');
    const shown = lines.find((l) => l.event_id === nested);
    expect(shown?.encryption?.decrypted, JSON.stringify(shown?.encryption)).toBe(false);
    expect(lines.filter((l) => l.type === 'm.room.encrypted').map((l) => l.encryption?.reason)).toContain('malformed');
    expect(lines.find((l) => l.event_id === after)?.content.body).toBe('after the deep one');
    for (const format of ['text', 'json']) {
      const listed = await runMx(['room', 'messages', roomId, '--limit', '5', '-o', format], opts);
      expect(listed.code, describeResult(listed.args, listed)).toBe(0);
      expect(listed.stdout).toContain('after the deep one');
    }
  });

  it('room create --encrypted (and --direct, unless --no-encrypted) makes encrypted rooms the peer reads', async () => {
    const user = await registerUser();
    const opts = { configDir: user.configDir };
    const encryptionOf = async (roomId: string) =>
      runMx(['api', 'GET', `/v3/rooms/${encodeURIComponent(roomId)}/state/m.room.encryption/`], opts);
    const made = await mxJson<{ room_id: string }>(['room', 'create', '--encrypted', '--invite', peer.userId], opts);
    expect(JSON.parse((await encryptionOf(made.room_id)).stdout)).toEqual({ algorithm: 'm.megolm.v1.aes-sha2' });
    const direct = await mxJson<{ room_id: string }>(['room', 'create', '--direct', '--invite', peer.userId], opts);
    expect(JSON.parse((await encryptionOf(direct.room_id)).stdout).algorithm).toBe('m.megolm.v1.aes-sha2');
    const plainDirect = await mxJson<{ room_id: string }>(['room', 'create', '--direct', '--no-encrypted', '--invite', peer.userId], opts);
    expect((await encryptionOf(plainDirect.room_id)).code).toBe(5);

    await peer.joinRoom(made.room_id);
    const sent = await mxJson<{ event_id: string; encrypted?: boolean }>(['send', made.room_id, 'made by mx'], opts);
    expect(sent.encrypted).toBe(true);
    const got = await peer.waitForDecryptedMessages(made.room_id, (m) => m.event_id === sent.event_id, 20_000);
    expect(got[0]!.content.body).toBe('made by mx');
  });

  it('MX_ACCESS_TOKEN alone has no keys: sends are refused (exit 9), events stay encrypted with the reason', async () => {
    const { user, roomId } = await mxInPeerRoom(peer);
    const creds = JSON.parse((await runMx(['profile', 'show', '--show-token'], { configDir: user.configDir })).stdout) as { access_token: string };
    const env = { MX_HOMESERVER: homeserverUrl(), MX_ACCESS_TOKEN: creds.access_token };
    const refused = await runMx(['send', roomId, 'no'], { configDir: user.configDir, env });
    expect(refused.code, describeResult(['send'], refused)).toBe(9);
    expect(JSON.parse(refused.stderr).error.message).toMatch(/encrypted room and a session from MX_ACCESS_TOKEN has no encryption keys/);
    await peer.sendText(roomId, 'for the profile only');
    const history = parseJsonLines<Line>((await runMx(['room', 'messages', roomId, '--limit', '1'], { configDir: user.configDir, env })).stdout);
    expect(history[0]).toMatchObject({ type: 'm.room.encrypted', encryption: { decrypted: false, reason: 'no_crypto_store' } });
  });
});
